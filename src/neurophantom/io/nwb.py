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
    if rec.spike_times_ms.size:
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
        # Typed explicitly: hdmf cannot infer the type of a column whose rows are all
        # empty (a recording in which no neuron spiked).
        col = nwb.units["spike_step_times"]
        getattr(col, "target", col).transform(lambda d: np.asarray(d, dtype=np.float64))
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


def _read_meta(mod, path) -> dict:
    """The recording's metadata: a parameters table (or, in files before it, JSON text),
    read with the bounded parsers."""
    from ._nwb_check import read_json_cell
    from ._nwb_common import read_parameters

    if "parameters" in mod.data_interfaces:
        return read_parameters(mod["parameters"], f"{path} parameters")
    return read_json_cell(mod["metadata"], f"{path} metadata")


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a Recording written by :func:`write_recording` (one-line errors on bad files).

    Checked before any array is read: no external links, declared sizes within the memory
    budget (:mod:`._nwb_check`); then the metadata's fields, one trace column per neuron of
    the neuron table (unique ids), every declared trace present, finite values, a positive
    sampling rate, spikes of known neurons at finite times inside the recording.
    """
    from pynwb import NWBHDF5IO

    from ..types._header import Header
    from ._nwb_check import check_hdf5, read_array, read_json_cell

    path = Path(path)
    if not path.is_file():
        raise NeurophantomError(f"recording not found: {path}")
    check_hdf5(path, "a neurophantom NWB recording")
    try:
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            if "neurophantom" not in nwb.processing:
                what = "an imaging recording (read it with read_imaging)" if "ophys" in nwb.processing else "not a neurophantom recording"
                raise CorruptDataError(f"{path} is {what}: no processing/neurophantom module")
            mod = nwb.processing["neurophantom"]
            meta = Header(_read_meta(mod, path), f"{path} metadata")
            dt_ms = meta.float("dt_ms", positive=True, hi=1e6)
            declared = meta.dict("units")
            extra = meta.dict("metadata", default={})
            has_names = meta.raw("has_names", False)
            if not isinstance(has_names, bool) or any(not isinstance(u, str) for u in declared.values()):
                raise CorruptDataError(f"{path} metadata: has_names must be true/false and units text")
            ntab = mod["neurons"]
            ids = read_array(ntab["neuron_id"].data, f"{path} neuron_id", ndim=1, kind="i").astype(np.int64)
            names = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in ntab["neuron_name"].data[:])
            if len(names) != ids.size:
                raise CorruptDataError(f"{path}: {ids.size} neuron ids but {len(names)} names")
            if np.unique(ids).size != ids.size:
                raise CorruptDataError(f"{path}: neuron ids repeat")
            traces, units, time_ms = {}, {}, None
            for nm, ts in nwb.acquisition.items():
                key = _trace_name(nm)
                where = f"{path} acquisition/{nm}"
                shape = tuple(ts.data.shape)
                if len(shape) != 2 or shape[1] != ids.size:
                    raise CorruptDataError(f"{where}: shape {list(shape)}, expected (time, {ids.size} neurons)")
                rate = ts.rate
                if rate is None or not np.isfinite(rate) or not rate > 0:
                    raise CorruptDataError(f"{where}: sampling rate {rate} must be a positive number")
                t0 = (ts.starting_time or 0.0) * 1000.0
                if not np.isfinite(t0):
                    raise CorruptDataError(f"{where}: starting time must be finite")
                t = t0 + np.arange(shape[0]) * 1000.0 / rate
                if time_ms is not None and (t.shape != time_ms.shape or not np.allclose(t, time_ms)):
                    raise CorruptDataError(f"{where}: sampled at other times than the other traces")
                traces[key] = read_array(ts.data, where, ndim=2)
                units[key] = ts.unit
                if key in declared and declared[key] != ts.unit:
                    raise CorruptDataError(f"{where}: unit {ts.unit!r}, the metadata says {declared[key]!r}")
                time_ms = t
            if set(traces) != set(declared):
                raise CorruptDataError(f"{path}: the metadata declares traces {sorted(declared)}, the file holds {sorted(traces)}")
            sid, st, sst = [], [], []
            if nwb.units is not None:
                u = nwb.units
                uid = read_array(u["neuron_id"].data, f"{path} units neuron_id", ndim=1, kind="i").astype(np.int64)
                if np.unique(uid).size != uid.size or not np.isin(uid, ids).all():
                    raise CorruptDataError(f"{path}: the units table names unknown or repeated neuron ids")
                for col in ("spike_times", "spike_step_times"):
                    read_array(u[col].target.data, f"{path} units {col}", ndim=1)  # kind, size, finite
                for k in range(uid.size):
                    t = np.asarray(u["spike_times"][k], dtype=np.float64) * 1000.0
                    ts_ = np.asarray(u["spike_step_times"][k], dtype=np.float64) * 1000.0
                    if t.shape != ts_.shape:
                        raise CorruptDataError(f"{path}: units row {k} has {t.size} spike times and {ts_.size} step times")
                    sid.append(np.full(t.size, uid[k]))
                    st.append(t)
                    sst.append(ts_)
    except NeurophantomError:
        raise
    except Exception as exc:  # hdmf/pynwb/h5py raise many types for a malformed file
        msg = (str(exc).splitlines() or [""])[0][:160]
        raise CorruptDataError(f"{path} is not a neurophantom NWB recording ({exc.__class__.__name__}: {msg})") from None
    if time_ms is None:
        time_ms = np.zeros(0)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    ids_s, t_s, ts_s = cat(sid, np.int64), cat(st, np.float64), cat(sst, np.float64)
    step = float(time_ms[1] - time_ms[0]) if time_ms.size > 1 else dt_ms
    end = float(time_ms[-1]) + step if time_ms.size else np.inf
    if t_s.size and (t_s.min() < (time_ms[0] if time_ms.size else 0.0) - dt_ms or t_s.max() > end + dt_ms):
        raise CorruptDataError(f"{path}: spike times lie outside the recording")
    order = np.lexsort((ids_s, t_s))
    try:
        return Recording(
            time_ms=time_ms, neuron_ids=ids, traces=traces, units=units, dt_ms=dt_ms,
            spike_neuron_ids=ids_s[order], spike_times_ms=t_s[order], spike_step_times_ms=ts_s[order],
            neuron_names=names if has_names else None, metadata=extra,
        )
    except NeurophantomError as exc:
        raise CorruptDataError(f"{path}: {exc}") from None
