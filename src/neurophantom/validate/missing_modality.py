"""Can the loop tell that something is missing? One world with (or without) a hidden process.

A small organoid is the ground truth; a hidden process is added to it at a strength
(0: nothing hidden), one of

- ``modulator``: a slow volume-transmitted modulator (:mod:`neurophantom.sources.hidden`),
  ``strength_nS`` at a 10 Hz population rate;
- ``glia``: astrocytes acting slowly on the neurons of their domains, ``strength_nS`` at a
  10 Hz domain rate;
- ``receptor``: a receptor type the barcode does not label (``receptor``, NMDA by
  default): the truth's synapses carry it with a mean conductance of ``strength_nS`` per
  synapse that has it (its counts scaled from the organoid's own), the emulation has none;
- ``plasticity``: the truth's excitatory synapses learn during the recording by pair-based
  STDP (:class:`~neurophantom.engine.hidden.STDP`; Song, Miller & Abbott 2000) with
  potentiation ``stdp_percent`` % of the scanned count per pair and depression 0.53 of it
  (Bi & Poo 1998's ratio of the library's defaults); the emulation's synapses are fixed.

The emulation is the scan's model: the same circuit without the hidden process, i.e. a
perfect scan of everything the scan can see, so that what the residual test finds is
the hidden process and not a reconstruction error. Both run the same protocol (the
background drive plus blocks of extra drive, ``block_ms`` on and off), recorded as the
mean membrane potential per ``bin_ms`` (a voltage-imaging observable). The emulation
runs ``n_reference + n_surrogates`` times with fresh noise; the residual test
(:func:`~neurophantom.identify.residuals.residual_test`) sees the recording, those runs,
the soma positions and the emulation's weight matrix. All runs of one model are one
batched call (the truth's runs are a call of their own where its model or rule differs).
"""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from ..biophysics import biophysics_for, build_model
from ..biophysics.model import Model
from ..engine.hidden import STDP, Pools, simulate_hidden_batch
from ..identify.residuals import residual_test
from ..sources import organoid
from ..sources.hidden import GliaConfig, ModulatorConfig, glia_pools, modulator_pools
from ..types import Circuit
from ..types.stimulus import Pulses, Stimulus

HIDDEN = ("modulator", "glia", "receptor", "plasticity")
#: Depression per pair as a fraction of potentiation (the library's STDP defaults, 0.0053 / 0.01).
DEPRESSION_RATIO = 0.53


class WorldTrial(BaseModel):
    """One world of the missing-modality study (the point's settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: Literal["modulator", "glia", "receptor", "plasticity"] = "modulator"
    strength_nS: float = Field(0.0, ge=0, description="modulator and glia: conductance at 10 Hz; receptor: mean "
                               "conductance per synapse of the unlabelled type (0: nothing hidden)")
    receptor: Literal["ampa", "nmda", "gaba_a", "gaba_b"] = Field("nmda", description="the unlabelled receptor type")
    stdp_percent: float = Field(0.0, ge=0, le=100, description="plasticity: potentiation per spike pair, % of the "
                                "scanned count (0: nothing hidden)")
    n_neurons: int = Field(30, ge=10, le=400)
    circuit_seed: int | None = Field(None, ge=0, description="organoid seed (default: the world's seed)")
    duration_ms: float = Field(3000.0, gt=0)
    dt_ms: float = Field(0.1, gt=0)
    bin_ms: float = Field(50.0, gt=0)
    block_ms: float = Field(500.0, gt=0)
    block_scale: float = Field(1.0, ge=0, description="extra drive in blocks, as a multiple of the background mean")
    n_reference: int = Field(5, ge=1)
    n_surrogates: int = Field(15, ge=5)
    alpha: float = Field(0.05, gt=0, lt=1)


def world_circuit(trial: WorldTrial, seed: int) -> Circuit:
    s = trial.circuit_seed if trial.circuit_seed is not None else seed
    return organoid.build(organoid.Config(seed=s, n_neurons=trial.n_neurons, n_patterns=0))


def protocol(circuit: Circuit, trial: WorldTrial) -> Stimulus:
    """Background drive plus blocks of extra current (per cell type, scaled by area as the background)."""
    bg = circuit.provenance.metadata["background_drive"]
    blocks = []
    for _ctype, grp in circuit.neurons.groupby("cell_type", sort=True):
        amp = trial.block_scale * bg["mean_pA_per_um2"] * float(grp["area_um2"].mean())
        blocks.append(Pulses(targets=tuple(int(i) for i in grp["id"]), amplitude=amp, width_ms=trial.block_ms,
                             period_ms=2 * trial.block_ms, start_ms=trial.block_ms, kind="current"))
    return organoid.background_stimulus(circuit, trial.duration_ms, extra=tuple(blocks))


def hidden_pools(circuit: Circuit, trial: WorldTrial, seed: int) -> Pools:
    """The truth's slow pools (a modulator or glia; zero action for the synaptic kinds)."""
    if trial.hidden == "modulator":
        return modulator_pools(circuit, ModulatorConfig(strength_nS=trial.strength_nS), seed)
    return glia_pools(circuit, GliaConfig(strength_nS=trial.strength_nS if trial.hidden == "glia" else 0.0), seed)


