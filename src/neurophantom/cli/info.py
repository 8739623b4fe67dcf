"""``neurophantom info``: summarise any artifact neurophantom writes.

Circuit, reconstruction, phantom and scan folders; simulation and imaging NWB files (or the
folder holding ``recording.nwb``); a single ``.ome.zarr`` store; Brian2 and NeuroML
exports; ``score`` folders; run folders and their stage folders. Each is read through its
validating reader, so ``info`` is also a quick integrity check of the headers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from .._errors import CorruptDataError, NeurophantomError
from . import app
from ._common import out as stdout


def _info_circuit(path: Path) -> dict:
    from ..types import Circuit

    c = Circuit.load(path)
    h = c.header()
    return {"kind": "circuit", "path": str(path), **{k: h[k] for k in ("source", "dataset", "seed", "counts", "channel_types", "receptor_types")}}


def _info_reconstruction(path: Path) -> dict:
    from ..reconstruct import Reconstruction

    r = Reconstruction.load(path)
    c = r.circuit
    return {"kind": "reconstruction", "path": str(path), "neurons": c.n_neurons, "synapses": c.n_synapses,
            "synapse_partners": c.n_synapse_partners, "gap_junctions": len(c.gap_junctions),
            "segmentation_shape": [int(s) for s in r.segmentation.shape], "voxel_size_nm": list(r.voxel_size_nm),
            "instrument": r.record.get("scan", {}).get("instrument")}


def _hdf5_modules(path: Path) -> set[str]:
    import h5py

    from ..io._nwb_check import check_hdf5

    check_hdf5(path, "a neurophantom NWB file")
    with h5py.File(path, "r") as fh:
        proc = fh.get("processing")
        return set(proc.keys()) if proc is not None else set()


def _info_nwb(path: Path) -> dict:
    modules = _hdf5_modules(path)
    if "ophys" in modules:
        return _info_imaging(path)
    if "neurophantom" in modules:
        return _info_recording(path)
    raise CorruptDataError(f"{path} is an NWB file neurophantom did not write (no processing/neurophantom or /ophys)")


def _info_recording(path: Path) -> dict:
    from ..io.nwb import read_recording

    r = read_recording(path)
    return {
        "kind": "recording",
        "path": str(path),
        "neurons": int(r.neuron_ids.size),
        "samples": int(r.time_ms.size),
        "sample_dt_ms": r.sample_dt_ms,
        "traces": {k: r.units[k] for k in r.traces},
        "spikes": int(r.spike_times_ms.size),
    }


def _info_imaging(path: Path) -> dict:
    from ..io.nwb_ophys import read_imaging

    r = read_imaging(path)
    return {"kind": "imaging recording", "path": str(path), "neurons": int(len(r.neuron_ids)), "trials": len(r.trials),
            "frames_per_trial": int(len(r.frame_times_ms)), "frame_rate_hz": r.config.frame_rate_hz,
            "indicator": r.config.indicator.name, "protocol_duration_ms": r.protocol.duration_ms, "seed": r.seed}


def _info_omezarr(path: Path) -> dict:
    from ..io.omezarr import read_ome_zarr

    img = read_ome_zarr(path)
    kind = img.attributes.get("neurophantom", {}).get("kind") if isinstance(img.attributes.get("neurophantom"), dict) else None
    return {"kind": "ome-zarr image", "path": str(path), "contents": kind, "shape": [int(s) for s in img.data.shape],
            "dtype": str(img.data.dtype), "axes": list(img.axes), "scale": list(img.scale), "units": list(img.units),
            "chunks": [int(c[0]) for c in img.data.chunks]}


def _info_brian2(path: Path) -> dict:
    from ..io import read_json
    from ..types._header import Header

    h = Header(read_json(path / "spec.json", "Brian2 export spec"), str(path / "spec.json"))
    try:
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: list(z[k].shape) for k in z.files[:200]}
    except Exception as exc:  # zipfile/numpy raise several types for a damaged archive
        raise CorruptDataError(f"{path / 'arrays.npz'} is unreadable ({exc.__class__.__name__})") from None
    syn = h.list("synapses", default=[])
    return {"kind": "brian2 export", "path": str(path), "neurons": h.int("n", lo=0), "dt_ms": h.float("dt_ms", positive=True),
            "duration_ms": h.float("duration_ms", positive=True), "synapse_groups": len(syn), "arrays": len(arrays)}


def _xml_root(path: Path):
    from lxml import etree

    from ..io._parse import MAX_BYTES

    if path.stat().st_size > MAX_BYTES:
        raise CorruptDataError(f"{path} is larger than {MAX_BYTES} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise CorruptDataError(f"{path} is not valid XML ({str(exc).splitlines()[0][:120]})") from None


def _counter(root):
    from lxml import etree

    tags: dict[str, int] = {}
    for e in root.iter():
        if isinstance(e.tag, str):
            name = etree.QName(e).localname
            tags[name] = tags.get(name, 0) + 1
    return lambda *names: sum(tags.get(n, 0) for n in names)


def _info_neuroml(path: Path) -> dict:
    from lxml import etree

    root = _xml_root(path)
    if etree.QName(root).localname != "neuroml":
        raise CorruptDataError(f"{path} is not a NeuroML document (root <{etree.QName(root).localname}>)")
    count = _counter(root)
    return {"kind": "neuroml export", "path": str(path), "id": root.get("id"), "populations": count("population"),
            "instances": count("instance"),
            "projections": count("projection", "electricalProjection", "continuousProjection"),
            "connections": count("connectionWD", "connection", "electricalConnectionInstanceW", "continuousConnectionInstanceW"),
            "inputs": count("input", "inputW"), "component_types": count("ComponentType")}


def _info_lems(path: Path) -> dict:
    """A NeuroML export's LEMS simulation (``LEMS_X.xml``) or custom components file."""
    from lxml import etree

    root = _xml_root(path)
    if etree.QName(root).localname != "Lems":
        raise CorruptDataError(f"{path} is not a LEMS file (root <{etree.QName(root).localname}>)")
    sim = root.find("Simulation")
    if sim is None:
        return {"kind": "lems components", "path": str(path), "components": len(root.findall("Component"))}
    return {"kind": "neuroml simulation", "path": str(path), "length": sim.get("length"), "step": sim.get("step"),
            "target": sim.get("target"), "includes": [e.get("file") for e in root.findall("Include")][:20],
            "outputs": len(sim.findall("OutputFile")) + len(sim.findall("EventOutputFile"))}


