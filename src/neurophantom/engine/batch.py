"""Stimulate each of many neurons in turn, in one batched call (``jax.vmap``).

``stimulate_each(model, targets, ...)`` simulates one trial per target: the same protocol
(a current step, or a conductance step towards ``E_mV``, from ``start_ms`` to ``stop_ms``)
applied to that neuron alone, every trial from the same initial state. With
``from_rest=True`` (default for graded models) that state is the network's rested state
(:func:`~neurophantom.engine.steady.steady_state`), so a response is the response to the
stimulus and not the network settling. Targets are neuron ids or, given
``neuron_names``, names (as on the command line). The trials are one compiled,
vectorised integration (the target map is the batched axis), in chunks of ``batch`` to
bound memory.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.stimulus import Pulses, Step, Stimulus
from .drive import compile_drive
from .integrate import init_state, integrate, record_names, unit_of
from .simulate import _steps


@dataclasses.dataclass(frozen=True, eq=False)
class BatchRecording:
    """Traces of one trial per target: ``traces[name]`` is (targets, samples, neurons)."""

    target_ids: np.ndarray
    target_names: tuple[str, ...] | None
    time_ms: np.ndarray
    neuron_ids: np.ndarray
    traces: dict
    units: dict
    initial_state: str


def _resolve(model: Model, targets, neuron_names) -> np.ndarray:
    items = list(targets)
    if items and all(isinstance(t, str) for t in items):
        if neuron_names is None:
            raise NeurophantomError("targets given by name need neuron_names (the circuit's names, in model order)")
        lookup = {n: int(i) for n, i in zip(neuron_names, model.neuron_ids)}
        bad = [t for t in items if t not in lookup]
        if bad:
            raise NeurophantomError(f"unknown neuron name {bad[0]!r}")
        return np.array([lookup[t] for t in items], dtype=np.int64)
    ids = np.asarray(items, dtype=np.int64)
    model.index_of(ids)  # raises on an unknown id
    return ids


def stimulate_each(
    model: Model,
    targets: Sequence[int] | Sequence[str],
    *,
    amplitude: float,
    start_ms: float,
    stop_ms: float,
    duration_ms: float,
    dt_ms: float,
    kind: str = "current",
    E_mV: float = 0.0,
    record: Sequence[str] = ("v",),
    sample_dt_ms: float | None = None,
    from_rest: bool = True,
    neuron_names: Sequence[str] | None = None,
    batch: int = 64,
) -> BatchRecording:
    """One trial per target (see module docstring). ``kind="current"``: ``amplitude`` in
    pA; ``kind="conductance"``: ``amplitude`` in nS towards ``E_mV``."""
    ids = _resolve(model, targets, neuron_names)
    if not len(ids):
        raise NeurophantomError("stimulate_each needs at least one target")
    if kind not in ("current", "conductance"):
        raise NeurophantomError(f"unknown stimulus kind {kind!r} (current or conductance)")
    names = record_names(model, record)
    n_steps, every = _steps(duration_ms, dt_ms, sample_dt_ms)
    width = stop_ms - start_ms
    first = int(ids[0])
    comp = (Step(targets=(first,), amplitude_pA=amplitude, start_ms=start_ms, stop_ms=stop_ms) if kind == "current" else
            Pulses(targets=(first,), amplitude=amplitude, width_ms=width, period_ms=width, start_ms=start_ms, stop_ms=stop_ms,
                   kind="conductance", E_mV=E_mV))
    drive = compile_drive(Stimulus(duration_ms=duration_ms, components=(comp,)), model, dt_ms=dt_ms, n_steps=n_steps)
    init, label = None, "v_init"
    if from_rest:
        from .steady import initial_values, steady_state

        init = initial_values(steady_state(model, iterations=40))
        label = "rest"
    state = init_state(model, drive, init)
    rows = jax.nn.one_hot(jnp.asarray(model.index_of(ids)), model.n_neurons, dtype=drive.i_map.dtype)[:, None, :]
    field = "i_map" if kind == "current" else "g_map"

    @jax.jit
    def run(maps):
        def one(m):
            d = dataclasses.replace(drive, **{field: m})
            st = init_state(model, d, init) if init is None else state
            _, out = integrate(model, d, st, jax.random.key(0), dt_ms=float(dt_ms), sample_every=every, record=names, spikes=False)
            return out

        return jax.vmap(one)(maps)

    outs = [run(rows[i:i + batch]) for i in range(0, len(ids), batch)]
    traces = {n: np.concatenate([np.asarray(o[n]) for o in outs], axis=0) for n in names}
    for n, arr in traces.items():
        if not np.all(np.isfinite(arr)):
            raise NeurophantomError(f"simulation diverged: non-finite {n!r}; reduce dt_ms or check parameters")
    tnames = None
    if neuron_names is not None:
        lookup = dict(zip(model.neuron_ids.tolist(), neuron_names))
        tnames = tuple(lookup[int(i)] for i in ids)
    return BatchRecording(target_ids=ids, target_names=tnames, time_ms=np.arange(n_steps // every) * every * dt_ms,
                          neuron_ids=model.neuron_ids, traces=traces, units={n: unit_of(n) for n in names}, initial_state=label)
