"""``simulate``: the engine's public entry point, returning a labelled Recording.

Long runs are cut into equal segments; each segment is one compiled call of the pure
:func:`~neurophantom.engine.integrate.integrate` (compiled once and reused), the state is
carried between segments on the host, and a progress bar advances per segment. Inside a
``jax.grad`` or ``jax.vmap`` use :func:`simulate_arrays`, which is traceable.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.recording import Recording
from ..types.stimulus import Stimulus
from .drive import compile_drive
from .integrate import default_k_deliver, default_k_record, init_state, integrate, record_names, unit_of


def _steps(duration_ms: float, dt_ms: float, sample_dt_ms: float | None) -> tuple[int, int]:
    if not (np.isfinite(dt_ms) and dt_ms > 0):
        raise NeurophantomError(f"dt_ms must be > 0, got {dt_ms}")
    if not (np.isfinite(duration_ms) and duration_ms > 0):
        raise NeurophantomError(f"duration_ms must be > 0, got {duration_ms}")
    n_steps = int(round(duration_ms / dt_ms))
    if abs(n_steps * dt_ms - duration_ms) > 1e-6 * dt_ms + 1e-9 * duration_ms:
        raise NeurophantomError(f"duration_ms {duration_ms} is not a whole number of steps of {dt_ms} ms")
    sdt = dt_ms if sample_dt_ms is None else sample_dt_ms
    if not (np.isfinite(sdt) and sdt > 0):
        raise NeurophantomError(f"sample_dt_ms must be > 0, got {sdt}")
    every = int(round(sdt / dt_ms))
    if every < 1 or abs(every * dt_ms - sdt) > 1e-6 * dt_ms:
        raise NeurophantomError(f"sample_dt_ms {sdt} is not a whole number of steps of {dt_ms} ms")
    if n_steps % every:
        raise NeurophantomError(f"duration_ms {duration_ms} is not a whole number of samples of {sdt} ms")
    if n_steps >= 2**31:  # step offsets are int32 inside the compiled integrator
        raise NeurophantomError(f"{duration_ms:g} ms at dt {dt_ms:g} ms is {n_steps:.3g} steps, more than 2^31")
    from ..io import check_memory

    check_memory(8 * n_steps, f"a simulation of {n_steps} steps (duration {duration_ms:g} ms at dt {dt_ms:g} ms)")
    return n_steps, every


def simulate_arrays(
    model: Model,
    stimulus: Stimulus,
    *,
    dt_ms: float,
    duration_ms: float | None = None,
    record: Sequence[str] = ("v",),
    sample_dt_ms: float | None = None,
    key: jax.Array | None = None,
    init: Mapping[str, jnp.ndarray] | None = None,
    spikes: bool = False,
    method: str = "exp_euler",
) -> dict[str, jnp.ndarray]:
    """Traceable simulation returning recorded arrays (use under ``jax.grad``/``vmap``)."""
    duration = stimulus.duration_ms if duration_ms is None else duration_ms
    n_steps, every = _steps(duration, dt_ms, sample_dt_ms)
    drive = compile_drive(stimulus, model, dt_ms=dt_ms, n_steps=n_steps)
    state = init_state(model, drive, init)
    key = jax.random.key(0) if key is None else key
    _, out = integrate(
        model, drive, state, key, dt_ms=dt_ms, sample_every=every, record=record_names(model, record), spikes=spikes,
        method=method,
    )
    return out


@functools.partial(jax.jit, static_argnames=("dt_ms", "sample_every", "record", "k_record", "k_deliver", "spikes", "method"))
def _integrate_jit(model, drive, state, key, offset, *, dt_ms, sample_every, record, k_record, k_deliver, spikes, method):
    return integrate(
        model, drive, state, key, dt_ms=dt_ms, sample_every=sample_every, record=record, step_offset=offset,
        k_record=k_record, k_deliver=k_deliver, spikes=spikes, method=method,
    )


def _segment_samples(n_samples: int, every: int, target_steps: int) -> int:
    """Largest divisor of ``n_samples`` whose segment has at most ``target_steps`` steps."""
    best = 1
    for d in range(1, int(math.isqrt(n_samples)) + 1):
        if n_samples % d == 0:
            for q in (d, n_samples // d):
                if q * every <= max(target_steps, every) and q > best:
                    best = q
    return best


def simulate(
    model: Model,
    stimulus: Stimulus,
    *,
    dt_ms: float,
    duration_ms: float | None = None,
    record: Sequence[str] = ("v",),
    sample_dt_ms: float | None = None,
    key: jax.Array | None = None,
    init: Mapping[str, jnp.ndarray] | None = None,
    k_record: int | None = None,
    k_deliver: int | None = None,
    segment_steps: int = 20000,
    progress: bool | None = None,
    neuron_names: Sequence[str] | None = None,
    method: str = "exp_euler",
) -> Recording:
    """Simulate ``model`` under ``stimulus`` and return a :class:`Recording`.

    Parameters
    ----------
    model
        Built by :func:`~neurophantom.biophysics.build_model`.
    stimulus
        Protocol; its ``duration_ms`` is used unless ``duration_ms`` is given.
    dt_ms
        Integration step (exponential Euler, first order).
    record
        Variables to sample: ``v``, ``ca``, ``i_syn``, ``g_syn.<receptor>``,
        ``gate.<channel>.<gate>``. Spikes are always recorded for spiking models.
    sample_dt_ms
        Sampling interval (a whole number of steps; default ``dt_ms``).
    key
        PRNG key for stimulus noise (explicit randomness; default ``jax.random.key(0)``).
    init
        Initial-state overrides (see :func:`~neurophantom.engine.integrate.init_state`).
    k_record
        Most spikes recorded per step; more raise an error naming this parameter.
    k_deliver
        Spikes per step delivered through the short compacted list (one out-edge row per
        spike); a step with more takes the exact dense branch over every edge. Only speed
        depends on it (default ``16 + 0.5% of N``).
    segment_steps
        Steps per compiled segment (bounds device memory for long runs).
    progress
        Show a progress bar (default: when the run has more than one segment).
    method
        ``"exp_euler"`` (first order; Brian2's ``exponential_euler``) or
        ``"exp_midpoint"`` (second-order Rush-Larsen; twice the cost per step).
    """
    duration = stimulus.duration_ms if duration_ms is None else duration_ms
    n_steps, every = _steps(duration, dt_ms, sample_dt_ms)
    names = record_names(model, record)
    if method not in ("exp_euler", "exp_midpoint"):
        raise NeurophantomError(f"unknown integration method {method!r} (known: exp_euler, exp_midpoint)")
    drive = compile_drive(stimulus, model, dt_ms=dt_ms, n_steps=n_steps)
    state = init_state(model, drive, init)
    key = jax.random.key(0) if key is None else key
    n_samples = n_steps // every
    from ..io import check_memory

    check_memory(8 * n_samples * model.n_neurons * max(len(names), 1) * 2,
                 f"the traces of {model.n_neurons} neurons x {n_samples} samples x {len(names)} variables")
    seg = _segment_samples(n_samples, every, segment_steps)
    seg_steps = seg * every
    n_seg = n_samples // seg
    k_rec = default_k_record(model.n_neurons) if k_record is None else int(k_record)
    k_del = default_k_deliver(model.n_neurons) if k_deliver is None else int(k_deliver)
    show = (n_seg > 1) if progress is None else progress
    traces: dict[str, list[np.ndarray]] = {n: [] for n in names}
    sp_ids, sp_t, sp_ts = [], [], []
    bar = _progress(n_seg, show)
    try:
        for s in range(n_seg):
            part = drive.slice_steps(s * seg_steps, (s + 1) * seg_steps)
            offset = jnp.asarray(s * seg_steps, jnp.int32)
            state, out = _integrate_jit(
                model, part, state, key, offset, dt_ms=float(dt_ms), sample_every=every, record=names,
                k_record=k_rec, k_deliver=k_del, spikes=True, method=method,
            )
            for n in names:
                traces[n].append(np.asarray(out[n]))
            if "spike_ids" in out:
                ids = np.asarray(out["spike_ids"])
                count = np.asarray(out["spike_count"])
                if np.any(count > k_rec):
                    raise NeurophantomError(
                        f"{int(count.max())} neurons spiked in one step, more than k_record={k_rec}: "
                        "raise k_record (or check the model for runaway excitation)"
                    )
                row, col = np.nonzero(ids >= 0)
                step_idx = row + s * seg_steps
                frac = np.asarray(out["spike_frac"])[row, col]
                sp_ids.append(model.neuron_ids[ids[row, col]])
                sp_t.append((step_idx + frac) * dt_ms)
                sp_ts.append(step_idx * dt_ms)
            bar.advance()
    finally:
        bar.close()
    for n in names:
        arr = np.concatenate(traces[n], axis=0)
        if not np.all(np.isfinite(arr)):
            raise NeurophantomError(f"simulation diverged: non-finite {n!r}; reduce dt_ms or check parameters")
        traces[n] = arr
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)  # noqa: E731
    ids, t, ts = cat(sp_ids, np.int64), cat(sp_t, np.float64), cat(sp_ts, np.float64)
    order = np.lexsort((ids, t))
    return Recording(
        time_ms=np.arange(n_samples) * every * dt_ms,
        neuron_ids=model.neuron_ids,
        traces=traces,
        units={n: unit_of(n) for n in names},
        dt_ms=float(dt_ms),
        spike_neuron_ids=ids[order],
        spike_times_ms=t[order],
        spike_step_times_ms=ts[order],
        neuron_names=tuple(neuron_names) if neuron_names is not None else None,
        metadata={"duration_ms": float(duration), "engine": f"neurophantom {method}", "dtype": model.meta.dtype},
    )


class _progress:
    """A rich progress bar per segment, or nothing."""

    def __init__(self, total: int, show: bool):
        self._p = None
        if show:
            from rich.progress import BarColumn, Progress, TimeRemainingColumn

            self._p = Progress("simulating", BarColumn(), "{task.completed}/{task.total} segments", TimeRemainingColumn(), transient=True)
            self._p.start()
            self._t = self._p.add_task("sim", total=total)

    def advance(self) -> None:
        if self._p is not None:
            self._p.advance(self._t)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
