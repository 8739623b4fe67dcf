"""Behavioural tasks with known solutions, for the neural pretty printer.

A task makes trials (input waveforms, target outputs, a loss mask) and scores outputs. The
same :meth:`score` grades the rate network, its compiled biophysical circuit and any later
emulation, so that "task performance retained" means the same thing at every stage.

Tasks
-----
``flipflop``
    The 3-bit flip-flop memory of Sussillo & Barak (2013): three input channels receive
    brief +1 or -1 pulses at random times; each output must hold the sign of the last
    pulse on its channel. Known solution: 2^3 stable fixed points. Score: the fraction of
    scored time bins (after a channel's first pulse, outside a 50 ms response window after
    each pulse) in which ``sign(output) == target``; chance is 0.5.
``context_decision``
    Context-dependent decision making (Mante, Sussillo, Shenoy & Newsome 2013): two noisy
    evidence streams ("motion", "color") and a context cue saying which one matters; after
    a delay the output reports the sign of the relevant stream's evidence. Known solution:
    context-gated integration onto a line attractor. The reference answer of a trial is
    the sign of the relevant stream's *realised* mean evidence (the ideal observer's
    answer for the noise actually drawn), so a perfect integrator scores 1. Score: the
    fraction of trials whose mean output over the response window has that sign; chance
    is 0.5.

Trials are drawn from ``np.random.default_rng(SeedSequence(TASK_ENTROPY, spawn_key=(task,
split, seed)))``: the ``train`` split feeds training and fine-tuning, ``validation`` model
selection, and ``heldout`` every reported score, so no reported score sees a training
trial.

References
----------
Sussillo D, Barak O (2013) Opening the black box: low-dimensional dynamics in
high-dimensional recurrent neural networks. Neural Comput 25:626-649.
Mante V, Sussillo D, Shenoy KV, Newsome WT (2013) Context-dependent computation by
recurrent dynamics in prefrontal cortex. Nature 503:78-84.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Union

import numpy as np

from .._errors import NeurophantomError

TASK_ENTROPY = 0x6E657572  # fixed root of every task's random streams
SPLITS = ("train", "validation", "heldout")
Split = Literal["train", "validation", "heldout"]


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Trials:
    """A batch of trials on a time grid of ``dt_ms``.

    ``inputs`` (B, T, n_channels) are the task's input channels (signed where the task says
    so); ``targets`` and ``mask`` (B, T, n_outputs) are the desired outputs and the weight
    of each sample in a training loss; ``answer`` (B, n_outputs) holds per-trial reference
    answers where the task scores whole trials (context_decision), else zeros.
    """

    task: str
    dt_ms: float
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    answer: np.ndarray

    def __post_init__(self) -> None:
        b, t, _ = self.inputs.shape
        if self.targets.shape[:2] != (b, t) or self.mask.shape != self.targets.shape:
            raise NeurophantomError("trials: inputs, targets and mask disagree in shape")
        for name in ("inputs", "targets", "mask", "answer"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_trials(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def duration_ms(self) -> float:
        return self.n_steps * self.dt_ms


def _check_outputs(outputs: np.ndarray, trials: Trials) -> np.ndarray:
    y = np.asarray(outputs, dtype=np.float64)
    if y.shape != trials.targets.shape:
        raise NeurophantomError(f"task outputs have shape {y.shape}, expected {trials.targets.shape}")
    if not np.all(np.isfinite(y)):
        raise NeurophantomError("task outputs contain non-finite values")
    return y


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlipFlop:
    """The n-bit flip-flop (Sussillo & Barak 2013); see the module docstring."""

    name: str = "flipflop"
    n_bits: int = 3
    dt_ms: float = 1.0
    settle_ms: float = 200.0  # tonic drive only: the network settles, nothing is scored
    duration_ms: float = 1000.0
    pulse_ms: float = 20.0
    first_pulse_ms: float = 100.0  # each channel's first pulse falls in [settle, settle + this)
    min_gap_ms: float = 100.0
    mean_extra_gap_ms: float = 200.0  # gap = min_gap + Exponential(mean_extra_gap)
    grace_ms: float = 50.0  # response time after a pulse onset, not scored

    @property
    def n_channels(self) -> int:
        return self.n_bits

    @property
    def n_outputs(self) -> int:
        return self.n_bits

    @property
    def signed_channels(self) -> tuple[bool, ...]:
        return (True,) * self.n_bits

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(f"bit{k}" for k in range(self.n_bits))

    def make(self, n: int, rng: np.random.Generator) -> Trials:
        steps = int(round(self.duration_ms / self.dt_ms))
        width = int(round(self.pulse_ms / self.dt_ms))
        grace = int(round(self.grace_ms / self.dt_ms))
        settle = int(round(self.settle_ms / self.dt_ms))
        x = np.zeros((n, steps, self.n_bits))
        y = np.zeros((n, steps, self.n_bits))
        m = np.zeros((n, steps, self.n_bits))
        for b in range(n):
            for c in range(self.n_bits):
                t = settle + int(rng.integers(0, int(self.first_pulse_ms / self.dt_ms)))
                while t + width <= steps:
                    sign = 1.0 if rng.random() < 0.5 else -1.0
                    x[b, t : t + width, c] = sign
                    y[b, t:, c] = sign
                    m[b, t:, c] = 1.0
                    m[b, t : t + grace, c] = 0.0
                    gap = self.min_gap_ms + rng.exponential(self.mean_extra_gap_ms)
                    t += int(round(gap / self.dt_ms))
        return Trials(task=self.name, dt_ms=self.dt_ms, inputs=x, targets=y, mask=m, answer=np.zeros((n, self.n_bits)))

    def score(self, outputs: np.ndarray, trials: Trials) -> float:
        """Fraction of scored (trial, time, bit) samples with ``sign(output) == target``."""
        y = _check_outputs(outputs, trials)
        scored = trials.mask > 0
        hits = (np.sign(y) == trials.targets) & scored
        return float(hits.sum() / max(scored.sum(), 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContextDecision:
    """Context-dependent decision (Mante et al. 2013); see the module docstring.

    Channels: 0 motion evidence, 1 color evidence (signed: ``coherence + noise``, white
    noise held for one ``dt_ms``), 2 and 3 the motion and color context cues (0 or 1, on
    for the whole trial), 4 the fixation cue (1 until the response window: its offset is
    the go signal, as in Song, Yang & Wang 2016). One output: 0 (fixation) until the
    response window, then the answer (+1 or -1).
    """

    name: str = "context_decision"
    dt_ms: float = 1.0
    settle_ms: float = 100.0  # tonic drive and context cue: nothing else happens
    stimulus_ms: float = 400.0
    delay_ms: float = 100.0
    response_ms: float = 200.0
    coherences: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    noise_sd: float = 0.5
    shaping_scale: float = 0.1  # training target before the response: tanh(running mean / scale)
    shaping_weight: float = 0.5  # its loss weight

    n_channels: int = 5
    n_outputs: int = 1

    @property
    def duration_ms(self) -> float:
        return self.settle_ms + self.stimulus_ms + self.delay_ms + self.response_ms

    @property
    def signed_channels(self) -> tuple[bool, ...]:
        return (True, True, False, False, False)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return ("motion", "color", "ctx_motion", "ctx_color", "fixation")

    def _windows(self) -> tuple[int, int, int, int]:
        s0 = int(round(self.settle_ms / self.dt_ms))
        s1 = s0 + int(round(self.stimulus_ms / self.dt_ms))
        r0 = s1 + int(round(self.delay_ms / self.dt_ms))
        r1 = r0 + int(round(self.response_ms / self.dt_ms))
        return s0, s1, r0, r1

    def make(self, n: int, rng: np.random.Generator) -> Trials:
        s0, s1, r0, r1 = self._windows()
        x = np.zeros((n, r1, 5))
        y = np.zeros((n, r1, 1))
        m = np.zeros((n, r1, 1))
        coh = np.asarray(self.coherences)
        ctx = rng.integers(0, 2, size=n)
        c = rng.choice(coh, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
        noise = rng.normal(0.0, self.noise_sd, size=(n, s1 - s0, 2))
        x[:, s0:s1, :2] = c[:, None, :] + noise
        x[np.arange(n), :, 2 + ctx] = 1.0
        x[:, :r0, 4] = 1.0
        relevant = x[np.arange(n), s0:s1, ctx]
        answer = np.where(relevant.mean(axis=1) >= 0, 1.0, -1.0)
        # Shaping target before the response: the running relevant evidence, squashed.
        running = np.cumsum(relevant, axis=1) * self.dt_ms / self.stimulus_ms
        y[:, s0:s1, 0] = np.tanh(running / self.shaping_scale)
        y[:, s1:r0, 0] = y[:, s1 - 1 : s1, 0]
        y[:, r0:r1, 0] = answer[:, None]
        m[:, s0:r0, 0] = self.shaping_weight
        m[:, r0:r1, 0] = 1.0
        return Trials(task=self.name, dt_ms=self.dt_ms, inputs=x, targets=y, mask=m, answer=answer[:, None])

    def score(self, outputs: np.ndarray, trials: Trials) -> float:
        """Fraction of trials whose mean response-window output has the answer's sign."""
        y = _check_outputs(outputs, trials)
        _, _, r0, r1 = self._windows()
        choice = np.sign(y[:, r0:r1, 0].mean(axis=1))
        return float(np.mean(choice == trials.answer[:, 0]))


Task = Union[FlipFlop, ContextDecision]

#: Task name -> the task with its default parameters.
TASKS: dict[str, Task] = {"flipflop": FlipFlop(), "context_decision": ContextDecision()}


def get_task(name: str) -> Task:
    """The task called ``name`` (one-line error for an unknown name)."""
    if name not in TASKS:
        raise NeurophantomError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    return TASKS[name]


def make_trials(task: str | Task, split: Split, n: int, seed: int = 0) -> Trials:
    """``n`` trials of ``task`` from ``split`` (``train``, ``validation`` or ``heldout``).

    The stream is ``SeedSequence(TASK_ENTROPY, spawn_key=(task index, split index, seed))``:
    splits never share a trial, and the same arguments always give the same trials.
    """
    t = get_task(task) if isinstance(task, str) else task
    if split not in SPLITS:
        raise NeurophantomError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise NeurophantomError(f"number of trials must be a positive integer, got {n!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise NeurophantomError(f"trial seed must be a non-negative integer, got {seed!r}")
    task_index = list(TASKS).index(t.name)
    ss = np.random.SeedSequence(TASK_ENTROPY, spawn_key=(task_index, SPLITS.index(split), int(seed)))
    return t.make(int(n), np.random.default_rng(ss))
