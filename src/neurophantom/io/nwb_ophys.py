"""Imaging recordings as NWB (ophys), with the ground truth in a separate module.

Layout written by :func:`write_imaging`:

- ``general/devices/virtual_microscope``, ``general/optophysiology/imaging_volume``
  (indicator, frame rate, 1 um grid with its origin at the lowest soma coordinate);
- ``processing/ophys/ImageSegmentation/rois``: a PlaneSegmentation with one ROI per
  neuron (a one-voxel mask at the soma, in grid units) and columns ``neuron_id``,
  ``neuron_name``, ``x_um``, ``y_um``, ``z_um``;
- ``processing/ophys/Fluorescence/trial_NNN`` (photons per frame) and
  ``processing/ophys/DfOverF/trial_NNN``: RoiResponseSeries (frames x ROIs), each sample
  the mean over an exposure starting at its timestamp; trials are laid end to end;
- ``processing/ophys/recording_parameters``: config, protocol, stimulated neuron ids and
  seed, one field per row (:func:`~._nwb_common.parameters_table`); ``intervals/trials``:
  start and stop of each trial; ``intervals/stimulation``: every stimulation of every
  trial (window, kind, amplitude, targets); ``general/subject``: the in-silico specimen;
  a UUID4 identifier and the real session start time;
- ``processing/ground_truth``: the simulated activity, **for scoring only**: TimeSeries
  ``<variable>_trial_NNN`` (``membrane_voltage`` mV, ``engine_calcium`` uM,
  ``indicator_calcium`` uM, ``expected_photons`` per frame), ``spikes`` (NWB Units: one
  row per neuron, ``spike_times`` in session time, ragged ``trial``,
  ``time_in_trial_s`` and ``step_time_in_trial_s`` per spike), table ``neurons``
  (neuron_id, photons_rest, calcium_source), and ``truth_parameters``.

:func:`read_imaging` reads only ``processing/ophys`` (what the instrument recorded);
:func:`read_ground_truth` is the only reader of ``processing/ground_truth``. Files are
written under a temporary name in the target folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import CorruptDataError, NeurophantomError
from ._atomic import _fsync_dir

if TYPE_CHECKING:  # imported lazily at run time: io must not import the instruments at load
    from ..instruments.dynamic.results import GroundTruth, ImagingRecording

FORMAT = "neurophantom.imaging"
FORMAT_VERSION = 1
_TRUTH_NAMES = {"v": "membrane_voltage", "ca": "engine_calcium", "calcium": "indicator_calcium"}
_EMISSION_NM = {"calcium": 510.0, "voltage": 515.0}  # GFP-based indicators (GCaMP, ASAP)


def _trial(k: int) -> str:
    return f"trial_{k:03d}"


def _read_params(mod, name: str, old: str) -> dict:
    """A parameters table (or, in files written before it, the JSON-text table ``old``)."""
    from ._nwb_common import read_parameters

    if name in mod.data_interfaces:
        obj = read_parameters(mod[name], f"NWB table {name}")
    else:
        obj = _read_json_table(mod[old])
    if not isinstance(obj, dict):
        raise CorruptDataError(f"NWB table {name} must hold a mapping")
    return obj


def _read_json_table(table) -> dict:
    from ._nwb_check import read_json_cell

    obj = read_json_cell(table, f"NWB table {getattr(table, 'name', 'json')}")
    if not isinstance(obj, dict):
        raise CorruptDataError(f"NWB table {getattr(table, 'name', 'json')} must hold a JSON object")
    return obj


def _add_rois(nwb, rec: "ImagingRecording"):
    from pynwb.ophys import ImageSegmentation, OpticalChannel

    kind = rec.config.indicator.kind
    device = nwb.create_device(name="virtual_microscope", description="neurophantom virtual light-sheet microscope")
    channel = OpticalChannel(name="emission", description="indicator emission", emission_lambda=_EMISSION_NM[kind])
    pos = rec.roi_positions_um
    origin = pos.min(axis=0)
    plane = nwb.create_imaging_plane(
        name="imaging_volume", optical_channel=channel, device=device, excitation_lambda=488.0,
        description="the whole specimen; one ROI per neuron at its soma", indicator=rec.config.indicator.name,
        location="in silico specimen", imaging_rate=float(rec.config.frame_rate_hz),
        grid_spacing=[1.0, 1.0, 1.0], grid_spacing_unit="micrometers",
        origin_coords=[float(x) for x in origin], origin_coords_unit="micrometers",
    )
    ophys = nwb.create_processing_module("ophys", "what the virtual microscope recorded: one ROI per neuron")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(description="one ROI per neuron (soma voxel)", imaging_plane=plane, name="rois")
    for col, desc in (("neuron_id", "neurophantom neuron id"), ("neuron_name", "neuron name"),
                      ("x_um", "soma x (um)"), ("y_um", "soma y (um)"), ("z_um", "soma z (um)")):
        ps.add_column(col, desc)
    names = rec.neuron_names or tuple(str(i) for i in rec.neuron_ids)
    vox = np.rint(pos - origin).astype(np.int64)
    for i, nid in enumerate(rec.neuron_ids):
        x, y, z = (int(c) for c in vox[i])
        ps.add_roi(voxel_mask=[(x, y, z, 1.0)], neuron_id=int(nid), neuron_name=str(names[i]),
                   x_um=float(pos[i, 0]), y_um=float(pos[i, 1]), z_um=float(pos[i, 2]))
    return ophys, ps


def _add_traces(nwb, ophys, ps, rec: "ImagingRecording") -> None:
    from pynwb.ophys import DfOverF, Fluorescence

    from ..instruments.dynamic.protocol import to_stimulus
    from ._nwb_common import add_stimulus, parameters_table

    region = ps.create_roi_table_region(description="all ROIs, one per neuron", region=list(range(len(rec.neuron_ids))))
    fl, dff = Fluorescence(name="Fluorescence"), DfOverF(name="DfOverF")
    ophys.add(fl)  # attach first, so each series' ROI region shares an ancestor with the ROI table
    ophys.add(dff)
    rate = float(rec.config.frame_rate_hz)
    duration_s = rec.protocol.duration_ms / 1000.0
    for k, tr in enumerate(rec.trials):
        t0 = k * duration_s
        fl.create_roi_response_series(name=_trial(k), data=np.asarray(tr.traces["fluorescence"]), rois=region, unit="photons",
                                      rate=rate, starting_time=t0, description="photons per frame, mean over the exposure")
        dff.create_roi_response_series(name=_trial(k), data=np.asarray(tr.traces["dff"]), rois=region, unit="1",
                                       rate=rate, starting_time=t0, description="(F - F0)/F0, F0 a running percentile")
    nwb.add_trial_column("trial_index", "trial number (each trial a separate simulation)")
    for k in range(len(rec.trials)):
        nwb.add_trial(start_time=k * duration_s, stop_time=(k + 1) * duration_s, trial_index=k)
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION, "config": rec.config.model_dump(mode="json"),
        "protocol": rec.protocol.model_dump(mode="json"), "stimulated_ids": [list(s) for s in rec.stimulated_ids],
        "seed": rec.seed, "metadata": dict(rec.metadata), "has_names": rec.neuron_names is not None,
    }
    ophys.add(parameters_table("recording_parameters", "neurophantom imaging metadata, one field per row", meta))
    stim = to_stimulus(rec.protocol, rec.stimulated_ids)
    add_stimulus(nwb, stim, neuron_ids=rec.neuron_ids, trial_starts_s=[k * duration_s for k in range(len(rec.trials))])


def _add_truth(nwb, rec: "ImagingRecording", truth: "GroundTruth") -> None:
    from hdmf.common import DynamicTable, VectorData
    from pynwb import TimeSeries

    from ._nwb_common import parameters_table

    mod = nwb.create_processing_module("ground_truth", "simulated activity behind the recording: for scoring only, never for methods")
    duration_s = rec.protocol.duration_ms / 1000.0
    for k, act in enumerate(truth.activity):
        t0 = k * duration_s
        for var, data in act.traces.items():
            mod.add(TimeSeries(name=f"{_TRUTH_NAMES.get(var, var.replace('.', '__'))}_trial_{k:03d}", data=np.asarray(data),
                               unit=act.units[var], rate=1000.0 / act.sample_dt_ms, starting_time=t0,
                               description=f"ground-truth {var!r}, columns ordered as ground_truth/neurons"))
        mod.add(TimeSeries(name=f"expected_photons_trial_{k:03d}", data=np.asarray(truth.expected_photons[k]), unit="photons",
                           rate=float(rec.config.frame_rate_hz), starting_time=t0, description="noise-free photons per frame"))
    if any(np.size(a.spike_times_ms) for a in truth.activity):
        # A circuit in which no neuron spikes (graded C. elegans neurons) has no spike
        # table: NWB's ragged columns cannot hold a table of only empty rows.
        mod.add(_truth_units(truth, duration_s))
    mod.add(DynamicTable(name="neurons", description="per neuron: id, drawn expression, calcium source", columns=[
        VectorData(name="neuron_id", description="neuron id", data=np.asarray(truth.activity[0].neuron_ids)),
        VectorData(name="photons_rest", description="photons per frame at rest (drawn expression)", data=truth.photons_rest),
        VectorData(name="calcium_source", description="spikes | voltage | engine | none", data=list(truth.calcium_source)),
    ]))
    meta = {"dt_ms": truth.activity[0].dt_ms, "units": dict(truth.activity[0].units),
            "metadata": [dict(a.metadata) for a in truth.activity]}
    mod.add(parameters_table("truth_parameters", "ground-truth metadata, one field per row", json.loads(json.dumps(meta))))


def _truth_units(truth: "GroundTruth", duration_s: float):
    """Ground-truth spikes as NWB Units (one row per neuron, session time), with each
    spike's trial and exact in-trial times as ragged columns (trials are laid end to end)."""
    from pynwb.misc import Units

    units = Units(name="spikes", description="ground-truth spikes of every neuron (for scoring only)",
                  resolution=truth.activity[0].dt_ms / 1000.0)
    for col, desc in (("trial", "trial of each spike"), ("time_in_trial_s", "spike time from its trial's start (s)"),
                      ("step_time_in_trial_s", "start of the crossing step, from the trial's start (s)")):
        units.add_column(col, desc, index=True)
    units.add_column("neuron_id", "neuron id")
    ids = np.asarray(truth.activity[0].neuron_ids)
    trial = np.concatenate([np.full(a.spike_times_ms.size, k, np.int64) for k, a in enumerate(truth.activity)])
    nid = np.concatenate([np.asarray(a.spike_neuron_ids) for a in truth.activity]).astype(np.int64)
    t = np.concatenate([np.asarray(a.spike_times_ms) for a in truth.activity]) / 1000.0
    st = np.concatenate([np.asarray(a.spike_step_times_ms) for a in truth.activity]) / 1000.0
    session = trial * duration_s + t
    for i in ids:
        on = np.flatnonzero(nid == i)
        on = on[np.lexsort((t[on], trial[on]))]
        # Typed arrays, not lists: a circuit in which no neuron spikes (graded C. elegans
        # neurons) has only empty rows, whose dtype a list cannot carry.
        units.add_unit(spike_times=np.asarray(session[on], np.float64), trial=np.asarray(trial[on], np.int64),
                       time_in_trial_s=np.asarray(t[on], np.float64), step_time_in_trial_s=np.asarray(st[on], np.float64),
                       neuron_id=int(i))
    return units


