"""What a saved reconstruction folder must hold, checked by :meth:`Reconstruction.load`.

``reconstruction.json``: ``format``/``version`` (when written by a version that records
them), the checksums of the side tables (``files``), and a ``scan`` record with the voxel
grid (finite, positive voxel size; finite origin; shape). The side tables: the columns
below with their kinds and ranges; ``morphology`` has exactly one row per recovered neuron.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._errors import CorruptDataError
from ..io import verify_checksums
from ..types._header import Header
from ..types._tables import Col, check_table

_POS = Col("float", lo=-1e12, hi=1e12)
_NONNEG = Col("float", lo=0)
MORPHOLOGY = {
    "id": Col("int"), "name": Col("str"), "voxels": Col("int", lo=1), "volume_um3": _NONNEG, "area_um2": _NONNEG,
    "lost_area_um2": _NONNEG, "lost_boundary_fraction": Col("float", lo=0, hi=1),
    "soma_z_um": _POS, "soma_y_um": _POS, "soma_x_um": _POS, "soma_radius_um": _NONNEG,
    # Without skeletons (``morphology.skeletons=False``): NaN length, -1 counts.
    "cable_length_um": Col("float", nan=True, lo=0), "n_branch_points": Col("int", lo=-1), "n_terminals": Col("int", lo=-1),
    "mean_radius_um": Col("float", nan=True, lo=0), "median_radius_um": Col("float", nan=True, lo=0),
}
UNCERTAINTY = {
    "kind": Col("str"), "synapse_id": Col("int"), "neuron": Col("int"), "protein": Col("str"),
    "count": Col("float", nan=True, lo=0), "count_sd": Col("float", nan=True, lo=0),
    "density_per_um2": Col("float", nan=True, lo=0), "density_sd": Col("float", nan=True, lo=0),
    "area_um2": _NONNEG, "unknown_molecules": _NONNEG, "observed": Col("bool"),
}
CONTACTS = {
    "patch": Col("int", lo=0), "seg_a": Col("int"), "seg_b": Col("int"), "n_faces": Col("int", lo=1),
    "area_nm2": _NONNEG, "near_lost": Col("bool"), "z_nm": _POS, "y_nm": _POS, "x_nm": _POS,
    "receptor_a": _NONNEG, "receptor_b": _NONNEG, "connexin_a": _NONNEG, "connexin_b": _NONNEG, "unknown": _NONNEG,
    "thickness_a_nm": _NONNEG, "thickness_b_nm": _NONNEG, "kind": Col("str"), "pre": Col("int"), "post": Col("int"),
}


def check_record(record: Any, path: Path, fmt: str, version: int) -> tuple[tuple, tuple, tuple]:
    """(voxel size, origin, shape) of the scan grid, after checking the record."""
    where = str(path / "reconstruction.json")
    h = Header(record, where)
    if h.raw("format", fmt) != fmt:
        raise CorruptDataError(f"{where} is not a neurophantom reconstruction record")
    v = h.raw("version", version)
    if v != version:
        raise CorruptDataError(f"{where}: unsupported reconstruction record version {v!r}")
    if "files" in h.data or "version" in h.data:
        verify_checksums(path, h.dict("files"), f"reconstruction {path}")
    scan = Header(h.dict("scan"), f"{where} scan")
    vs = scan.vector("voxel_size_nm", 3, positive=True, hi=1e9)
    origin = scan.vector("origin_nm", 3, lo=-1e12, hi=1e12)
    shape = scan.ints("shape", 3, lo=1)
    for key in ("format", "version", "files"):
        record.pop(key, None)  # as in memory: the record reconstruct() made
    return vs, origin, shape


def check_tables(tables: Mapping[str, pd.DataFrame], circuit, path: Path) -> None:
    """Columns, ranges and cross references of the side tables."""
    morph = tables["morphology"]
    check_table(morph, MORPHOLOGY, f"reconstruction table 'morphology' ({path})")
    ids = np.sort(circuit.neuron_ids)
    if len(morph) != len(ids) or not np.array_equal(np.sort(morph["id"].to_numpy()), ids):
        raise CorruptDataError(f"{path}: morphology has {len(morph)} rows, not one per recovered neuron ({len(ids)})")
    check_table(tables["uncertainty"], UNCERTAINTY, f"reconstruction table 'uncertainty' ({path})")
    check_table(tables["contacts"], CONTACTS, f"reconstruction table 'contacts' ({path})")
    puncta = tables["puncta"]
    for col in puncta.columns:
        if pd.api.types.is_float_dtype(puncta[col].dtype) and np.isinf(puncta[col].to_numpy()).any():
            raise CorruptDataError(f"{path}: puncta column {col!r} holds infinite values")
