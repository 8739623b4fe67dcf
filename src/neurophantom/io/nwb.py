"""Recordings as NWB files (pynwb).

Layout written by :func:`write_recording`:

- ``acquisition/<trace>``: one ``TimeSeries`` per recorded variable, data (time, neuron),
  ``unit`` in its physical unit (``membrane_voltage`` in mV, ``calcium`` in uM, ...),
  ``rate`` = 1 / sample interval, ``starting_time`` = first sample;
- ``units``: one row per neuron (all neurons, possibly without spikes) with ``spike_times``
  in seconds (NWB convention), plus ``neuron_id``, ``neuron_name`` and
  ``spike_step_times`` columns;
- ``processing/neurophantom/neurons``: the neuron table (id, name) that orders the
  TimeSeries columns; ``processing/neurophantom/parameters`` keeps the recording's
  metadata one field per row (:func:`~._nwb_common.parameters_table`);
- ``general/subject`` (the in-silico specimen), a UUID4 ``identifier``, the real session
  start time, and (when the caller passes it) the stimulus: ``intervals/stimulation``,
  one row per component (see :mod:`._nwb_common`).

The file is written to a temporary name and renamed, so a killed write never leaves a
readable half file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .._errors import CorruptDataError, NeurophantomError
from ..types.recording import Recording

TRACE_NAMES = {"v": "membrane_voltage", "ca": "calcium", "i_syn": "synaptic_current"}
_REVERSE = {v: k for k, v in TRACE_NAMES.items()}


def _nwb_name(trace: str) -> str:
    return TRACE_NAMES.get(trace, trace.replace(".", "__"))


def _trace_name(nwb: str) -> str:
    return _REVERSE.get(nwb, nwb.replace("__", "."))


def write_recording(path: str | os.PathLike, rec: Recording, *, description: str = "neurophantom simulation",
                    identifier: str | None = None, source: str | None = None, seed: int | None = None,
                    stimulus=None) -> Path:
    """Write ``rec`` to ``path`` (.nwb) atomically.

    ``source`` and ``seed`` describe the specimen (the NWB Subject; default: the
    recording's ``metadata["source"]``); ``stimulus`` (a
    :class:`~neurophantom.types.stimulus.Stimulus`) is stored in ``intervals/stimulation``.
    """
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    from ._nwb_common import add_stimulus, parameters_table, session_fields, subject

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = session_fields(description)
    if identifier:
        fields["identifier"] = identifier
    nwb = NWBFile(**fields)
    nwb.subject = subject(source or rec.metadata.get("source"), seed if seed is not None else rec.metadata.get("seed"),
                          fields["session_start_time"])
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
    if rec.spike_times_ms.size or "v" in rec.traces:
        nwb.add_unit_column("neuron_id", "neurophantom neuron id")
        nwb.add_unit_column("neuron_name", "neuron name")
        nwb.add_unit_column("spike_step_times", "spike times (s) at the start of the crossing step (Brian2 convention)", index=True)
        nwb.units.resolution = rec.dt_ms / 1000.0  # a spike time is known to one integration step
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
    mod.add(parameters_table("parameters", "recording metadata, one field per row", json.loads(json.dumps(meta, default=float))))
    if stimulus is not None:
        add_stimulus(nwb, stimulus, neuron_ids=rec.neuron_ids)
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


def _read_meta(mod) -> dict:
    """The recording's metadata: a parameters table (or, in files before it, JSON text)."""
    from ._nwb_common import read_parameters

    if "parameters" in mod.data_interfaces:
        return read_parameters(mod["parameters"])
    return json.loads(mod["metadata"].to_dataframe()["json"].iloc[0])


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
            meta = _read_meta(mod)
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