def circuits(circuit: Circuit, trial: WorldTrial) -> tuple[Circuit, Circuit]:
    """(emulation, truth) Circuits: the same unless a receptor type is unlabelled, in which
    case the emulation has none of it and the truth's counts are scaled so that its mean
    conductance per synapse that has it is ``strength_nS``."""
    if trial.hidden != "receptor":
        return circuit, circuit
    syn = circuit.synapses.copy()
    counts = syn[trial.receptor].to_numpy(dtype=np.float64)
    if not np.any(counts > 0):
        raise NeurophantomError(f"missing modality: the world has no {trial.receptor!r} receptors to leave unlabelled")
    g_unit_nS = biophysics_for(circuit).receptor(trial.receptor).g_unit_pS * 1e-3
    syn[trial.receptor] = counts * (trial.strength_nS / (g_unit_nS * float(counts[counts > 0].mean())))
    seen = syn.copy()
    seen[trial.receptor] = 0.0
    return circuit.replace(synapses=seen), circuit.replace(synapses=syn)


def models(circuit: Circuit, trial: WorldTrial) -> tuple[Model, Model]:
    """(emulation, truth) Models of :func:`circuits` (one object when they are the same)."""
    emulation, truth = circuits(circuit, trial)
    m = build_model(emulation)
    return (m, m) if truth is emulation else (m, build_model(truth))


def stdp_rule(trial: WorldTrial) -> STDP | None:
    """The truth's learning rule (None unless ``plasticity`` at a positive strength)."""
    if trial.hidden != "plasticity" or trial.stdp_percent == 0:
        return None
    a = trial.stdp_percent / 100.0
    return STDP(a_plus=a, a_minus=DEPRESSION_RATIO * a)


def weight_matrix(model: Model) -> np.ndarray:
    """Signed event weights (nS) from j onto i, ``W[j, i]``, excitatory positive (reversal above -40 mV)."""
    n = model.meta.n
    slot = np.asarray(model.index["ev_slot"])
    sign = np.where(np.asarray(model.params["E_syn_mV"]) > -40.0, 1.0, -1.0)[slot // n]
    w = np.zeros((n, n))
    np.add.at(w, (np.asarray(model.index["ev_pre"]), slot % n), sign * np.asarray(model.params["w_event_nS"]))
    return w


def _binned(v: np.ndarray, every: int) -> np.ndarray:
    runs, samples, n = v.shape
    return v[:, : samples // every * every].reshape(runs, samples // every, every, n).mean(axis=2)


def _stacked(pools: list[Pools]) -> Pools:
    """One Pools whose arrays carry a leading run axis."""
    return Pools(*(np.stack(a) for a in zip(*(p.tree_flatten()[0] for p in pools))))


def _simulate(circuit: Circuit, emulation: Model, truth: Model, trial: WorldTrial, pools_each: list[Pools], n_truth: int,
              seed: int) -> np.ndarray:
    """Binned mean voltage (runs, bins, N), run ``b`` with ``pools_each[b]`` and key ``b``;
    the last ``n_truth`` runs are the truth's (its own model and rule when they differ)."""
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), 19), len(pools_each))
    stim, every, rule = protocol(circuit, trial), int(round(trial.bin_ms)), stdp_rule(trial)

    def run(model: Model, k, pools: list[Pools], stdp: STDP | None) -> np.ndarray:
        return simulate_hidden_batch(model, stim, k, _stacked(pools), dt_ms=trial.dt_ms, sample_dt_ms=1.0, stdp=stdp)["v"]

    if truth is emulation and rule is None:  # one call (the modulator and glia worlds)
        return _binned(run(emulation, keys, pools_each, None), every)
    m = len(pools_each) - n_truth
    v = np.concatenate([run(emulation, keys[:m], pools_each[:m], None), run(truth, keys[m:], pools_each[m:], rule)])
    return _binned(v, every)


