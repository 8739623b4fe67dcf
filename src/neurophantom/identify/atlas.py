"""Fit the worm to the signal-propagation atlas, holding out stimulated neurons.

:func:`fit_atlas` learns the shared parameters of :mod:`.atlas_model` (per receptor type,
per gap-junction pair class, per membrane class and channel; the graded release midpoint;
the stimulus depolarisation and the readout gain) and one per-neuron parameter under a
prior (each neuron's calcium-channel density) from the measured responses to the
*training* stimulated neurons only: a weighted least-squares fit of the predicted mean
dF/F to the atlas's, each residual standardised by the pair's standard error (pooled
trial variance over its trial count; ``loss="huber"`` makes it a pseudo-Huber loss, which
held out worse in our runs), plus Gaussian log-priors, by Adam (optax) with the gradients
of the engine's steady state; the parameters with the lowest training loss are kept. The held-out stimulated neurons' responses are
never read; :func:`predict_atlas` then predicts every stimulated neuron's responses,
and :mod:`neurophantom.validate.atlas` scores the held-out ones.

The split is a parameter. ``holdout=None`` takes the default: a fixed 20% of the
stimulated neurons, the first ``ceil(0.2 n)`` of the sorted names permuted by
``numpy.random.default_rng(2023)`` (:func:`default_holdout`); any list of names may be
given instead, and :func:`kfold_holdouts` gives k folds by stimulated neuron.

Example
-------
>>> from neurophantom.identify.atlas import AtlasFitConfig, fit_atlas  # doctest: +SKIP
>>> fit = fit_atlas(AtlasFitConfig(holdout=("AVAL", "RIML", "AIBR")))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Literal, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from ..biophysics.model import build_model
from ..types import Circuit
from .atlas_model import ParamMap, responses, rest_voltage, zero_theta

DEFAULT_SPLIT_SEED = 2023
DEFAULT_HOLDOUT_FRACTION = 0.2


class AtlasFitConfig(BaseModel):
    """Options of :func:`fit_atlas` (names are cect neuron names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holdout: Optional[tuple[str, ...]] = Field(None, description="stimulated neurons held out (default: the fixed 20% split)")
    stimulated: Optional[tuple[str, ...]] = Field(None, description="use only these stimulated neurons (train + held out); default all")
    strain: Literal["wt", "unc31"] = "wt"
    iterations: int = Field(300, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    loss: Literal["squared", "huber"] = Field("squared", description="squared standardised residuals, or pseudo-Huber (delta 1 standard error)")
    prior_sd: float = Field(3.0, gt=0, description="prior sd of the shared log-factors")
    prior_sd_neuron: float = Field(0.5, gt=0, description="prior sd of each neuron's log calcium-channel factor")
    prior_sd_vhalf_mV: float = Field(5.0, gt=0)
    connectome: Literal["data", "shuffled"] = Field("data", description="'shuffled': the degree-preserving shuffled control")
    shuffle_seed: int = Field(0, ge=0)
    extrasynaptic: bool = Field(False, description="include the slow extrasynaptic pathway in the fitted worm")


@dataclasses.dataclass(frozen=True, eq=False)
class AtlasFit:
    """A fitted worm: ``theta`` (numpy), what it was fitted on, and its predictions.

    ``predicted[k, s]`` is the predicted mean dF/F of atlas neuron ``k`` when stimulated
    neuron ``stimulated[s]`` is stimulated (NaN for atlas neurons not in the circuit).
    """

    theta: dict
    config: AtlasFitConfig
    circuit: Circuit
    atlas_names: tuple[str, ...]
    stimulated: tuple[str, ...]
    holdout: tuple[str, ...]
    predicted: np.ndarray
    loss_history: tuple[float, ...]
    seconds: float
    header: dict


def default_holdout(stimulated, fraction: float = DEFAULT_HOLDOUT_FRACTION, seed: int = DEFAULT_SPLIT_SEED) -> tuple[str, ...]:
    """The default split: ``ceil(fraction n)`` of the sorted names after a seeded permutation."""
    names = sorted(stimulated)
    perm = np.random.default_rng(seed).permutation(len(names))
    k = math.ceil(fraction * len(names))
    return tuple(sorted(names[i] for i in perm[:k]))


def kfold_holdouts(stimulated, k: int = 5, seed: int = DEFAULT_SPLIT_SEED) -> list[tuple[str, ...]]:
    """``k`` disjoint held-out sets covering every stimulated neuron once."""
    if k < 2:
        raise NeurophantomError(f"k-fold needs k >= 2, got {k}")
    names = sorted(stimulated)
    perm = np.random.default_rng(seed).permutation(len(names))
    return [tuple(sorted(names[i] for i in perm[f::k])) for f in range(k)]


def worm_circuit(config: AtlasFitConfig) -> Circuit:
    """The guessed, data-grounded worm the fit starts from (or its shuffled control)."""
    from ..sources.celegans import Config, build

    c = build(Config(parameters="guessed", extrasynaptic=config.extrasynaptic))
    return shuffled(c, config.shuffle_seed) if config.connectome == "shuffled" else c


def shuffled(circuit: Circuit, seed: int) -> Circuit:
    """Degree-preserving control: postsynaptic partners permuted across chemical synapse
    rows (every neuron keeps its in- and out-degree and each row its receptors), and the
    second partner of gap junctions likewise; self-connections are re-drawn."""
    rng = np.random.default_rng(seed)

    def permute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        b = b[rng.permutation(len(b))]
        for _ in range(100):
            bad = np.where(a == b)[0]
            if not len(bad):
                return b
            swap = rng.integers(0, len(b), size=len(bad))
            b[bad], b[swap] = b[swap], b[bad].copy()
        raise NeurophantomError("could not shuffle the connectome without self-connections")

    syn = circuit.synapses.copy()
    syn["post"] = permute(syn["pre"].to_numpy(), syn["post"].to_numpy())
    gj = circuit.gap_junctions.copy()
    gj["b"] = permute(gj["a"].to_numpy(), gj["b"].to_numpy())
    return circuit.replace(synapses=syn, gap_junctions=gj)


def param_map(circuit: Circuit) -> ParamMap:
    from ..sources.celegans_cells import CLASSES, PAIR_CLASSES, pair_class

    model = build_model(circuit)
    meta = circuit.provenance.metadata
    classes = meta["membrane_classes"]
    ctype = dict(zip(circuit.neurons["id"], circuit.neurons["cell_type"]))
    gj = circuit.gap_junctions
    gc = [PAIR_CLASSES.index(pair_class(ctype[a], ctype[b])) for a, b in zip(gj["a"], gj["b"])]
    nc = [CLASSES.index(classes[n]) for n in circuit.neurons["name"]]
    ch = tuple(model.meta.channels)
    return ParamMap(model, jnp.asarray(gc, jnp.int32), jnp.asarray(nc, jnp.int32), ch, ch.index("cal"),
                    len(model.meta.receptors), len(PAIR_CLASSES), len(CLASSES), len(ch))


@dataclasses.dataclass(frozen=True)
class _Targets:
    stim: np.ndarray  # (S,) circuit index of each stimulated neuron
    post: np.ndarray  # (M,) circuit index of responder
    col: np.ndarray  # (M,) row in stim
    dff: np.ndarray
    weight: np.ndarray


def _targets(atlas, circuit: Circuit, stimulated: tuple[str, ...]) -> _Targets:
    cidx = {n: k for k, n in enumerate(circuit.neurons["name"])}
    aidx = atlas.index(stimulated)
    post, col, dff, n = [], [], [], []
    for s, j in enumerate(aidx):
        for i in np.where(np.isfinite(atlas.dff[:, j]))[0]:
            name = atlas.names[i]
            if name in cidx:
                post.append(cidx[name]); col.append(s); dff.append(atlas.dff[i, j]); n.append(atlas.n_trials[i, j])
    var = [np.var(v, ddof=1) for v in atlas.trials.values() if v.size >= 2]
    sigma2 = float(np.median(var))
    n = np.maximum(np.asarray(n, float), 1.0)
    return _Targets(np.array([cidx[s] for s in stimulated]), np.array(post), np.array(col), np.array(dff), n / sigma2)


def _split(atlas, config: AtlasFitConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    stim = tuple(sorted(config.stimulated)) if config.stimulated else atlas.stimulated
    unknown = set(stim) - set(atlas.stimulated)
    if unknown:
        raise NeurophantomError(f"not stimulated in the atlas: {', '.join(sorted(unknown)[:5])}")
    hold = tuple(sorted(config.holdout)) if config.holdout is not None else default_holdout(stim)
    bad = set(hold) - set(stim)
    if bad:
        raise NeurophantomError(f"held-out neuron(s) not among the stimulated ones: {', '.join(sorted(bad)[:5])}")
    train = tuple(s for s in stim if s not in set(hold))
    if not train:
        raise NeurophantomError("nothing left to train on after the hold-out")
    return train, hold


def _objective(pm: ParamMap, tg: _Targets, cfg: AtlasFitConfig):
    stim = jnp.asarray(tg.stim)
    post, col = jnp.asarray(tg.post), jnp.asarray(tg.col)
    y, w = jnp.asarray(tg.dff), jnp.asarray(tg.weight)
    wsum = float(tg.weight.sum())

    def loss(theta, v_star):
        pred, _ = responses(theta, pm, stim, v_star)
        z2 = w * (pred[col, post] - y) ** 2  # squared standardised residuals
        data = jnp.sum(jnp.sqrt(1.0 + z2) - 1.0) if cfg.loss == "huber" else 0.5 * jnp.sum(z2)
        prior = 0.5 * sum(jnp.sum(theta[k] ** 2) for k in ("receptor", "gap", "channel")) / cfg.prior_sd**2
        prior += 0.5 * jnp.sum(theta["neuron_cal"] ** 2) / cfg.prior_sd_neuron**2
        prior += 0.5 * theta["vhalf"] ** 2 / cfg.prior_sd_vhalf_mV**2
        return (data + prior) / wsum

    return jax.jit(jax.value_and_grad(loss))


def fit_atlas(config: AtlasFitConfig = AtlasFitConfig(), *, circuit: Circuit | None = None, progress=None) -> AtlasFit:
    """Fit the worm to the atlas's training stimulated neurons (see module docstring).

    Parameters
    ----------
    config
        Split, data and optimiser options; ``config.holdout`` is the explicit list of
        stimulated neurons whose responses the fit never sees.
    circuit
        The starting worm (default :func:`worm_circuit`); its header must name membrane classes.
    progress
        Optional callable ``(iteration, loss)``.
    """
    from ..sources.celegans_atlas import signal_propagation

    t0 = time.perf_counter()
    atlas = signal_propagation(config.strain)
    train, hold = _split(atlas, config)
    circuit = worm_circuit(config) if circuit is None else circuit
    pm = param_map(circuit)
    tg = _targets(atlas, circuit, train)
    step = _objective(pm, tg, config)
    theta = zero_theta(pm)
    v = rest_voltage(theta, pm, pm.base.params["v_init_mV"])
    for _ in range(6):
        v = rest_voltage(theta, pm, v)
    opt = optax.adam(config.learning_rate)
    state = opt.init(theta)
    history, best = [], (np.inf, theta, v)
    for it in range(config.iterations):
        val, grad = step(theta, v)
        val = float(val)
        history.append(val)
        if not np.isfinite(val):
            break
        if val < best[0]:
            best = (val, theta, v)
        if progress is not None:
            progress(it, val)
        upd, state = opt.update(grad, state, theta)
        theta = optax.apply_updates(theta, upd)
        v = rest_voltage(theta, pm, v)
    theta, v = best[1], best[2]
    stim_all = tuple(sorted(train + hold))
    pred = predict_atlas(theta, pm, circuit, atlas, stim_all, v)
    header = {
        "data": dict(atlas.source), "dataset": circuit.provenance.dataset, "strain": config.strain,
        "train": list(train), "holdout": list(hold), "config": config.model_dump(mode="json"),
        "final_loss": best[0], "iterations": len(history),
    }
    return AtlasFit(theta={k: np.asarray(x) for k, x in theta.items()}, config=config, circuit=circuit,
                    atlas_names=atlas.names, stimulated=stim_all, holdout=hold, predicted=pred,
                    loss_history=tuple(history), seconds=time.perf_counter() - t0, header=header)


def predict_atlas(theta, pm: ParamMap, circuit: Circuit, atlas, stimulated, v_star) -> np.ndarray:
    """Predicted (atlas neurons x ``stimulated``) mean dF/F; NaN for neurons not in the circuit."""
    cidx = {n: k for k, n in enumerate(circuit.neurons["name"])}
    stim = jnp.asarray([cidx[s] for s in stimulated])
    theta = {k: jnp.asarray(x) for k, x in theta.items()}
    pred, _ = jax.jit(responses)(theta, pm, stim, jnp.asarray(v_star))
    pred = np.asarray(pred)
    out = np.full((len(atlas.names), len(stimulated)), np.nan)
    for k, name in enumerate(atlas.names):
        if name in cidx:
            out[k] = pred[:, cidx[name]]
    return out


def fitted_parameters(fit: AtlasFit, scores: dict | None = None) -> dict:
    """The fit as a ``neurophantom-celegans-fit`` document (see :mod:`neurophantom.sources.celegans_fitted`)."""
    from ..sources import celegans_fitted
    from ..sources.celegans_cells import CLASSES, PAIR_CLASSES

    th = fit.theta
    pm_receptors = tuple(fit.circuit.receptor_types)  # the Model keeps every listed receptor type
    channels = tuple(ch for ch in fit.circuit.channel_types if (fit.circuit.neurons[ch] > 0).any())
    cal = channels.index("cal")
    ex = lambda x: float(np.exp(x))  # noqa: E731
    params = {
        "receptor_scale": {r: ex(th["receptor"][k]) for k, r in enumerate(pm_receptors)},
        "gap_scale": {c: ex(th["gap"][k]) for k, c in enumerate(PAIR_CLASSES)},
        "channel_scale": {c: {ch: ex(th["channel"][k, m]) for m, ch in enumerate(channels)} for k, c in enumerate(CLASSES)},
        "neuron_channel_scale": {"cal": {str(n): ex(v) for n, v in zip(fit.circuit.neurons["name"], th["neuron_cal"])}},
        "biophysics_overrides": {"release.graded.vhalf_mV": float(-35.0 + th["vhalf"])},
    }
    header = dict(fit.header)
    header["atlas_readout"] = {"depolarization_mV": ex(th["depol"]), "readout_gain": ex(th["gain"]),
                               "indicator": "GCaMP6s steady state (Chen et al. 2013)"}
    header["channel_order"] = list(channels)
    if cal != list(channels).index("cal"):  # pragma: no cover - defensive
        raise NeurophantomError("channel order mismatch")
    if scores is not None:
        header["scores"] = scores
    return {"format": celegans_fitted.FORMAT, "version": celegans_fitted.VERSION, "header": header, "parameters": params}
