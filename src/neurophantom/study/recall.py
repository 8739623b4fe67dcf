"""How well does a world's ground truth recall its stored patterns? Truth recall over circuit draws.

A memory world is worth testing only if its truth recalls what it stores, robustly over
the circuits its rules draw. :func:`truth_recall_study` measures this cheaply (truth
simulation only: no scan, reconstruction or fit): for each circuit seed it builds the
specimen the run's ``truth`` stage builds (:func:`~neurophantom.pipeline.specimen.truth_circuit`,
optionally with the membranes of its grown tissue, as the run's ``function`` stage
simulates it), and scores recall with the run's protocol
(:func:`~neurophantom.validate.memory.memory_recall`, the two-sided score, the same cue
noise seed as the run). The mean over draws comes with a 95% percentile bootstrap
interval over draws; each draw with one over its cue trials.

Two controls run the same protocol on what should not recall:

- ``shuffled``: the same circuit scored on random groups of pyramidal cells of the
  patterns' sizes, disjoint from each other (the memory is there, but not in them);
- ``no_memory``: the same draw with no memory (``memory_strength`` 0 and no assembly
  wiring; the patterns' members are chosen from their own random stream, so they are the
  same cells) and the same membranes.

``benchmarks/memory_recall.py`` runs it from the command line.

References
----------
Hopfield JJ (1982) PNAS 79:2554-2558 (pattern completion from a partial cue).
Amit DJ, Brunel N (1997) Cereb Cortex 7:237-252 (selective rate increases of a stored
population in a spiking network under background noise).
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

from ..biophysics import build_model
from ..pipeline.config import RunConfig
from ..pipeline.specimen import truth_circuit
from ..types import Circuit
from .tables import bootstrap_ci
from ..validate.memory import RecallProtocol, RecallResult, memory_recall, recall_inputs

Control = Literal["none", "shuffled", "no_memory"]


def specimens(cfg: RunConfig, seed: int, *, grown: bool = True) -> dict[str, Circuit]:
    """The truth of circuit draw ``seed`` (the run's ``truth`` stage, with the membranes of
    its grown tissue when ``grown``, as the run's ``function`` stage simulates it) and its
    memoryless twin with the same neurons and membranes: ``{"truth", "no_memory"}``."""
    world = cfg.world.model_dump(mode="json")
    out = {"truth": truth_circuit(world, seed),
           "no_memory": truth_circuit({**world, "memory_strength": 0.0, "assembly_connection_probability": 0.0}, seed)}
    if not grown:
        return out
    from ..tissue import grow_tissue, specimen_circuit
    from ..tissue.config import TissueConfig

    phantom = grow_tissue(out["truth"], TissueConfig(seed=int(seed), **cfg.scan.tissue))
    return {k: specimen_circuit(c, phantom) for k, c in out.items()}


def shuffled_patterns(circuit: Circuit, seed: int) -> list[list[int]]:
    """Disjoint random groups of pyramidal cells, one per stored pattern and of its size."""
    pats = circuit.provenance.metadata["memory_patterns"]
    nrn = circuit.neurons
    pyr = nrn["id"][nrn["cell_type"] == "pyramidal"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(41,)))
    pick = rng.permutation(pyr)
    out, k = [], 0
    for p in pats:
        out.append(sorted(int(i) for i in pick[k:k + len(p)]))
        k += len(p)
    return out


def truth_recall(cfg: RunConfig, circuits: dict[str, Circuit], *, control: Control = "none") -> RecallResult:
    """Recall of :func:`specimens` ``circuits`` (or a control) with the run's protocol and cue noise seed."""
    c = circuits["no_memory" if control == "no_memory" else "truth"]
    inp = recall_inputs(c)
    patterns = shuffled_patterns(c, int(c.provenance.seed)) if control == "shuffled" else inp.patterns
    f = cfg.function
    proto = RecallProtocol(n_trials=f.recall_trials, dt_ms=f.recall_dt_ms, cue_pA=f.recall_cue_pA)
    return memory_recall(build_model(c, transmission=cfg.world.transmission), patterns, excitatory_ids=inp.excitatory_ids,
                         background=inp.background, seed=cfg.seed, protocol=proto)


def truth_recall_study(cfg: RunConfig = RunConfig(), seeds: Sequence[int] = (12, 13, 14, 15, 16), *, grown: bool = True,
                       control: Control = "none", boot_seed: int = 0) -> dict[str, Any]:
    """Truth recall of each circuit draw in ``seeds`` and their summary (module docstring).

    Returns ``{"draws": [{"seed", "score", "ci95", "patterns": [...], "spontaneous_hz"}],
    "mean", "min", "ci95", "control", "grown"}``; ``ci95`` of the mean resamples draws,
    a draw's resamples its cue trials (all patterns' trials pooled); both are the studies'
    percentile bootstrap of the mean (:func:`~neurophantom.study.tables.bootstrap_ci`).
    """
    draws = []
    for s in seeds:
        r = truth_recall(cfg, specimens(cfg, int(s), grown=grown), control=control)
        trials = np.asarray([t for p in r.patterns for t in p.trial_scores], dtype=np.float64)
        draws.append({"seed": int(s), "score": r.score, "ci95": list(bootstrap_ci(trials, boot_seed + int(s))),
                      "patterns": [round(p.score, 4) for p in r.patterns],
                      "completion": [round(p.completion, 4) for p in r.patterns],
                      "crosstalk": [round(p.crosstalk, 4) for p in r.patterns],
                      "spontaneous_hz": [round(p.spontaneous_hz, 2) for p in r.patterns]})
    scores = np.asarray([d["score"] for d in draws], dtype=np.float64)
    return {"draws": draws, "mean": float(scores.mean()), "min": float(scores.min()), "ci95": list(bootstrap_ci(scores, boot_seed)),
            "control": control, "grown": grown}
