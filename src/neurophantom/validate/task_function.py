"""Function of a task circuit: how much of the truth's task performance an emulation keeps.

The pretty-printer world's ground truth performs a task (:mod:`neurophantom.sources.tasks`)
through a fixed interface (:class:`~neurophantom.sources.pretty_printer_run.Interface`:
which neurons are stimulated for each input, how outputs are read from release rates).
:func:`task_run` runs held-out trials through any Model with that interface and keeps the
score of each trial, so that truth and emulation, run on the same trials, pair up trial
by trial; :func:`task_ratio` then resamples those pairs as
:func:`neurophantom.validate.memory.recall_ratio` does for memory recall (the same code).

The ratio is taken **above chance**: a trial's score ``s`` (fraction correct) counts as
``(s - chance) / (1 - chance)``, so that a dead network (a constant output scores 0.5 on
both shipped tasks) keeps 0 of the truth's performance, not half of it. The headline
scores (``truth``, ``emulation``, ``control``) stay the task's own fraction correct.

References
----------
Sussillo D, Barak O (2013) Opening the black box. Neural Comput 25:626-649 (flip-flop).
Mante V, Sussillo D, Shenoy KV, Newsome WT (2013) Nature 503:78-84 (context-dependent
decision).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..sources.pretty_printer_run import Interface, circuit_outputs
from ..sources.tasks import ContextDecision, FlipFlop, Trials, get_task, make_trials
from .memory import recall_ratio

#: Fraction correct of an output that ignores its inputs, for both shipped tasks.
CHANCE = {"flipflop": 0.5, "context_decision": 0.5}


def trial_hits(task: str, outputs: np.ndarray, trials: Trials) -> tuple[np.ndarray, np.ndarray]:
    """Correct and scored samples per trial, ``(hits, counts)`` (B,), by the task's own
    rule: ``hits.sum() / counts.sum()`` is ``get_task(task).score(outputs, trials)``."""
    t = get_task(task)
    y = np.asarray(outputs, dtype=np.float64)
    if isinstance(t, FlipFlop):
        scored = trials.mask > 0
        hits = ((np.sign(y) == trials.targets) & scored).sum(axis=(1, 2))
        return hits.astype(np.float64), scored.sum(axis=(1, 2)).astype(np.float64)
    if isinstance(t, ContextDecision):
        _, _, r0, r1 = t._windows()
        hit = np.sign(y[:, r0:r1, 0].mean(axis=1)) == trials.answer[:, 0]
        return hit.astype(np.float64), np.ones(y.shape[0])
    raise NeurophantomError(f"no per-trial scoring for task {task!r}")


def remap_interface(interface: Interface, mapping: Mapping[int, int]) -> Interface:
    """``interface`` with every neuron id replaced through ``mapping`` (truth id -> the
    performer's id); neurons without a match are left out (a lost input neuron is not
    stimulated, a lost readout neuron leaves its unit's mean)."""
    def keep(names, seq):
        pairs = [(n, int(mapping[i])) for n, i in zip(names, seq) if i in mapping]
        return tuple(n for n, _ in pairs), tuple(i for _, i in pairs)

    inputs = []
    for p in interface.inputs:
        names, ids = keep(p.neurons, p.ids)
        inputs.append(dataclasses.replace(p, neurons=names, ids=ids))
    units = [keep(n, i) for n, i in zip(interface.readout_units, interface.readout_ids)]
    if not any(i for _, i in units):
        raise NeurophantomError("no readout neuron of the task interface is matched in the performer")
    return dataclasses.replace(interface, inputs=tuple(inputs), readout_units=tuple(n for n, _ in units),
                               readout_ids=tuple(i for _, i in units))


def task_run(model: Model, interface: Interface, *, trials: int, seed: int = 0) -> dict:
    """Fraction correct of ``model`` on ``trials`` held-out trials (stream ``seed``) and
    the score of each trial; a simulation that diverges is a failed performer (``score``
    NaN, ``failed`` says why)."""
    tr = make_trials(interface.task, "heldout", trials, seed=seed)
    try:
        y = circuit_outputs(model, interface, tr)
    except NeurophantomError as exc:
        return {"score": float("nan"), "failed": str(exc), "trial_scores": []}
    hits, counts = trial_hits(interface.task, y, tr)
    return {"score": float(hits.sum() / max(counts.sum(), 1.0)), "trials": int(trials), "seed": int(seed),
            "trial_scores": [float(h / max(c, 1.0)) for h, c in zip(hits, counts)]}


def above_chance(run: Mapping, chance: float) -> dict:
    """``run`` as :func:`recall_ratio` reads it: each trial's score above chance."""
    s = np.asarray(run.get("trial_scores", []), dtype=np.float64)
    return {"patterns": [{"trial_scores": tuple((s - chance) / (1.0 - chance))}]}


def task_ratio(truth: Mapping, performer: Mapping, task: str, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Share of the truth's above-chance performance that ``performer`` keeps, with 95%
    paired-bootstrap intervals over held-out trials (``ratio``, ``ratio_ci95``,
    ``truth_ci95`` above chance, ``error`` = |log ratio|); see the module docstring."""
    c = CHANCE[get_task(task).name]
    return recall_ratio(above_chance(truth, c), above_chance(performer, c), n_boot=n_boot, seed=seed)
