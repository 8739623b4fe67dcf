"""The worm's parameters fitted to the signal-propagation atlas, as shipped package data.

``neurophantom/data/celegans_fitted.json`` is written by ``neurophantom atlas fit
--write-package-data`` (see :mod:`neurophantom.identify.atlas`). Its ``header`` says which
data it was fitted on (package, file, strain), which stimulated neurons were held out,
the fit's settings, and the held-out scores it reached; ``parameters`` holds

- ``receptor_scale``: factor on every synapse's density of each receptor type;
- ``gap_scale``: factor on the connexin count of each gap-junction pair class;
- ``channel_scale``: per membrane class, a factor on each channel type's density;
- ``neuron_channel_scale``: per channel type, a factor per neuron name (the per-neuron
  parameters the fit learns under a prior);
- ``biophysics_overrides``: dotted Biophysics overrides (receptor decay times, the graded
  release midpoint), written into the Circuit header's ``biophysics``.

Applying the factors to the densities of the guessed worm gives exactly the model the fit
evaluated (``tests/atlas`` rebuilds it and compares the arrays).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from .._errors import NeurophantomError

FORMAT = "neurophantom-celegans-fit"
VERSION = 1
_KEYS = ("receptor_scale", "gap_scale", "channel_scale", "neuron_channel_scale", "biophysics_overrides")


def packaged_path() -> Path:
    return Path(str(resources.files("neurophantom") / "data" / "celegans_fitted.json"))


def load(path: str | Path | None = None) -> dict:
    """A fitted-parameter file (default: the packaged one), validated."""
    p = Path(path) if path is not None else packaged_path()
    if not p.is_file():
        raise NeurophantomError(f"no fitted C. elegans parameters at {p} (run `neurophantom atlas fit --write-package-data`, "
                                "or build with parameters=guessed)")
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise NeurophantomError(f"{p} is not a fitted-parameter file ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
        raise NeurophantomError(f"{p} is not a {FORMAT} v{VERSION} file")
    params = d.get("parameters")
    if not isinstance(params, dict) or set(params) != set(_KEYS) or "header" not in d:
        raise NeurophantomError(f"{p}: needs 'header' and parameters {', '.join(_KEYS)}")
    for k in ("receptor_scale", "gap_scale"):
        _positive(p, k, params[k])
    for k in ("channel_scale", "neuron_channel_scale"):
        for sub in params[k].values():
            _positive(p, k, sub)
    return d


def _positive(p, key, mapping) -> None:
    for name, v in mapping.items():
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise NeurophantomError(f"{p}: {key}[{name!r}] must be a positive number, got {v!r}")


def apply(fitted: dict, names, classes, neurons: dict, synapses: dict, gj: dict, gap_classes, bio):
    """Scale the tables in place by the fitted factors; return the Biophysics with overrides."""
    p = fitted["parameters"]
    for r, f in p["receptor_scale"].items():
        if r in synapses:
            synapses[r] = synapses[r] * f
    gscale = np.array([p["gap_scale"].get(c, 1.0) for c in gap_classes])
    gj["connexin_count"] = gj["connexin_count"] * gscale
    for ch in list(neurons):
        cls_f = np.array([p["channel_scale"].get(c, {}).get(ch, 1.0) for c in classes]) if _is_channel(ch) else None
        if cls_f is None:
            continue
        per = p["neuron_channel_scale"].get(ch, {})
        neu_f = np.array([per.get(n, 1.0) for n in names])
        neurons[ch] = neurons[ch] * cls_f * neu_f
    return bio.override(p["biophysics_overrides"])


def _is_channel(col: str) -> bool:
    from .celegans_cells import CHANNEL_TYPES

    return col in CHANNEL_TYPES
