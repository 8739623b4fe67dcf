"""The task interface of a compiled circuit, and running task trials through the engine.

An :class:`Interface` says, by neuron name (and id), how a task talks to a circuit:

- **inputs**: each input unit of the rate network is a small population of stimulated
  neurons; input unit ``k`` with drive ``u_k(t) >= 0`` (one sign of one task channel, or 1
  for the tonic unit) receives the current ``current_pA_per_unit x u_k(t)``, a
  :class:`~neurophantom.types.stimulus.Waveform` sampled every ``input_sample_dt_ms``;
- **readout**: output ``o`` is ``y_o(t) = sum_u C[o, u] T_u(t) + d_o``, where ``T_u`` is the
  mean transmitter-release rate ``sigmoid((V - V_half)/slope)`` of the neurons of
  recurrent unit ``u`` (read from their recorded membrane potential; ``V_half`` and
  ``slope`` are the graded-release constants the circuit was compiled for).

The interface is fixed at compile time and stored in the circuit header (key
``pretty_printer``), so any circuit with the same neuron names (a reconstruction, a
damaged copy) can be run on the same trials and read out the same way. A readout neuron
missing from the circuit is left out of its unit's mean; a unit with no neuron left
contributes nothing; a missing input neuron is not stimulated.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError, ValidationError
from ..biophysics.model import Model
from ..engine import compile_drive, init_state, integrate
from ..types.stimulus import Stimulus, Waveform
from .tasks import Trials, get_task
from .trained import encode_inputs, input_units

HEADER_KEY = "pretty_printer"


@dataclasses.dataclass(frozen=True, kw_only=True)
class InputPopulation:
    """The neurons that carry one input unit and the current per unit of drive."""

    unit: str
    channel: int  # task channel, -1 for the tonic unit
    sign: int  # which sign of the channel drives it
    neurons: tuple[str, ...]
    ids: tuple[int, ...]
    current_pA_per_unit: float


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Interface:
    """How a task drives a circuit and reads it out (see module docstring)."""

    task: str
    dt_ms: float
    input_sample_dt_ms: float
    inputs: tuple[InputPopulation, ...]
    readout_units: tuple[tuple[str, ...], ...]
    readout_ids: tuple[tuple[int, ...], ...]
    readout_weights: np.ndarray  # (n_outputs, n_units)
    readout_bias: np.ndarray  # (n_outputs,)
    release_vhalf_mV: float
    release_slope_mV: float

    def __post_init__(self) -> None:
        task = get_task(self.task)
        w = np.array(self.readout_weights, dtype=np.float64)
        b = np.array(self.readout_bias, dtype=np.float64).reshape(-1)
        if w.shape != (task.n_outputs, len(self.readout_units)) or b.shape != (task.n_outputs,):
            raise ValidationError(f"interface readout shape {w.shape} does not fit task {self.task!r}")
        if len(self.readout_ids) != len(self.readout_units):
            raise ValidationError("interface readout ids and names disagree")
        if len(self.inputs) != len(input_units(task)):
            raise ValidationError(f"interface has {len(self.inputs)} input populations, task {self.task!r} needs {len(input_units(task))}")
        if not (self.dt_ms > 0 and self.input_sample_dt_ms > 0 and self.release_slope_mV > 0):
            raise ValidationError("interface dt_ms, input_sample_dt_ms and release_slope_mV must be > 0")
        every = self.input_sample_dt_ms / self.dt_ms
        if abs(every - round(every)) > 1e-9:
            raise ValidationError("interface input_sample_dt_ms must be a whole number of dt_ms steps")
        for name, arr in (("readout_weights", w), ("readout_bias", b)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "dt_ms": self.dt_ms,
            "input_sample_dt_ms": self.input_sample_dt_ms,
            "inputs": [dataclasses.asdict(p) for p in self.inputs],
            "readout_units": [list(u) for u in self.readout_units],
            "readout_ids": [list(u) for u in self.readout_ids],
            "readout_weights": self.readout_weights.tolist(),
            "readout_bias": self.readout_bias.tolist(),
            "release_vhalf_mV": self.release_vhalf_mV,
            "release_slope_mV": self.release_slope_mV,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Interface":
        try:
            inputs = tuple(
                InputPopulation(
                    unit=str(p["unit"]), channel=int(p["channel"]), sign=int(p["sign"]),
                    neurons=tuple(p["neurons"]), ids=tuple(int(i) for i in p["ids"]),
                    current_pA_per_unit=float(p["current_pA_per_unit"]),
                )
                for p in d["inputs"]
            )
            return cls(
                task=str(d["task"]), dt_ms=float(d["dt_ms"]), input_sample_dt_ms=float(d["input_sample_dt_ms"]),
                inputs=inputs,
                readout_units=tuple(tuple(u) for u in d["readout_units"]),
                readout_ids=tuple(tuple(int(i) for i in u) for u in d["readout_ids"]),
                readout_weights=np.asarray(d["readout_weights"], dtype=np.float64),
                readout_bias=np.asarray(d["readout_bias"], dtype=np.float64),
                release_vhalf_mV=float(d["release_vhalf_mV"]), release_slope_mV=float(d["release_slope_mV"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"malformed pretty-printer interface: {exc.__class__.__name__}: {exc}") from None


# --------------------------------------------------------------------------- model edges
def kinetic_edges(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pre, post, receptor)`` model indices of every kinetic synaptic edge.

    The Model stores each edge's postsynaptic neuron and receptor as one flattened
    conductance slot, whose layout is internal to the engine (it has been post-major,
    ``post * R + rec``, and receptor-major, ``rec * N + post``). The layout is detected
    from the receptor index the Model also stores; an unknown one raises.
    """
    pre = np.asarray(model.index["kin_pre"], dtype=np.int64)
    slot = np.asarray(model.index["kin_slot"], dtype=np.int64)
    rec = np.asarray(model.index["kin_rec"], dtype=np.int64)
    n, R = model.n_neurons, max(len(model.meta.receptors), 1)
    candidates = []
    if np.all(slot % R == rec) and np.all(slot // R < n):
        candidates.append(slot // R)
    if np.all(slot // n == rec):
        candidates.append(slot - rec * n)
    if not candidates or any(not np.array_equal(c, candidates[0]) for c in candidates[1:]):
        raise NeurophantomError("cannot read the model's synaptic edge layout (kin_slot)")
    return pre, candidates[0], rec


# --------------------------------------------------------------------------- stimuli
def _positions(model_ids: np.ndarray, ids: Sequence[int]) -> list[int | None]:
    lookup = {int(i): k for k, i in enumerate(model_ids)}
    return [lookup.get(int(i)) for i in ids]


def input_currents(interface: Interface, trials: Trials) -> tuple[list[int], np.ndarray]:
    """Target ids and currents (B, T, n_targets) in pA for every stimulated neuron."""
    drive = encode_inputs(get_task(interface.task), trials.inputs)
    ids, cols = [], []
    for k, pop in enumerate(interface.inputs):
        for i in pop.ids:
            ids.append(int(i))
            cols.append(k)
    currents = drive[..., cols] * np.array([interface.inputs[k].current_pA_per_unit for k in cols])
    return ids, currents


def trial_drives(model: Model, interface: Interface, trials: Trials, *, start: int = 0, stop: int | None = None):
    """Engine drives (stacked over trials) for samples ``[start, stop)`` of every trial."""
    if abs(trials.dt_ms - interface.input_sample_dt_ms) > 1e-12:
        raise NeurophantomError(f"trials sampled every {trials.dt_ms} ms, the interface expects {interface.input_sample_dt_ms} ms")
    ids, currents = input_currents(interface, trials)
    present = [k for k, p in enumerate(_positions(model.neuron_ids, ids)) if p is not None]
    stop = trials.n_steps if stop is None else stop
    duration = (stop - start) * trials.dt_ms
    n_steps = int(round(duration / interface.dt_ms))
    drives = []
    for b in range(trials.n_trials):
        comps = ()
        if present:
            comps = (Waveform(targets=[ids[k] for k in present], values=currents[b, start:stop][:, present],
                              sample_dt_ms=trials.dt_ms, kind="current"),)
        drives.append(compile_drive(Stimulus(duration_ms=duration, components=comps), model, dt_ms=interface.dt_ms, n_steps=n_steps))
    return jax.tree.map(lambda *xs: jnp.stack(xs), *drives)


# --------------------------------------------------------------------------- engine runs
def run_batch(model: Model, drives, v0, *, dt_ms: float, sample_every: int) -> jnp.ndarray:
    """Membrane potentials (B, samples, N) for stacked ``drives``; ``v0`` (B, N) or None.

    Traceable (used under ``jax.grad`` by fine-tuning). Each trial starts from the
    engine's initial state (``v0``, or the model's ``v_init_mV``; receptors and gates at
    their steady state for that voltage).
    """

    def one(drive, v):
        state = init_state(model, drive, None if v is None else {"v": v})
        _, out = integrate(model, drive, state, jax.random.key(0), dt_ms=dt_ms, sample_every=sample_every, record=("v",), spikes=False)
        return out["v"]

    if v0 is None:
        return jax.vmap(lambda d: one(d, None))(drives)
    return jax.vmap(one)(drives, v0)


@functools.partial(jax.jit, static_argnames=("dt_ms", "sample_every"))
def _run_batch_jit(model, drives, *, dt_ms, sample_every):
    return run_batch(model, drives, None, dt_ms=dt_ms, sample_every=sample_every)


def readout_matrix(interface: Interface, model_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(M, d)`` with outputs ``y = T @ M + d`` for release rates ``T`` (..., N) in model order:
    each unit's weight is shared equally by its neurons present in the model."""
    m = np.zeros((len(model_ids), interface.readout_weights.shape[0]))
    present = False
    for u, ids in enumerate(interface.readout_ids):
        pos = [p for p in _positions(model_ids, ids) if p is not None]
        if pos:
            m[pos, :] += interface.readout_weights[:, u] / len(pos)
            present = True
    if not present:
        raise NeurophantomError("none of the circuit's neurons is a readout neuron of this task's interface")
    return m, interface.readout_bias


def release_rate(v, vhalf_mV: float, slope_mV: float, xp=np):
    """Graded transmitter release ``sigmoid((V - V_half)/slope)`` (``xp``: numpy or jax.numpy)."""
    return 1.0 / (1.0 + xp.exp(-(v - vhalf_mV) / slope_mV))


def readout(interface: Interface, v: np.ndarray, model_ids: np.ndarray) -> np.ndarray:
    """Outputs (B, T, n_outputs) from membrane potentials ``v`` (B, T, N) in model order."""
    m, d = readout_matrix(interface, model_ids)
    return release_rate(np.asarray(v), interface.release_vhalf_mV, interface.release_slope_mV) @ m + d


def circuit_voltages(model: Model, interface: Interface, trials: Trials, *, batch: int = 64) -> np.ndarray:
    """Run ``trials`` through the engine: membrane potentials (B, T, N) in model order,
    sampled on the trials' grid."""
    if trials.task != interface.task:
        raise NeurophantomError(f"interface is for task {interface.task!r}, trials are {trials.task!r}")
    every = int(round(trials.dt_ms / interface.dt_ms))
    vs = []
    for b0 in range(0, trials.n_trials, batch):
        part = dataclasses.replace(
            trials, inputs=trials.inputs[b0 : b0 + batch], targets=trials.targets[b0 : b0 + batch],
            mask=trials.mask[b0 : b0 + batch], answer=trials.answer[b0 : b0 + batch],
        )
        drives = trial_drives(model, interface, part)
        v = np.asarray(_run_batch_jit(model, drives, dt_ms=interface.dt_ms, sample_every=every))
        if not np.all(np.isfinite(v)):
            raise NeurophantomError("simulation diverged (non-finite membrane potential)")
        vs.append(v)
    return np.concatenate(vs, axis=0)


def circuit_outputs(model: Model, interface: Interface, trials: Trials, *, batch: int = 64) -> np.ndarray:
    """Run ``trials`` through the engine and read the task outputs (B, T, n_outputs)."""
    return readout(interface, circuit_voltages(model, interface, trials, batch=batch), model.neuron_ids)
