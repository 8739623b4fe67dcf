"""``neurophantom atlas``: fit the worm to the signal-propagation atlas and score it on
held-out stimulated neurons (``fit``), or k-fold cross-validate by stimulated neuron (``cv``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import console
from ._common import out as stdout

atlas_app = typer.Typer(help="Fit the C. elegans worm to the Randi et al. 2023 atlas; held-out scores.", no_args_is_help=True)
app.add_typer(atlas_app, name="atlas")


def _names(arg: Optional[str]) -> Optional[tuple[str, ...]]:
    """``AVAL,RIML`` or ``@file`` (one name a line) -> names; None stays None."""
    if arg is None:
        return None
    if arg.startswith("@"):
        p = Path(arg[1:])
        if not p.is_file():
            raise NeurophantomError(f"holdout file not found: {p}")
        items = [x.strip() for x in p.read_text().splitlines() if x.strip() and not x.startswith("#")]
    else:
        items = [x.strip() for x in arg.split(",") if x.strip()]
    if not items:
        raise NeurophantomError("empty neuron list")
    return tuple(items)


def _config(holdout, stimulated, iterations, extrasynaptic, **kw):
    from ..identify.atlas import AtlasFitConfig

    if iterations < 1:
        raise NeurophantomError(f"--iterations must be >= 1, got {iterations}")
    return AtlasFitConfig(holdout=_names(holdout), stimulated=_names(stimulated), iterations=iterations, extrasynaptic=extrasynaptic, **kw)


def _fit_and_score(cfg, control: bool, bootstrap: int):
    from ..identify.atlas import fit_atlas
    from ..sources.celegans_atlas import signal_propagation
    from ..validate.atlas import evaluate

    bar = lambda name: (lambda i, loss: console.print(f"[dim]{name} iteration {i}: loss {loss:.5f}[/dim]") if i % 25 == 0 else None)  # noqa: E731
    fit = fit_atlas(cfg, progress=bar("fit"))
    shuffled = fit_atlas(cfg.model_copy(update={"connectome": "shuffled"}), progress=bar("shuffled")) if control else None
    return fit, evaluate(signal_propagation(cfg.strain), fit, shuffled=shuffled, bootstrap=bootstrap)


def _clean(x):
    """JSON-safe: NaN and infinities become null (strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not (x == x and abs(x) != float("inf")):
        return None
    return x


def _summary(res: dict) -> str:
    h = res["heldout"]
    b = res["baselines"]["two_step"]
    return (f"held-out ({h['n_stimulated']} stimulated, {h['n_pairs']} pairs): spearman {h['spearman']:.3f} "
            f"(two-step {b['spearman']:.3f}), auroc {h['auroc']:.3f} ({b['auroc']:.3f}), sign {h['sign_agreement']:.3f} "
            f"(always positive {h['always_positive']:.3f}), kernel {h['kernel_correlation']:.3f}, "
            f"reproducibility {h['reproducibility_fraction']:.2f}")


@atlas_app.command("fit")
def fit_cmd(
    out: Path = typer.Option(..., "--out", help="output folder: atlas_fit.json (scores, baselines) + fitted_parameters.json"),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="held-out stimulated neurons: AVAL,RIML,... or @FILE (default: the fixed 20% split)"),
    stimulated: Optional[str] = typer.Option(None, "--stimulated", help="use only these stimulated neurons (names or @FILE)"),
    iterations: int = typer.Option(300, "--iterations", help="Adam iterations"),
    control: bool = typer.Option(True, "--control/--no-control", help="also fit the shuffled-connectome control"),
    extrasynaptic: bool = typer.Option(False, "--extrasynaptic/--no-extrasynaptic", help="include the slow extrasynaptic pathway"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples over held-out stimulated neurons"),
    write_package_data: bool = typer.Option(False, "--write-package-data", help="also install the fit as neurophantom/data/celegans_fitted.json"),
) -> None:
    """Fit on the training stimulated neurons, score the held-out ones."""
    from ..identify.atlas import fitted_parameters
    from ..io import atomic_dir, atomic_write_text
    from ..sources.celegans_fitted import packaged_path

    cfg = _config(holdout, stimulated, iterations, extrasynaptic)
    fit, res = _fit_and_score(cfg, control, bootstrap)
    doc = fitted_parameters(fit, scores={"heldout": res["heldout"], "two_step": res["baselines"]["two_step"]})
    with atomic_dir(out) as tmp:
        (tmp / "atlas_fit.json").write_text(json.dumps(_clean({"atlas": res, "fit": doc["header"], "seconds": fit.seconds}), indent=1))
        (tmp / "fitted_parameters.json").write_text(json.dumps(_clean(doc), indent=1))
    if write_package_data:
        atomic_write_text(packaged_path(), json.dumps(_clean(doc), indent=1))
    stdout.print(_summary(res), soft_wrap=True)


@atlas_app.command("cv")
def cv_cmd(
    out: Path = typer.Option(..., "--out", help="output folder: cv.json"),
    folds: int = typer.Option(5, "--folds", help="number of folds by stimulated neuron"),
    stimulated: Optional[str] = typer.Option(None, "--stimulated", help="use only these stimulated neurons"),
    iterations: int = typer.Option(300, "--iterations"),
    control: bool = typer.Option(False, "--control/--no-control", help="fit the shuffled control in every fold"),
    bootstrap: int = typer.Option(200, "--bootstrap"),
) -> None:
    """k-fold cross-validation by stimulated neuron: every stimulated neuron held out once."""
    from ..identify.atlas import kfold_holdouts
    from ..io import atomic_dir
    from ..sources.celegans_atlas import signal_propagation

    stim = _names(stimulated) or signal_propagation("wt").stimulated
    results = []
    for k, hold in enumerate(kfold_holdouts(stim, folds)):
        cfg = _config(",".join(hold), ",".join(stim), iterations, False)
        _, res = _fit_and_score(cfg, control, bootstrap)
        results.append(res)
        stdout.print(f"fold {k + 1}/{folds}: " + _summary(res), soft_wrap=True)
    import numpy as np

    from ..validate.atlas import KEYS

    # nanmean: a fold without a defined value (e.g. two-step's kernel correlation) is skipped.
    mean_of = lambda vals: float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")  # noqa: E731
    mean = {key: mean_of(np.array([r["heldout"][key] for r in results], float)) for key in KEYS}
    base = {key: mean_of(np.array([r["baselines"]["two_step"][key] for r in results], float)) for key in KEYS}
    with atomic_dir(out) as tmp:
        (tmp / "cv.json").write_text(json.dumps(_clean({"folds": results, "mean": mean, "two_step_mean": base}), indent=1))
    stdout.print(f"mean over {folds} folds: " + ", ".join(f"{k} {v:.3f} (two-step {base[k]:.3f})" for k, v in mean.items()), soft_wrap=True)