def write_imaging(path: str | os.PathLike, rec: "ImagingRecording", truth: "GroundTruth | None" = None, *,
                  description: str = "neurophantom dynamic imaging", source: str | None = None) -> Path:
    """Write ``rec`` (and ``truth`` in ``processing/ground_truth``, if given) to ``path`` atomically.

    ``source`` names the specimen's source for the NWB Subject (default: the recording's
    ``metadata["circuit_source"]``)."""
    from pynwb import NWBFile

    from ._nwb_common import session_fields, subject

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = session_fields(description)
    nwb = NWBFile(**fields)
    nwb.subject = subject(source or rec.metadata.get("circuit_source"), rec.seed, fields["session_start_time"])
    ophys, ps = _add_rois(nwb, rec)
    _add_traces(nwb, ophys, ps, rec)
    if truth is not None:
        _add_truth(nwb, rec, truth)
    from pynwb import NWBHDF5IO

    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}.", suffix=".nwb", dir=path.parent)
    os.close(fd)
    try:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def _open(path: str | os.PathLike):
    """The NWB file read by pynwb after :func:`~._nwb_check.check_hdf5` (no external links,
    declared sizes within the memory budget); any library failure is one clean line."""
    from pynwb import NWBHDF5IO

    from ._nwb_check import check_hdf5

    path = Path(path)
    if not path.is_file():
        raise NeurophantomError(f"imaging recording not found: {path}")
    check_hdf5(path, "a neurophantom imaging NWB file")
    try:
        with NWBHDF5IO(str(path), "r") as io:
            yield io.read()
    except NeurophantomError:
        raise
    except Exception as exc:  # hdmf/pynwb/h5py/pydantic raise many types for a malformed file
        msg = (str(exc).splitlines() or [""])[0][:160]
        raise CorruptDataError(f"{path} is not a neurophantom imaging NWB file ({exc.__class__.__name__}: {msg})") from None


