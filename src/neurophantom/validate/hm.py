"""The H.M. test: an emulation without plasticity recalls what was stored but learns nothing.

Patient H.M. recalled old memories but formed no new ones (Scoville & Milner 1957). The
ground truth here is a small organoid with a stored memory (``memory_patterns``) whose
synapses learn by pair-based STDP (:class:`~neurophantom.engine.hidden.STDP`); after the
scan it is taught a new association: a *cue* group of pyramidal cells (in no stored
pattern) is driven, then ``lag_ms`` later a *target* group, ``n_pairings`` times under
the background drive. Recall is measured before and after, with the partial-cue protocol
of :mod:`neurophantom.validate.memory` (common random numbers):

- *old recall*: the stored pattern's recall score;
- *new recall*: the target group's rate increase (Hz) when the cue group is driven, the
  uncued gain of the new association (its score before learning is near 0 and of either
  sign, so the gain in Hz is the measure).

Three worlds run the same teaching session: the plastic truth; the *static* emulation
(the scan's model, which has no plasticity: teaching changes nothing); and the
*plastic* emulation, the scan's model with an STDP rule whose four parameters were
identified from a paired-recording experiment on the specimen
(:func:`identify_rule`: test EPSPs before and after pairings at several spike timings,
the Bi & Poo 1998 protocol, fitted to the exponential pair window). Ratios to the truth:
``old_recall_ratio = old(emulation) / old(truth)`` after teaching and
``new_learning_ratio = gain(emulation) / gain(truth)`` of the new recall.

References
----------
Scoville WB, Milner B (1957) Loss of recent memory after bilateral hippocampal lesions.
J Neurol Neurosurg Psychiatry 20:11-21.
Bi GQ, Poo MM (1998) J Neurosci 18:10464-10472 (pairing at controlled spike timings).
"""

from __future__ import annotations

import jax
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..biophysics import build_model
from ..biophysics.model import Model
from ..engine.hidden import STDP, simulate_hidden
from ..sources import organoid
from ..sources.minimal import hh_cells
from ..types import Circuit
from ..types.stimulus import Pulses, Step, Stimulus
from ..identify.plasticity import fit_stdp
from .memory import RecallProtocol, memory_recall, recall_inputs

#: The world's learning rule (a hidden rule of the ground truth, strong enough to learn in a session).
WORLD_RULE = STDP(a_plus=0.25, a_minus=0.15, tau_plus_ms=16.8, tau_minus_ms=33.7, f_max=25.0, slot_capacity=8.0)


class HMTrial(BaseModel):
    """One H.M. test (the study point's settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_neurons: int = Field(40, ge=10, le=400)
    pattern_size: int = Field(10, ge=4)
    memory_strength: float = Field(60.0, ge=0)
    new_size: int = Field(14, ge=4, description="cue + target cells of the new association")
    n_pairings: int = Field(60, ge=1)
    period_ms: float = Field(100.0, gt=0)
    lag_ms: float = Field(8.0, gt=0, description="target pulse after the cue pulse")
    pulse_pA_per_um2: float = Field(0.3, gt=0, description="pairing pulse (1 ms) per um^2 of membrane")
    recall_trials: int = Field(2, ge=1)
    rule: STDP = WORLD_RULE


def world(trial: HMTrial, seed: int) -> tuple[Circuit, tuple[int, ...], tuple[int, ...]]:
    """The organoid, its stored pattern and the new association's (cue, target) ids."""
    circuit = organoid.build(organoid.Config(seed=seed, n_neurons=trial.n_neurons, n_patterns=1,
                                             pattern_size=trial.pattern_size, memory_strength=trial.memory_strength))
    old = tuple(circuit.provenance.metadata["memory_patterns"][0])
    nrn = circuit.neurons
    free = nrn["id"][(nrn["cell_type"] == "pyramidal") & ~nrn["id"].isin(old)].to_numpy()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(19, 3)))
    new = tuple(int(i) for i in rng.choice(free, size=min(trial.new_size, len(free)), replace=False))
    return circuit, old, new


def teaching(circuit: Circuit, new: tuple[int, ...], trial: HMTrial) -> Stimulus:
    """Pair the cue half then the target half, ``n_pairings`` times, under the background drive."""
    half = len(new) // 2
    area = circuit.neurons.set_index("id")["area_um2"]
    start = 200.0
    stop = start + trial.n_pairings * trial.period_ms
    comps = []
    for ids, t0 in ((new[:half], start), (new[half:], start + trial.lag_ms)):
        amp = trial.pulse_pA_per_um2 * float(area.loc[list(ids)].mean())
        comps.append(Pulses(targets=ids, amplitude=amp, width_ms=1.0, period_ms=trial.period_ms, start_ms=t0,
                            stop_ms=t0 + trial.n_pairings * trial.period_ms, kind="current"))
    return organoid.background_stimulus(circuit, stop + 100.0, extra=tuple(comps))


def recall(model: Model, circuit: Circuit, old, new, trial: HMTrial, seed: int) -> dict:
    """Recall (Hz) of the stored pattern and of the new association, the same noise for every model.

    Recall is the uncued half's rate increase when the cue half is driven (the
    ``uncued_gain_hz`` of :func:`~neurophantom.validate.memory.memory_recall`).
    """
    inp = recall_inputs(circuit)
    proto = RecallProtocol(n_trials=trial.recall_trials)
    res = memory_recall(model, [old, new], excitatory_ids=inp.excitatory_ids, background=inp.background, seed=seed,
                        protocol=proto)
    return {"old_hz": res.patterns[0].uncued_gain_hz, "new_hz": res.patterns[1].uncued_gain_hz}


