"""``reconstruct(scan, config) -> Reconstruction``: the stage's one entry point.

The stages run in order, each a plain function that can be swapped (:class:`Stages`):

1. ``segment``: membrane channel -> neuron labels (:mod:`.segment`);
2. ``contacts``: contact faces and per-segment sizes (:mod:`.contacts`);
3. ``decode``: barcode puncta -> protein counts (:mod:`.puncta`);
4. ``synapses``: contacts -> synapses, partners, direction, release sites (:mod:`.synapses`);
5. ``morphology``: soma, skeleton, features per neuron (:mod:`.morphology`);

then :mod:`.assemble` builds the recovered Circuit. Only the Scan is read: no label
volume, no molecule or synapse table of the specimen (a test checks the imports).

The recovered neurons carry the reconstruction's own ids (segment ids, ``seg000123``);
release mode ``"spike"`` unless ``config.release == "na_density"``; cell type
``"unknown"`` unless ``config.morphology.cell_type_clusters`` asks for k-means types.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import dask.array as da
import numpy as np
import pandas as pd

from .._errors import CorruptDataError, NeurophantomError
from ..types import Circuit
from ..types.scan import Scan
from .assemble import build_circuit, neuron_table, synapse_table
from .chunks import Grid, WorkStore
from .config import ReconstructConfig
from .contacts import scan_contacts
from .glia import glia_segments, glia_table
from .membrane import membrane_channel
from .morphology import morphology as morphology_stage
from .puncta import find_and_decode
from .segment import segment as segment_stage
from .synapses import detect_synapses

FILES = {"segmentation": "segmentation.ome.zarr", "morphology": "morphology.parquet",
         "uncertainty": "uncertainty.parquet", "puncta": "puncta.parquet", "contacts": "contacts.parquet",
         "record": "reconstruction.json"}
RECORD_FORMAT = "neurophantom.reconstruction"
RECORD_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Stages:
    """The swappable stages (defaults: the built-in ones; signatures as theirs)."""

    segment: Callable = segment_stage
    contacts: Callable = scan_contacts
    decode: Callable = find_and_decode
    synapses: Callable = detect_synapses
    morphology: Callable = morphology_stage


@dataclasses.dataclass(frozen=True, eq=False)
class Reconstruction:
    """What :func:`reconstruct` recovered.

    Attributes
    ----------
    circuit : Circuit
        The recovered annotated hypergraph (ids are segment ids).
    segmentation : dask.array.Array
        (z, y, x) uint32 segment labels on the scan's voxel grid (0 = background).
    voxel_size_nm, origin_nm : (z, y, x)
        The scan's voxel grid in the specimen frame.
    morphology : DataFrame
        One row per neuron: size, surface, lost surface, soma, skeleton features.
    uncertainty : DataFrame
        One row per (site, protein): estimated count and its sd, density and its sd,
        undecided molecules, observed flag (``kind`` "receptor" rows per synapse partner,
        "channel" rows per neuron).
    puncta : DataFrame
        Every decoded punctum (voxel coordinates, segment, counts per protein).
    contacts : DataFrame
        Every contact patch (kind, direction rule, thickness, molecules per side).
    glia : DataFrame
        (property) Segments called astrocytes, from the record.
    record : dict
        Config, scan summary, per-stage facts and timings.
    """

    circuit: Circuit
    segmentation: da.Array
    voxel_size_nm: tuple[float, float, float]
    origin_nm: tuple[float, float, float]
    morphology: pd.DataFrame
    uncertainty: pd.DataFrame
    puncta: pd.DataFrame
    contacts: pd.DataFrame
    record: dict
    _store: Any = None

    @property
    def glia(self) -> pd.DataFrame:
        """Segments called astrocytes (:mod:`.glia`): id, size, marker count, position (um,
        specimen frame). They stay in the segmentation and are not neurons of the circuit."""
        return glia_table((self.record.get("glia") or {}).get("segments") or [])

    def save(self, path: str | os.PathLike, *, progress: bool = False) -> Path:
        """Write the Circuit folder plus segmentation.ome.zarr and the tables, atomically."""
        from ..io import atomic_dir, atomic_write_json
        from ..io.omezarr import write_ome_zarr

        path = Path(path)
        with atomic_dir(path) as tmp:
            inner = self.circuit.save(tmp / ".circuit")
            for f in inner.iterdir():
                os.replace(f, tmp / f.name)
            inner.rmdir()
            chunks = tuple(c[0] for c in self.segmentation.chunks)
            write_ome_zarr(tmp / FILES["segmentation"], self.segmentation, axes=("z", "y", "x"), scale=self.voxel_size_nm,
                           chunks=chunks, name="segmentation", progress=progress, label="segmentation",
                           attributes={"neurophantom": {"kind": "segmentation", "background": 0,
                                                        "origin_nm": list(self.origin_nm)}})
            for name in ("morphology", "uncertainty", "puncta", "contacts"):
                getattr(self, name).to_parquet(tmp / FILES[name], index=False)
            from ..io import file_checksums

            files = file_checksums(tmp, [FILES[n] for n in ("morphology", "uncertainty", "puncta", "contacts")])
            atomic_write_json(tmp / FILES["record"], {**self.record, "format": RECORD_FORMAT, "version": RECORD_VERSION,
                                                      "files": files})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Reconstruction":
        """Open a reconstruction folder (segmentation stays lazy and verified per chunk);
        the record, the tables and their checksums are validated (:mod:`._schema`)."""
        from ..io import read_json
        from ..io.omezarr import read_ome_zarr
        from ._schema import check_record, check_tables

        path = Path(path)
        if not path.is_dir():
            raise NeurophantomError(f"reconstruction folder not found: {path}")
        circuit = Circuit.load(path)
        if circuit.provenance.source != "reconstruction":
            raise NeurophantomError(f"{path} holds a circuit from {circuit.provenance.source!r}, not a reconstruction")
        for name in FILES.values():
            if not (path / name).exists():
                raise CorruptDataError(f"reconstruction file missing: {path / name}")
        record = read_json(path / FILES["record"], "reconstruction record")
        vs, origin, shape = check_record(record, path, RECORD_FORMAT, RECORD_VERSION)
        from ..io import contained

        image = read_ome_zarr(contained(path, FILES["segmentation"], f"reconstruction {path}"))
        if image.axes != ("z", "y", "x"):
            raise CorruptDataError(f"{path / FILES['segmentation']}: axes {image.axes}, expected (z, y, x)")
        if not np.allclose(vs, image.voxel_size_nm, rtol=1e-9):
            raise CorruptDataError(f"{path}: voxel size of the segmentation {image.voxel_size_nm} differs from the record {vs}")
        if tuple(image.data.shape) != shape or np.dtype(image.data.dtype).kind != "u":
            raise CorruptDataError(f"{path}: the segmentation is {image.data.dtype} {list(image.data.shape)}, "
                                   f"the record says unsigned labels of {list(shape)}")
        from ..types.circuit import read_parquet

        tables = {name: read_parquet(path / FILES[name], f"reconstruction table {name!r}")
                  for name in ("morphology", "uncertainty", "puncta", "contacts")}
        check_tables(tables, circuit, path)
        return cls(circuit=circuit, segmentation=image.data, voxel_size_nm=vs, origin_nm=origin, record=record, **tables)


def _scan_record(scan: Scan) -> dict:
    h = scan.header()
    keep = ("instrument", "shape", "voxel_size_nm", "origin_nm", "lost_fraction", "lost_regions", "seed", "provenance")
    out = {k: h[k] for k in keep}
    out["channels"] = [c["name"] for c in h["channels"]]
    out["barcode"] = None if scan.codebook is None else {"scheme": scan.codebook.scheme, "proteins": list(scan.codebook.proteins)}
    return out


def _clean(obj):
    """JSON-safe copy (NaN/inf -> None, numpy scalars -> Python)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def _glia(scan: Scan, model, puncta: pd.DataFrame, segments: pd.DataFrame, config: ReconstructConfig) -> pd.DataFrame:
    g = config.glia
    proteins = tuple(model.proteins) if model is not None else ()
    return glia_segments(puncta, proteins, segments, scan.voxel_size_nm, scan.origin_nm, tuple(g.markers), g.min_markers,
                         g.marker_fraction, model.efficiency if model is not None else 1.0)