def _info_score(path: Path) -> dict:
    from ..io import read_json

    j = read_json(path / "score.json", "score")
    if not isinstance(j, dict):
        raise CorruptDataError(f"{path / 'score.json'} must hold a JSON object")
    seg = j.get("segmentation") if isinstance(j.get("segmentation"), dict) else {}
    return {"kind": "score", "path": str(path), "sections": sorted(j), "voi_split": seg.get("voi_split"),
            "voi_merge": seg.get("voi_merge")}


def _info_stage(path: Path) -> dict:
    from ..io import read_json, verify_checksums
    from ..pipeline.runner import MARKER

    m = read_json(path / MARKER, "stage marker")
    if not isinstance(m, dict) or not isinstance(m.get("stage"), str):
        raise CorruptDataError(f"{path / MARKER} is not a stage marker")
    files = m.get("files")
    if isinstance(files, dict):
        verify_checksums(path, files, f"stage {path.name}")
    return {"kind": "run stage", "path": str(path), "stage": m["stage"], "files": len(files) if isinstance(files, dict) else None,
            "verified": isinstance(files, dict), "seconds": m.get("seconds")}


def _info_run(path: Path) -> dict:
    from ..io import read_json
    from ..pipeline.runner import read_cache_log

    cfg = read_json(path / "config.json", "run config")
    if not isinstance(cfg, dict):
        raise CorruptDataError(f"{path / 'config.json'} must hold a JSON object")
    stages = sorted(p.name for p in (path / "stages").iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if (path / "stages").is_dir() else []
    scores = read_json(path / "scores.json", "run scores") if (path / "scores.json").is_file() else None
    return {"kind": "run", "path": str(path), "preset": cfg.get("preset"), "stages": len(stages),
            "cache_events": len(read_cache_log(path)), "finished": isinstance(scores, dict),
            "report": (path / "report.html").is_file()}


def _is_zarr_image(p: Path) -> bool:
    return p.is_dir() and (p / "zarr.json").is_file() and p.name.endswith(".zarr")


#: Artifact detectors, most specific first: (predicate on path, summariser).
DETECTORS = [
    (lambda p: p.is_dir() and (p / "config.json").is_file() and ((p / "stages").is_dir() or (p / "cache.log").is_file()), _info_run),
    (lambda p: p.is_dir() and (p / "_stage.json").is_file(), _info_stage),
    (lambda p: p.is_dir() and (p / "reconstruction.json").is_file(), _info_reconstruction),
    (lambda p: p.is_dir() and (p / "circuit.json").is_file(), _info_circuit),
    (lambda p: p.is_file() and p.suffix == ".nwb", _info_nwb),
    (lambda p: p.is_dir() and (p / "recording.nwb").is_file(), lambda p: _info_nwb(p / "recording.nwb")),
    (lambda p: p.is_dir() and (p / "scan.json").is_file(), lambda p: __import__("neurophantom.cli.scan", fromlist=["info_scan"]).info_scan(p)),
    (lambda p: p.is_dir() and (p / "phantom.json").is_file(), lambda p: __import__("neurophantom.cli.tissue", fromlist=["info_phantom"]).info_phantom(p)),
    (_is_zarr_image, _info_omezarr),
    (lambda p: p.is_dir() and (p / "spec.json").is_file() and (p / "arrays.npz").is_file(), _info_brian2),
    (lambda p: p.is_file() and p.name.endswith(".nml"), _info_neuroml),
    (lambda p: p.is_file() and p.suffix == ".xml", _info_lems),
    (lambda p: p.is_dir() and (p / "score.json").is_file(), _info_score),
]


@app.command("info")
def info_cmd(
    path: Path = typer.Argument(..., help="an artifact: Circuit, reconstruction, phantom, scan or run folder; "
                                          "recording.nwb; an .ome.zarr store; a Brian2 or NeuroML export (.net.nml, LEMS .xml)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON only"),
) -> None:
    """Summarise an artifact written by neurophantom (reading it through its validating reader)."""
    if not path.exists():
        raise NeurophantomError(f"path not found: {path}")
    for pred, fn in DETECTORS:
        if pred(path):
            info = fn(path)
            break
    else:
        raise NeurophantomError(f"not a neurophantom artifact: {path}")
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            stdout.print(f"[bold]{k}[/bold]: {v}", soft_wrap=True)