def _series(container, n: int, what: str, n_rois: int) -> list[np.ndarray]:
    from ._nwb_check import read_array

    out = []
    for k in range(n):
        if _trial(k) not in container.roi_response_series:
            raise KeyError(f"{what}/{_trial(k)}")
        data = container.roi_response_series[_trial(k)].data
        if len(data.shape) != 2 or data.shape[1] != n_rois or (out and data.shape != out[0].shape):
            raise CorruptDataError(f"{what}/{_trial(k)}: shape {list(data.shape)}, expected (frames, {n_rois} ROIs) in every trial")
        out.append(read_array(data, f"{what}/{_trial(k)}", ndim=2).astype(np.float64))
    return out


def read_imaging(path: str | os.PathLike) -> "ImagingRecording":
    """What the instrument recorded (``processing/ophys``); never the ground truth."""
    from ..instruments.dynamic.config import ImagingConfig
    from ..instruments.dynamic.protocol import Protocol
    from ..instruments.dynamic.results import MEASURED_TRACES, ImagingRecording
    from ..types.recording import Recording
    from ._nwb_check import read_array

    with _open(path) as nwb:
        ophys = nwb.processing["ophys"]
        meta = _read_params(ophys, "recording_parameters", "recording_metadata")
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise KeyError("recording_metadata format")
        rois = ophys["ImageSegmentation"]["rois"]
        ids = read_array(rois["neuron_id"].data, "ROI neuron_id", ndim=1, kind="i").astype(np.int64)
        names = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in rois["neuron_name"].data[:])
        pos = np.stack([read_array(rois[c].data, f"ROI {c}", ndim=1) for c in ("x_um", "y_um", "z_um")], axis=1)
        if ids.size == 0 or np.unique(ids).size != ids.size or len(names) != ids.size or pos.shape[0] != ids.size:
            raise CorruptDataError(f"{path}: the ROI table needs one row per neuron, unique ids, a name and a position each")
        protocol = Protocol.model_validate(meta["protocol"])
        config = ImagingConfig.model_validate(meta["config"])
        for group in ("Fluorescence", "DfOverF"):
            have = ophys[group].roi_response_series
            missing = next((_trial(k) for k in range(protocol.trials) if _trial(k) not in have), None)
            if missing is not None or len(have) != protocol.trials:
                raise CorruptDataError(f"{path}: the protocol has {protocol.trials} trials; {group}/"
                                       f"{missing or 'trial_*'} does not match (missing or extra series)")
        fl = _series(ophys["Fluorescence"], protocol.trials, "Fluorescence", ids.size)
        dff = _series(ophys["DfOverF"], protocol.trials, "DfOverF", ids.size)
        stim = meta.get("stimulated_ids")
        if not isinstance(stim, list) or any(not isinstance(x, list) for x in stim) or not isinstance(meta.get("seed"), int):
            raise CorruptDataError(f"{path}: recording metadata needs stimulated_ids (lists) and an integer seed")
    times = np.arange(fl[0].shape[0]) * config.frame_period_ms
    trials = tuple(
        Recording(time_ms=times, neuron_ids=ids, traces={"fluorescence": f, "dff": d}, units=dict(MEASURED_TRACES),
                  dt_ms=config.frame_period_ms, neuron_names=names if meta.get("has_names") else None,
                  metadata={"trial": k, "trial_start_ms": k * protocol.duration_ms})
        for k, (f, d) in enumerate(zip(fl, dff))
    )
    return ImagingRecording(trials=trials, config=config, protocol=protocol, stimulated_ids=tuple(tuple(s) for s in meta["stimulated_ids"]),
                            roi_positions_um=pos, seed=int(meta["seed"]), metadata=meta.get("metadata", {}))