def _without(cs, ids: np.ndarray):
    """The contact scan without the segments ``ids`` (astrocytes): their contacts are not
    synapses and they are not neurons (they stay in the segmentation)."""
    if len(ids) == 0:
        return cs
    f = cs.faces
    keep = ~(f["a"].isin(ids) | f["b"].isin(ids)).to_numpy()
    return dataclasses.replace(cs, faces=f[keep].reset_index(drop=True), segments=cs.segments.drop(index=ids))


def reconstruct(scan: Scan, config: ReconstructConfig | dict | None = None, *, stages: Stages | None = None,
                workdir: str | os.PathLike | None = None) -> Reconstruction:
    """Recover the annotated hypergraph (a Circuit) from a Scan.

    Parameters
    ----------
    scan : Scan
        What an instrument produced. Its images are read chunk by chunk with halos;
        persist (``images.persist()``) or save a freshly computed scan first, so that
        blocks are not recomputed for every read.
    config : ReconstructConfig or dict, optional
        Stage settings (defaults: :class:`ReconstructConfig`).
    stages : Stages, optional
        Replacement stage functions.
    workdir : path, optional
        Folder for scratch volumes (default: a temporary folder removed with the result).

    Returns
    -------
    Reconstruction
        The recovered Circuit with its segmentation, morphology, uncertainty, puncta and
        contact tables; :meth:`Reconstruction.save` writes them.
    """
    if not isinstance(scan, Scan):
        raise NeurophantomError(f"reconstruct: expected a Scan, got {type(scan).__name__}")
    if isinstance(config, dict):
        try:
            config = ReconstructConfig.model_validate(config)
        except Exception as exc:  # pydantic.ValidationError
            first = str(exc).splitlines()
            raise NeurophantomError(f"reconstruct config: {' '.join(first[1:3]).strip() or first[0]}") from None
    config = config or ReconstructConfig()
    stages = stages or Stages()
    membrane_channel(scan)  # fail early, before any work
    grid = Grid(scan.shape, tuple(int(c) for c in config.chunk_vox))
    store = WorkStore(grid, workdir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        seg = stages.segment(scan, grid, store, config.segmentation)
        timings["segment_s"] = time.perf_counter() - t0
        vmin = min(scan.voxel_size_nm)
        margin = int(np.ceil(config.synapses.lost_margin_nm / vmin)) if scan.lost_mask is not None else 0
        t = time.perf_counter()
        cs = stages.contacts(grid, store, seg.n_segments, margin)
        timings["contacts_s"] = time.perf_counter() - t
        t = time.perf_counter()
        model, puncta = stages.decode(scan, grid, store, config.decoding)
        timings["decode_s"] = time.perf_counter() - t
        glia = _glia(scan, model, puncta, cs.segments, config)
        cs = _without(cs, glia["id"].to_numpy())
        t = time.perf_counter()
        patches, syn_facts = stages.synapses(cs.faces, puncta, model, store, scan.voxel_size_nm, config.synapses, cs.segments)
        timings["synapses_s"] = time.perf_counter() - t
        t = time.perf_counter()
        morph = stages.morphology(cs.segments, store, scan.voxel_size_nm, config.morphology)
        timings["morphology_s"] = time.perf_counter() - t
    except BaseException:
        store.close()
        raise
    neurons, morph_table, unc_ch = neuron_table(scan, cs.segments, morph, cs.faces, puncta, model, config)
    synapses, gaps, unc_rc = synapse_table(scan, patches, model, config)
    record = _clean({
        "config": config.model_dump(mode="json"), "scan": _scan_record(scan),
        "segmentation": {"segments": seg.n_segments, "lumen_segments": seg.n_lumen_segments, **seg.stats},
        "synapses": syn_facts,
        "glia": {"markers": [p for p in (model.proteins if model is not None else ()) if p in config.glia.markers],
                 "segments": glia.to_dict(orient="records")},
        "decoding": None if model is None else {"scheme": model.scheme, "proteins": list(model.proteins),
                                                "labelling_efficiency": model.efficiency,
                                                "mixtures_identifiable": model.identifiable,
                                                "puncta": int(len(puncta)),
                                                "unknown_molecules": float(puncta["unknown"].sum()) if len(puncta) else 0.0},
        "timings": {**timings, "total_s": time.perf_counter() - t0},
    })
    meta = {"reconstruction": {"files": dict(FILES), "geometry_scale": config.geometry_scale,
                               "scan": record["scan"], "segments": seg.n_segments}}
    circuit = build_circuit(scan, neurons, synapses, gaps, model, config, meta)
    uncertainty = pd.concat([d for d in (unc_rc, unc_ch) if len(d)], ignore_index=True) if len(unc_rc) or len(unc_ch) else \
        pd.DataFrame({c: np.zeros(0) for c in ("kind", "synapse_id", "neuron", "protein", "count", "count_sd",
                                                   "density_per_um2", "density_sd", "area_um2", "unknown_molecules", "observed")})
    labels = da.from_array(store["segmentation"], chunks=grid.chunk, name=f"segmentation-{id(store)}")
    result = Reconstruction(circuit=circuit, segmentation=labels, voxel_size_nm=tuple(scan.voxel_size_nm),
                            origin_nm=tuple(scan.origin_nm), morphology=morph_table, uncertainty=uncertainty,
                            puncta=puncta, contacts=patches, record=json.loads(json.dumps(record)), _store=store)
    weakref.finalize(result, store.close)
    return result
