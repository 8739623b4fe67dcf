"""Recording: labelled traces and spikes over physical time.

``traces[name]`` has shape (time, neuron) and is sampled at ``time_ms`` (the state at the
start of each sampling interval, as Brian2's StateMonitor records). ``units[name]`` gives
its unit. Spikes are ``(spike_neuron_ids, spike_times_ms)`` with times interpolated at the
threshold crossing; ``spike_step_times_ms`` are the same spikes at the start of the step in
which the crossing happened (Brian2's convention), for exact comparisons with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError, ValidationError


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Recording:
    time_ms: np.ndarray
    neuron_ids: np.ndarray
    traces: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    dt_ms: float
    spike_neuron_ids: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    spike_times_ms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    spike_step_times_ms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    neuron_names: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        t = np.asarray(self.time_ms, dtype=np.float64)
        ids = np.asarray(self.neuron_ids, dtype=np.int64)
        if t.ndim != 1 or ids.ndim != 1:
            raise ValidationError("recording time_ms and neuron_ids must be 1-D")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            raise ValidationError("recording time_ms must increase strictly")
        traces = {}
        for k, v in self.traces.items():
            v = np.asarray(v)
            if v.shape != (t.size, ids.size):
                raise ValidationError(f"recording trace {k!r}: shape {v.shape} != (time {t.size}, neurons {ids.size})")
            if k not in self.units:
                raise ValidationError(f"recording trace {k!r} has no unit")
            v.flags.writeable = False
            traces[k] = v
        sid = np.asarray(self.spike_neuron_ids, dtype=np.int64)
        st = np.asarray(self.spike_times_ms, dtype=np.float64)
        sst = np.asarray(self.spike_step_times_ms, dtype=np.float64)
        if sst.size == 0 and st.size:
            sst = st.copy()
        if not (sid.shape == st.shape == sst.shape):
            raise ValidationError("recording spike ids and times must have equal length")
        if self.neuron_names is not None and len(self.neuron_names) != ids.size:
            raise ValidationError("recording neuron_names must match neuron_ids")
        if not (self.dt_ms > 0):
            raise ValidationError("recording dt_ms must be > 0")
        for name, arr in (("time_ms", t), ("neuron_ids", ids), ("spike_neuron_ids", sid), ("spike_times_ms", st), ("spike_step_times_ms", sst)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "traces", traces)
        object.__setattr__(self, "units", dict(self.units))

    @property
    def sample_dt_ms(self) -> float:
        return float(self.time_ms[1] - self.time_ms[0]) if self.time_ms.size > 1 else self.dt_ms

    def trace(self, name: str, neuron_id: int | None = None) -> np.ndarray:
        if name not in self.traces:
            raise NeurophantomError(f"recording has no trace {name!r} (has: {', '.join(self.traces)})")
        if neuron_id is None:
            return self.traces[name]
        pos = np.flatnonzero(self.neuron_ids == neuron_id)
        if pos.size == 0:
            raise NeurophantomError(f"recording has no neuron id {neuron_id}")
        return self.traces[name][:, pos[0]]

    def spike_trains(self, *, step_times: bool = False) -> dict[int, np.ndarray]:
        """Sorted spike times (ms) per neuron id (every neuron id present, possibly empty)."""
        times = self.spike_step_times_ms if step_times else self.spike_times_ms
        out = {int(i): np.zeros(0) for i in self.neuron_ids}
        order = np.lexsort((times, self.spike_neuron_ids))
        ids, ts = self.spike_neuron_ids[order], times[order]
        for i in np.unique(ids):
            out[int(i)] = ts[ids == i]
        return out

    def firing_rates_hz(self, duration_ms: float | None = None) -> np.ndarray:
        """Mean firing rate per neuron (order of ``neuron_ids``)."""
        dur = duration_ms if duration_ms is not None else float(self.time_ms[-1] + self.sample_dt_ms)
        counts = np.array([np.sum(self.spike_neuron_ids == i) for i in self.neuron_ids], dtype=np.float64)
        return counts / (dur * 1e-3)