def _read_spikes(table) -> dict[str, np.ndarray]:
    """Flat per-spike arrays (trial, neuron_id, time_in_trial_s, step_time_in_trial_s) from
    the Units table (or the flat table of files written before it)."""
    names = ("trial", "time_in_trial_s", "step_time_in_trial_s")
    if "spike_times" not in table.colnames:
        return {c: np.asarray(table[c].data[:]) for c in ("neuron_id", *names)}
    ids = np.asarray(table["neuron_id"].data[:], dtype=np.int64)
    out = {c: [np.asarray(table[c][i], dtype=np.float64) for i in range(len(ids))] for c in names}
    out["neuron_id"] = [np.full(len(out["trial"][i]), ids[i], np.int64) for i in range(len(ids))]
    flat = {c: np.concatenate(v) if v else np.zeros(0) for c, v in out.items()}
    flat["trial"] = flat["trial"].astype(np.int64)
    order = np.lexsort((flat["neuron_id"], flat["time_in_trial_s"], flat["trial"]))
    return {c: v[order] for c, v in flat.items()}


def read_ground_truth(path: str | os.PathLike) -> "GroundTruth":
    """The simulated activity behind a recording (``processing/ground_truth``), for scoring."""
    from ..instruments.dynamic.results import GroundTruth
    from ..types.recording import Recording

    reverse = {v: k for k, v in _TRUTH_NAMES.items()}
    with _open(path) as nwb:
        if "ground_truth" not in nwb.processing:
            raise NeurophantomError(f"{path} holds no ground truth (written without it)")
        mod = nwb.processing["ground_truth"]
        meta = _read_params(mod, "truth_parameters", "truth_metadata")
        neurons = mod["neurons"]
        ids = np.asarray(neurons["neuron_id"].data[:], dtype=np.int64)
        rest = np.asarray(neurons["photons_rest"].data[:], dtype=np.float64)
        source = tuple(str(s) for s in neurons["calcium_source"].data[:])
        spikes = (_read_spikes(mod["spikes"]) if "spikes" in mod.data_interfaces else
                  {c: np.zeros(0, np.int64 if c in ("trial", "neuron_id") else np.float64)
                   for c in ("trial", "neuron_id", "time_in_trial_s", "step_time_in_trial_s")})
        n_trials = len(meta["metadata"])
        acts, expected = [], []
        for k in range(n_trials):
            suffix = f"_trial_{k:03d}"
            traces, units, rate = {}, {}, None
            for name, obj in mod.data_interfaces.items():
                if name.endswith(suffix) and not name.startswith("expected_photons"):
                    var = name[: -len(suffix)]
                    var = reverse.get(var, var.replace("__", "."))
                    traces[var] = np.asarray(obj.data[:], dtype=np.float64)
                    units[var] = obj.unit
                    rate = obj.rate
            expected.append(np.asarray(mod[f"expected_photons{suffix}"].data[:], dtype=np.float64))
            on = spikes["trial"] == k
            n_samples = next(iter(traces.values())).shape[0]
            acts.append(Recording(
                time_ms=np.arange(n_samples) * 1000.0 / rate, neuron_ids=ids, traces=traces, units=units, dt_ms=float(meta["dt_ms"]),
                spike_neuron_ids=spikes["neuron_id"][on].astype(np.int64), spike_times_ms=spikes["time_in_trial_s"][on] * 1000.0,
                spike_step_times_ms=spikes["step_time_in_trial_s"][on] * 1000.0, metadata=meta["metadata"][k],
            ))
    return GroundTruth(activity=tuple(acts), expected_photons=np.stack(expected), photons_rest=rest, calcium_source=source)
