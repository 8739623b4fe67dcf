"""Memory recall from partial cues: does a model complete a stored pattern?

The organoid (:mod:`neurophantom.sources.organoid`) stores ``memory_patterns``: groups of
pyramidal cells whose mutual excitatory synapses carry extra receptors. A network that
holds such a memory completes it (Hopfield 1982): driving part of a pattern recruits the
rest. :func:`memory_recall` measures this on any Model, the ground truth's or an
emulation's, with the protocol that verified the source (tests/sources):

1. the model runs under its background drive (the organoid's noisy current,
   :func:`~neurophantom.sources.organoid.background_stimulus`); from ``cue_start_ms`` on,
   a current step of ``cue_pA`` drives the first half (the *cue*, ``C``) of one pattern;
   each pattern is cued in its own run, ``n_trials`` times with different noise;
2. the rate increase ``D(S)`` of a group ``S`` is its mean firing rate in
   ``[cue_start_ms + settle_ms, duration_ms)`` minus that in
   ``[baseline_start_ms, cue_start_ms)``, averaged over trials;
3. the *completion* of a pattern is the rate increase of its uncued half ``R`` beyond
   that of the *control* group ``O`` (the excitatory neurons, i.e. those of the patterns'
   cell types, in none of the patterns scored), as a fraction of the cue's own rate
   increase, and its *crosstalk* the same for the members ``W`` of the other patterns
   (0 when there are none):

   .. math:: c = \\frac{D(R) - D(O)}{D(C)}, \\qquad x = \\frac{D(W) - D(O)}{D(C)}

4. the recall score is two-sided: under-recall, over-recall and recall of the wrong
   pattern all count as error,

   .. math:: s = \\min(c,\\ 2 - c) - \\max(x,\\ 0)

   so 1 means the uncued half rises exactly as much as the cued one and no other pattern
   rises beyond the controls; 0 means no recall (the uncued members behave like any
   other excitatory neuron), or a cue that ignites every pattern alike (non-specific
   activity), or an uncued half that rises twice as much as the cue; negative values
   mean suppression or crosstalk. If the cue raises its own neurons' rate by less than
   ``min_cue_gain_hz`` the run demonstrates nothing, and the pattern scores 0 with
   ``cue_effective = False``. ``spontaneous_hz`` (the members' rate above the controls'
   before the cue) says whether a pattern ignites with no cue at all (it should not).

The summary ``score`` is the mean over patterns. With the same ``seed`` the ground truth
and an emulation see the same background noise (common random numbers), so their scores
differ by what the models do, not by the draw.

References
----------
Hopfield JJ (1982) Neural networks and physical systems with emergent collective
computational abilities. PNAS 79:2554-2558.
Amit DJ, Brunel N (1997) Model of global spontaneous activity and local structured
activity during delay periods in the cerebral cortex. Cereb Cortex 7:237-252 (selective
rate increases of a stored population in a spiking network under background noise).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..engine import simulate
from ..sources.organoid import background_stimulus
from ..types import Circuit
from ..types.recording import Recording
from ..types.stimulus import Step, Stimulus


class RecallProtocol(BaseModel):
    """Timing and strength of the partial-cue protocol (defaults: the source's check)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_ms: float = Field(600.0, gt=0)
    baseline_start_ms: float = Field(100.0, ge=0, description="skip the initial transient")
    cue_start_ms: float = Field(300.0, gt=0)
    settle_ms: float = Field(50.0, ge=0, description="left out after cue onset")
    cue_pA: float = Field(500.0, description="current step on each cued neuron")
    dt_ms: float = Field(0.1, gt=0)
    n_trials: int = Field(1, ge=1)
    min_cue_gain_hz: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "RecallProtocol":
        if not self.baseline_start_ms < self.cue_start_ms < self.cue_start_ms + self.settle_ms < self.duration_ms:
            raise ValueError("need baseline_start_ms < cue_start_ms < cue_start_ms + settle_ms < duration_ms")
        return self


@dataclasses.dataclass(frozen=True)
class PatternRecall:
    """Rate increases (Hz, trial-averaged) of one cued pattern, its completion, crosstalk
    and two-sided score (module docstring)."""

    cue_gain_hz: float
    uncued_gain_hz: float
    control_gain_hz: float
    #: Rate increase of the other patterns' members (0 when there are none: ``n_other`` 0).
    other_gain_hz: float
    completion: float
    crosstalk: float
    score: float
    cue_effective: bool
    n_cue: int
    n_uncued: int
    n_other: int
    #: Before the cue: the pattern members' mean rate minus the controls' (Hz).
    spontaneous_hz: float
    #: The score of each trial alone (0 where that trial's cue gain is below the minimum):
    #: the units a bootstrap resamples.
    trial_scores: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class RecallResult:
    """Recall score (mean over patterns) with per-pattern details."""

    score: float
    patterns: tuple[PatternRecall, ...]
    n_control: int
    protocol: RecallProtocol

    def to_dict(self) -> dict:
        return {"score": self.score, "n_control": self.n_control,
                "patterns": [dataclasses.asdict(p) for p in self.patterns],
                "protocol": self.protocol.model_dump(mode="json")}


@dataclasses.dataclass(frozen=True)
class RecallInputs:
    """What :func:`memory_recall` needs, read from an organoid circuit's header."""

    patterns: tuple[tuple[int, ...], ...]
    excitatory_ids: np.ndarray
    background: Stimulus


def recall_inputs(circuit: Circuit, *, duration_ms: float = RecallProtocol().duration_ms) -> RecallInputs:
    """Patterns, control population and background drive of a circuit with ``memory_patterns``.

    The excitatory population is every neuron whose cell type some pattern member has.
    """
    pats = circuit.provenance.metadata.get("memory_patterns")
    if not pats:
        raise NeurophantomError("circuit has no 'memory_patterns' in its header")
    nrn = circuit.neurons
    members = np.unique([i for p in pats for i in p])
    types = set(nrn["cell_type"][nrn["id"].isin(members)])
    exc = np.sort(nrn["id"][nrn["cell_type"].isin(types)].to_numpy(dtype=np.int64))
    return RecallInputs(patterns=tuple(tuple(int(i) for i in p) for p in pats), excitatory_ids=exc,
                        background=background_stimulus(circuit, duration_ms))


def _rate_hz(rec: Recording, ids: np.ndarray, t0: float, t1: float) -> float:
    hit = np.isin(rec.spike_neuron_ids, ids) & (rec.spike_times_ms >= t0) & (rec.spike_times_ms < t1)
    return float(hit.sum()) / ids.size / ((t1 - t0) * 1e-3)


def _gain_hz(recs: Sequence[Recording], ids: np.ndarray, pr: RecallProtocol) -> float:
    return float(np.mean([_rate_hz(r, ids, pr.cue_start_ms + pr.settle_ms, pr.duration_ms)
                          - _rate_hz(r, ids, pr.baseline_start_ms, pr.cue_start_ms) for r in recs]))


def _present(ids, have: np.ndarray, what: str) -> np.ndarray:
    out = np.intersect1d(np.asarray(ids, dtype=np.int64), have)
    if out.size == 0:
        raise NeurophantomError(f"the model has none of the {what} neurons")
    return out


def two_sided(completion: float, crosstalk: float) -> float:
    """The recall score ``min(c, 2 - c) - max(x, 0)`` (module docstring)."""
    return float(min(completion, 2.0 - completion) - max(crosstalk, 0.0))


def _score(recs: Sequence[Recording], groups: dict[str, np.ndarray], pr: RecallProtocol) -> tuple[dict, float, float, float]:
    """Gains of each group, completion, crosstalk and score of the runs ``recs``."""
    g = {k: _gain_hz(recs, ids, pr) if ids.size else 0.0 for k, ids in groups.items()}
    if g["cue"] < pr.min_cue_gain_hz:
        return g, 0.0, 0.0, 0.0
    c = (g["rest"] - g["control"]) / g["cue"]
    x = (g["other"] - g["control"]) / g["cue"] if groups["other"].size else 0.0
    return g, float(c), float(x), two_sided(c, x)


def _spontaneous_hz(recs: Sequence[Recording], members: np.ndarray, control: np.ndarray, pr: RecallProtocol) -> float:
    return float(np.mean([_rate_hz(r, members, pr.baseline_start_ms, pr.cue_start_ms)
                          - _rate_hz(r, control, pr.baseline_start_ms, pr.cue_start_ms) for r in recs]))


def memory_recall(
    model: Model,
    patterns: Sequence[Sequence[int]],
    *,
    excitatory_ids: Sequence[int],
    background: Stimulus,
    seed: int,
    protocol: RecallProtocol = RecallProtocol(),
) -> RecallResult:
    """Recall of each stored pattern from a cue on half of it (see module docstring).

    Parameters
    ----------
    model
        A spiking Model whose neuron ids include the patterns' (ground truth or emulation).
        Ids the model lacks (lost tissue) are left out of every group.
    patterns
        Neuron ids of each stored pattern; the first ``len // 2`` are cued.
    excitatory_ids
        The population the patterns come from; its non-members are the control group.
    background
        The drive every run gets; its components are kept and its duration replaced by
        the protocol's.
    seed
        Root of the noise keys: pattern ``k``, trial ``t`` runs with
        ``fold_in(fold_in(key(seed), k), t)``, so a pattern's result does not depend on
        which other patterns are scored.
    protocol
        Timing, cue strength, trials.
    """
    if not model.meta.has_spiking:
        raise NeurophantomError("memory recall needs a spiking model (rates come from spikes)")
    if not patterns:
        raise NeurophantomError("no memory patterns to recall")
    have = model.neuron_ids
    members = np.unique([i for p in patterns for i in p])
    control = _present(np.setdiff1d(np.asarray(excitatory_ids, dtype=np.int64), members), have, "control")
    root = jax.random.key(seed)
    out = []
    for k, pat in enumerate(patterns):
        if len(pat) < 2:
            raise NeurophantomError(f"pattern {k} has fewer than 2 neurons")
        groups = {"cue": _present(pat[: len(pat) // 2], have, f"pattern {k} cue"),
                  "rest": _present(pat[len(pat) // 2:], have, f"pattern {k} uncued"), "control": control,
                  "other": np.intersect1d(np.setdiff1d(members, np.asarray(pat, dtype=np.int64)), have)}
        step = Step(targets=tuple(int(i) for i in groups["cue"]), amplitude_pA=protocol.cue_pA, start_ms=protocol.cue_start_ms)
        stim = Stimulus(duration_ms=protocol.duration_ms, components=tuple(background.components) + (step,))
        recs = [simulate(model, stim, dt_ms=protocol.dt_ms, key=jax.random.fold_in(jax.random.fold_in(root, k), t),
                         progress=False) for t in range(protocol.n_trials)]
        g, c, x, score = _score(recs, groups, protocol)
        out.append(PatternRecall(
            cue_gain_hz=g["cue"], uncued_gain_hz=g["rest"], control_gain_hz=g["control"], other_gain_hz=g["other"],
            completion=c, crosstalk=x, score=score, cue_effective=bool(g["cue"] >= protocol.min_cue_gain_hz),
            n_cue=int(groups["cue"].size), n_uncued=int(groups["rest"].size), n_other=int(groups["other"].size),
            spontaneous_hz=_spontaneous_hz(recs, np.concatenate([groups["cue"], groups["rest"]]), control, protocol),
            trial_scores=tuple(_score([r], groups, protocol)[3] for r in recs)))
    return RecallResult(score=float(np.mean([p.score for p in out])), patterns=tuple(out),
                        n_control=int(control.size), protocol=protocol)


def recall_ratio(truth: RecallResult | dict, emulation: RecallResult | dict, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """How much of the truth's recall an emulation keeps, with bootstrap intervals.

    Truth and emulation ran the same cues under the same background noise (common random
    numbers), so their trials pair up (pattern ``k``, trial ``t``). Resampling those pairs
    with replacement gives 95% percentile intervals of the truth's mean recall and of the
    ratio ``mean(emulation) / mean(truth)``. ``error`` is ``|log(ratio)|``: over-recall (an
    emulation that completes patterns the truth barely does) is as wrong as under-recall.
    ``ratio`` is undefined (NaN) when the truth's recall is not positive.
    """
    def trials(res):
        pats = res["patterns"] if isinstance(res, dict) else [dataclasses.asdict(p) for p in res.patterns]
        return np.asarray([x for p in pats for x in p.get("trial_scores", ())], dtype=np.float64)

    t, e = trials(truth), trials(emulation)
    out = {"truth": float(t.mean()) if t.size else float("nan"), "emulation": float(e.mean()) if e.size else float("nan"),
           "n_pairs": int(min(t.size, e.size))}
    if t.size == 0 or t.size != e.size:
        return {**out, "ratio": float("nan"), "ratio_ci95": [float("nan")] * 2, "truth_ci95": [float("nan")] * 2,
                "error": float("nan")}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(31,)))
    idx = rng.integers(0, t.size, (n_boot, t.size))
    tb, eb = t[idx].mean(axis=1), e[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rb = np.where(tb > 0, eb / tb, np.nan)
    ratio = out["emulation"] / out["truth"] if out["truth"] > 0 else float("nan")
    ok = np.isfinite(rb)
    ci = [float(x) for x in np.percentile(rb[ok], [2.5, 97.5])] if ok.mean() > 0.95 else [float("nan")] * 2
    return {**out, "ratio": float(ratio), "ratio_ci95": ci, "truth_ci95": [float(x) for x in np.percentile(tb, [2.5, 97.5])],
            "error": float(abs(np.log(ratio))) if ratio > 0 else float("inf") if np.isfinite(ratio) else float("nan")}