def taught(model: Model, circuit: Circuit, new, trial: HMTrial, rule: STDP | None, seed: int) -> Model:
    """The model after the teaching session (unchanged without a rule)."""
    if rule is None:
        return model
    run = simulate_hidden(model, teaching(circuit, new, trial), dt_ms=0.1, stdp=rule,
                          key=jax.random.fold_in(jax.random.key(seed), 7), learn=excitatory_edges(model, circuit))
    return run.model


def excitatory_edges(model: Model, circuit: Circuit) -> np.ndarray:
    """Event edges between pyramidal cells (the synapses that learn in this world)."""
    pyr = circuit.neurons["cell_type"].to_numpy() == "pyramidal"
    n = model.meta.n
    return pyr[np.asarray(model.index["ev_pre"])] & pyr[np.asarray(model.index["ev_slot"]) % n]


#: Lags (ms, ``t_post - t_pre``) of the paired-recording experiment.
LAGS_MS = (-40.0, -20.0, -10.0, -5.0, 5.0, 10.0, 20.0, 40.0)


def _pair_protocol(lag_ms: float, n_pairs: int, period_ms: float = 200.0) -> Stimulus:
    """Test spike, ``n_pairs`` pairings at ``lag_ms``, test spike (each cell held just below rest)."""
    pulse = dict(amplitude=4000.0, width_ms=1.0, kind="current")
    t_pair = 300.0
    t_after = t_pair + n_pairs * period_ms + 200.0
    pre = (Pulses(targets=(0,), period_ms=1e6, start_ms=100.0, **pulse),
           Pulses(targets=(0,), period_ms=period_ms, start_ms=t_pair, stop_ms=t_pair + n_pairs * period_ms, **pulse),
           Pulses(targets=(0,), period_ms=1e6, start_ms=t_after, **pulse))
    post = Pulses(targets=(1,), period_ms=period_ms, start_ms=t_pair + lag_ms,
                  stop_ms=t_pair + lag_ms + n_pairs * period_ms, **pulse)
    hold = Step(targets=(0, 1), amplitude_pA=-100.0)
    return Stimulus(duration_ms=t_after + 100.0, components=(hold, *pre, post))


def _epsp_mV(v: np.ndarray, t_ms: np.ndarray, t0: float) -> float:
    base = v[(t_ms >= t0 - 10.0) & (t_ms < t0)].mean()
    return float(v[(t_ms >= t0) & (t_ms < t0 + 30.0)].max() - base)


def paired_recordings(rule: STDP, *, n_pairs: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Run the pairing experiment on a pair of the world's cells; relative EPSP change per pair at each lag."""
    model = build_model(hh_cells(2, edges=[(0, 1, "ampa", 300.0)], receptors=("ampa", "nmda")))
    out = []
    for lag in LAGS_MS:
        stim = _pair_protocol(lag, n_pairs)
        rec = simulate_hidden(model, stim, dt_ms=0.05, stdp=rule).recording
        v, t = rec.traces["v"][:, 1], rec.time_ms
        t_after = stim.duration_ms - 100.0
        # the presynaptic spike follows its pulse by the same latency before and after
        lat = rec.spike_times_ms[(rec.spike_neuron_ids == 0)][[0, -1]] - np.array([100.0, t_after])
        before, after = _epsp_mV(v, t, 100.0 + lat[0]), _epsp_mV(v, t, t_after + lat[1])
        out.append((after / before - 1.0) / n_pairs)
    return np.asarray(LAGS_MS), np.asarray(out)


def run_hm(trial: HMTrial, seed: int, *, plastic: bool = True) -> dict:
    """The H.M. test on one world: recall before and after teaching for truth, static and plastic emulations.

    Returns recall before teaching (the same for all: the scan) and after it for each
    of ``truth``, ``static`` and (with ``plastic``) ``plastic`` (``old_hz``, ``new_hz``),
    the identified rule, and per emulation kind ``old_recall_ratio`` and
    ``new_learning_ratio``.
    """
    circuit, old, new = world(trial, seed)
    scanned = build_model(circuit)  # a perfect static scan of the world before teaching
    kinds = [("truth", trial.rule), ("static", None)]
    fitted = None
    if plastic:
        lags, change = paired_recordings(trial.rule)
        fitted = fit_stdp(lags, change, f_max=trial.rule.f_max, slot_capacity=trial.rule.slot_capacity,
                          receptors=trial.rule.receptors)
        kinds.append(("plastic", fitted))
    before = recall(scanned, circuit, old, new, trial, seed)
    after = {kind: recall(taught(scanned, circuit, new, trial, rule, seed), circuit, old, new, trial, seed)
             for kind, rule in kinds}
    gain = {k: a["new_hz"] - before["new_hz"] for k, a in after.items()}
    out = {"before": before, "after": after, "identified_rule": None if fitted is None else fitted.model_dump(mode="json"),
           "truth_new_fold": after["truth"]["new_hz"] / before["new_hz"] if before["new_hz"] > 0 else float("nan")}
    for kind in [k for k, _ in kinds[1:]]:
        out[kind] = {"old_recall_ratio": after[kind]["old_hz"] / after["truth"]["old_hz"],
                     "new_learning_ratio": gain[kind] / gain["truth"]}
    return out
