"""Recordings as NWB files (pynwb).

Layout written by :func:`write_recording`:

- ``acquisition/<trace>``: one ``TimeSeries`` per recorded variable, data (time, neuron),
  ``unit`` in its physical unit (``membrane_voltage`` in mV, ``calcium`` in uM, ...),
  ``rate`` = 1 / sample interval, ``starting_time`` = first sample;
- ``units``: one row per neuron (all neurons, possibly without spikes) with ``spike_times``
  in seconds (NWB convention), plus ``neuron_id``, ``neuron_name`` and
  ``spike_step_times`` columns; written only when some neuron spiked (a circuit of graded
  neurons has no units table: hdmf cannot type an index column whose lists are all empty);
- ``processing/neurophantom/neurons``: the neuron table (id, name) that orders the
  TimeSeries columns; ``processing/neurophantom/metadata`` keeps the recording's
  metadata as JSON text.

The file is written to a temporary name and renamed, so a killed write never leaves a
readable half file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .._errors import CorruptDataError, NeurophantomError
from ..types.recording import Recording

TRACE_NAMES = {"v": "membrane_voltage", "ca": "calcium", "i_syn": "synaptic_current"}
_REVERSE = {v: k for k, v in TRACE_NAMES.items()}
_SESSION_START = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)  # fixed: same input, same file content


def _nwb_name(trace: str) -> str:
    return TRACE_NAMES.get(trace, trace.replace(".", "__"))


def _trace_name(nwb: str) -> str:
    return _REVERSE.get(nwb, nwb.replace("__", "."))


def write_recording(path: str | os.PathLike, rec: Recording, *, description: str = "neurophantom simulation", identifier: str | None = None) -> Path:
    """Write ``rec`` to ``path`` (.nwb) atomically."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nwb = NWBFile(
        session_description=description,
        identifier=identifier or f"neurophantom-{path.stem}",
        session_start_time=_SESSION_START,
        source_script="neurophantom",
        source_script_file_name="neurophantom",
    )
    rate = 1000.0 / rec.sample_dt_ms
    for name, data in rec.traces.items():
        nwb.add_acquisition(
            TimeSeries(
                name=_nwb_name(name),
                data=np.asarray(data),
                unit=rec.units[name],
                rate=rate,
                starting_time=float(rec.time_ms[0]) / 1000.0 if rec.time_ms.size else 0.0,
                description=f"neurophantom variable {name!r}, columns ordered as processing/neurophantom/neurons",
            )
        )
    trains = rec.spike_trains()
    step_trains = rec.spike_trains(step_times=True)
    if rec.spike_times_ms.size:
        nwb.add_unit_column("neuron_id", "neurophantom neuron id")
        nwb.add_unit_column("neuron_name", "neuron name")
        nwb.add_unit_column("spike_step_times", "spike times (s) at the start of the crossing step (Brian2 convention)", index=True)
        names = rec.neuron_names or tuple(str(i) for i in rec.neuron_ids)
        for nid, nm in zip(rec.neuron_ids, names):
            nwb.add_unit(
                spike_times=trains[int(nid)] / 1000.0,
                neuron_id=int(nid),
                neuron_name=str(nm),
                spike_step_times=step_trains[int(nid)] / 1000.0,
            )
    mod = nwb.create_processing_module("neurophantom", "neuron order and metadata of this recording")
    names = rec.neuron_names or tuple(str(i) for i in rec.neuron_ids)
    mod.add(
        DynamicTable(
            name="neurons",
            description="column order of every TimeSeries",
            columns=[
                VectorData(name="neuron_id", description="neuron id", data=np.asarray(rec.neuron_ids)),
                VectorData(name="neuron_name", description="neuron name", data=[str(n) for n in names]),
            ],
        )
    )
    meta = {"dt_ms": rec.dt_ms, "units": dict(rec.units), "metadata": dict(rec.metadata), "has_names": rec.neuron_names is not None}
    mod.add(
        DynamicTable(
            name="metadata",
            description="recording metadata as JSON",
            columns=[VectorData(name="json", description="JSON text", data=[json.dumps(meta, default=float)])],
        )
    )
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}.", suffix=".nwb", dir=path.parent)
    os.close(fd)
    try:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a Recording written by :func:`write_recording` (one-line errors on bad files)."""
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise NeurophantomError(f"recording not found: {path}")
    try:
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            mod = nwb.processing["neurophantom"]
            ntab = mod["neurons"].to_dataframe()
            meta = json.loads(mod["metadata"].to_dataframe()["json"].iloc[0])
            ids = ntab["neuron_id"].to_numpy().astype(np.int64)
            names = tuple(str(x) for x in ntab["neuron_name"])
            traces, units, time_ms = {}, {}, None
            for nm, ts in nwb.acquisition.items():
                key = _trace_name(nm)
                data = np.asarray(ts.data[:])
                traces[key] = data
                units[key] = ts.unit
                t0 = (ts.starting_time or 0.0) * 1000.0
                time_ms = t0 + np.arange(data.shape[0]) * 1000.0 / ts.rate
            sid, st, sst = [], [], []
            if nwb.units is not None:
                udf = nwb.units.to_dataframe()
                for _, row in udf.iterrows():
                    t = np.asarray(row["spike_times"], dtype=np.float64) * 1000.0
                    sid.append(np.full(t.size, int(row["neuron_id"])))
                    st.append(t)
                    sst.append(np.asarray(row["spike_step_times"], dtype=np.float64) * 1000.0)
    except (KeyError, OSError, ValueError) as exc:
        raise CorruptDataError(f"{path} is not a neurophantom NWB recording ({exc.__class__.__name__}: {exc})") from None
    if time_ms is None:
        time_ms = np.zeros(0)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    ids_s, t_s, ts_s = cat(sid, np.int64), cat(st, np.float64), cat(sst, np.float64)
    order = np.lexsort((ids_s, t_s))
    return Recording(
        time_ms=time_ms,
        neuron_ids=ids,
        traces=traces,
        units=units,
        dt_ms=float(meta["dt_ms"]),
        spike_neuron_ids=ids_s[order],
        spike_times_ms=t_s[order],
        spike_step_times_ms=ts_s[order],
        neuron_names=names if meta.get("has_names") else None,
        metadata=meta.get("metadata", {}),
    )