def _off(p: Pools) -> Pools:
    """The emulation's pools: the same arrays with nothing released and nothing acting."""
    return Pools(p.release * 0.0, p.action_nS * 0.0, p.E_mV, p.tau_ms)


def _test(circuit: Circuit, model: Model, trial: WorldTrial, recorded, reference, surrogates) -> dict:
    nrn = circuit.neurons
    res = residual_test(recorded, reference, surrogates,
                        positions_um=np.stack([nrn["x_um"], nrn["y_um"], nrn["z_um"]], axis=1),
                        weights=weight_matrix(model))
    return {"detected": int(res.detected(trial.alpha)), "p_value": res.p_value, "statistic": res.statistic,
            "kind": res.kind, **{f"z_{k}": z for k, z in res.z.items()}}


def run_world(trial: WorldTrial, seed: int) -> dict:
    """One independent world: the truth and ``n_reference + n_surrogates`` emulation runs."""
    circuit = world_circuit(trial, seed)
    model, truth_model = models(circuit, trial)
    truth = hidden_pools(circuit, trial, seed)
    runs = 1 + trial.n_reference + trial.n_surrogates
    binned = _simulate(circuit, model, truth_model, trial, [_off(truth)] * (runs - 1) + [truth], 1, seed)
    rec, emu = binned[-1], binned[:-1]
    return _test(circuit, model, trial, rec, emu[: trial.n_reference], emu[trial.n_reference:])


def shared_worlds(trial: WorldTrial, n_null: int, n_hidden: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Many worlds on one circuit in one batched call (the cheap form the tests use).

    A pool of ``n_null + n_reference + n_surrogates - 1`` emulation runs: null world ``j``
    records pool run ``j`` and tests it against the other runs (leave one out: exactly the
    exchangeable case). ``n_hidden`` truth runs, each with its own noise and its own draw
    of the hidden process's receptor levels (seed ``seed + 1 + h``), are tested against a
    rotating choice of pool runs. Outcomes of different worlds share emulation runs.
    """
    circuit = world_circuit(trial, seed)
    model, truth_model = models(circuit, trial)
    m = n_null + trial.n_reference + trial.n_surrogates - 1
    truths = [hidden_pools(circuit, trial, seed + 1 + h) for h in range(n_hidden)]
    binned = _simulate(circuit, model, truth_model, trial, [_off(truths[0])] * m + truths, n_hidden, seed)
    pool, rec = binned[:m], binned[m:]
    null, hidden = [], []
    for j in range(n_null):
        others = np.delete(pool, j, axis=0)
        null.append(_test(circuit, model, trial, pool[j], others[: trial.n_reference], others[trial.n_reference:]))
    for h in range(n_hidden):
        order = np.roll(np.arange(m), -h)
        ref, sur = pool[order[: trial.n_reference]], pool[order[trial.n_reference: trial.n_reference + trial.n_surrogates]]
        hidden.append(_test(circuit, model, trial, rec[h], ref, sur))
    return null, hidden
