"""The Phantom: a Circuit folded into 3D, the specimen that instruments image.

A Phantom is immutable and validated on construction. It holds

``labels`` : dask.array.Array, shape (z, y, x), dtype uint32 or uint64
    Which neuron owns each voxel (0 = extracellular space). Lazy: straight from
    :func:`neurophantom.tissue.grow_tissue` it is a per-chunk rasteriser, after
    :meth:`Phantom.load` a verified view of the stored OME-Zarr chunks. Never computed
    whole by this class.
``voxel_size_nm`` : (z, y, x) floats, nm per voxel along each axis (may differ per axis).
``neurons`` : one row per neuron
    ``neuron_id`` (int64, the Circuit's id), ``label`` (int64 > 0, its value in
    ``labels``), ``name``, ``cell_type``, soma centre ``soma_z_um, soma_y_um, soma_x_um``
    (phantom frame, um from the volume origin), ``soma_radius_um``,
    ``membrane_area_um2`` (rendered soma + dendrite membrane that carries the channel
    molecules, in biological um^2, i.e. divided by ``geometry_scale**2``); optionally
    ``surface_area_um2`` (every face of the neuron's label, biological um^2: what a
    perfect segmentation measures) and ``specimen_area_um2`` (the specimen's membrane,
    ``membrane_area_factor`` x surface: the area the ground truth simulates and its
    channel molecules are counted on).
``synapses`` : one row per synapse-partner pair (a polyadic release site has several rows)
    ``synapse_id, pre, post`` (neuron ids), ``pre_label, post_label``, contact centre
    ``z_um, y_um, x_um`` (phantom frame) and ``z_vox, y_vox, x_vox`` (the postsynaptic
    voxel at the centre of the contact), ``bouton_z_vox, bouton_y_vox, bouton_x_vox``
    (the centre voxel of the bouton), ``contact_axis`` (0, 1, 2: the axis normal to the
    (first) contact plane), ``contact_faces`` (a contact larger than one face of the
    bouton is split over several faces, each touching its own piece of the partner's
    dendrite), ``contact_voxels`` (number of pre/post voxel-face pairs, all faces),
    ``contact_area_um2`` (the Circuit's value, biological um^2) and
    ``rendered_contact_area_um2`` (voxel-face pairs x face area, phantom um^2).
``gap_junctions`` : one row per electrical contact
    ``gap_id`` (row of the Circuit's gap-junction table), ``a, b, a_label, b_label``,
    contact centre ``z_um, y_um, x_um`` and ``z_vox, y_vox, x_vox`` (the voxel of ``b`` at
    the contact centre), ``a_z_vox, a_y_vox, a_x_vox`` (a voxel of ``a`` at the centre of
    its contact cell), ``contact_axis, contact_faces, contact_voxels, connexin_count,
    rendered_contact_area_um2``.
``molecules`` : one row per membrane protein molecule
    ``z_nm, y_nm, x_nm`` (float64, phantom frame; the voxel holding a molecule is
    ``floor(pos / voxel_size_nm)``), ``protein`` (type name, e.g. ``"ampa"``, ``"na"``,
    ``"connexin"``), ``kind`` (``"receptor"``, ``"channel"`` or ``"connexin"``),
    ``neuron_id`` (owner), ``synapse_id`` (receptors: their release site; else -1),
    ``gap_id`` (connexins: their gap junction; else -1).
``skeletons`` : one row per skeleton node
    ``neuron_id, node_id, parent_id`` (-1 at a root), ``z_um, y_um, x_um, radius_um``,
    ``compartment`` (``"soma"``, ``"axon"``, ``"dendrite"``).
``glia`` : one row per non-neuronal cell drawn in the tissue (empty unless the tissue
    was grown with glia; :mod:`neurophantom.tissue.glia`)
    ``glia_id``, ``label`` (its value in ``labels``, distinct from every neuron's),
    ``cell_class`` (``"astrocyte"``), body centre ``soma_z_um, soma_y_um, soma_x_um`` and
    ``soma_radius_um`` (phantom frame), ``membrane_area_um2`` (biological um^2),
    ``marker_count`` (its marker molecules), ``circuit_z_um, circuit_y_um, circuit_x_um``
    (the world's position of the astrocyte), ``domain_neurons``, ``cells`` (lattice cells).
    Its marker molecules have kind ``"glia"`` and ``neuron_id`` -1 (a glia cell is no
    neuron; its owner is the label under the molecule).
``provenance`` : JSON dict about the source Circuit (source, dataset, seed, config, counts).
``config`` : JSON dict of the tissue config that grew it; ``seed`` : int.
``metadata`` : JSON dict of rendering facts (``geometry_scale``,
    ``channel_sampling_fraction``, rounding rules, lattice geometry, ...).

On disk (:meth:`Phantom.save`) a folder holds ``phantom.ome.zarr`` (the label image at
the root multiscale, see :mod:`neurophantom.io.omezarr`), ``neurons.parquet``,
``synapses.parquet``, ``gap_junctions.parquet``, ``molecules.parquet``,
``skeletons.parquet`` and ``phantom.json`` (written last: voxel size in nm per axis, axis
order, seed, counts, provenance, config, metadata).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import dask.array as da
import numpy as np
import pandas as pd

from .._errors import CorruptDataError, NeurophantomError, ValidationError
from ..io import atomic_dir, atomic_write_json, file_checksums, read_json, verify_checksums
from ._header import Header

FORMAT = "neurophantom.phantom"
#: Version 2 adds ``files``: size and CRC-32C of every Parquet table (version 1 is still read).
FORMAT_VERSION = 2
#: Largest magnitude of a length (um) or area (um^2) column: beyond it, corruption.
MAX_UM = 1e6
MAX_UM2 = 1e9
AXES = ("z", "y", "x")
MOLECULE_KINDS = ("receptor", "channel", "connexin")
#: Molecule kind of glial membrane markers, allowed only in a phantom with glia cells.
GLIA_KIND = "glia"
COMPARTMENTS = ("soma", "axon", "dendrite")
LABEL_DTYPES = (np.dtype(np.uint32), np.dtype(np.uint64))

NEURON_COLUMNS = {
    "neuron_id": "int64", "label": "int64", "name": "str", "cell_type": "str",
    "soma_z_um": "float64", "soma_y_um": "float64", "soma_x_um": "float64",
    "soma_radius_um": "float64", "membrane_area_um2": "float64",
}
SYNAPSE_COLUMNS = {
    "synapse_id": "int64", "pre": "int64", "post": "int64", "pre_label": "int64", "post_label": "int64",
    "z_um": "float64", "y_um": "float64", "x_um": "float64",
    "z_vox": "int64", "y_vox": "int64", "x_vox": "int64",
    "bouton_z_vox": "int64", "bouton_y_vox": "int64", "bouton_x_vox": "int64",
    "contact_axis": "int64", "contact_faces": "int64", "contact_voxels": "int64",
    "contact_area_um2": "float64", "rendered_contact_area_um2": "float64",
}
GAP_COLUMNS = {
    "gap_id": "int64", "a": "int64", "b": "int64", "a_label": "int64", "b_label": "int64",
    "z_um": "float64", "y_um": "float64", "x_um": "float64",
    "z_vox": "int64", "y_vox": "int64", "x_vox": "int64",
    "a_z_vox": "int64", "a_y_vox": "int64", "a_x_vox": "int64",
    "contact_axis": "int64", "contact_faces": "int64", "contact_voxels": "int64",
    "connexin_count": "float64", "rendered_contact_area_um2": "float64",
}
MOLECULE_COLUMNS = {
    "z_nm": "float64", "y_nm": "float64", "x_nm": "float64",
    "protein": "str", "kind": "str", "neuron_id": "int64", "synapse_id": "int64", "gap_id": "int64",
}
SKELETON_COLUMNS = {
    "neuron_id": "int64", "node_id": "int64", "parent_id": "int64",
    "z_um": "float64", "y_um": "float64", "x_um": "float64", "radius_um": "float64", "compartment": "str",
}
GLIA_COLUMNS = {
    "glia_id": "int64", "label": "int64", "cell_class": "str",
    "soma_z_um": "float64", "soma_y_um": "float64", "soma_x_um": "float64", "soma_radius_um": "float64",
    "membrane_area_um2": "float64", "marker_count": "int64",
    "circuit_z_um": "float64", "circuit_y_um": "float64", "circuit_x_um": "float64",
    "domain_neurons": "int64", "cells": "int64",
}
#: Columns a table may carry (phantoms from before they existed lack them).
OPTIONAL_COLUMNS = {"neurons": {"surface_area_um2": "float64", "specimen_area_um2": "float64"}}
TABLES = {
    "neurons": NEURON_COLUMNS,
    "synapses": SYNAPSE_COLUMNS,
    "gap_junctions": GAP_COLUMNS,
    "molecules": MOLECULE_COLUMNS,
    "skeletons": SKELETON_COLUMNS,
}


#: Tables a phantom may carry (written only when not empty).
OPTIONAL_TABLES = {"glia": GLIA_COLUMNS}


def empty_phantom_table(name: str) -> pd.DataFrame:
    """An empty table of the given schema (``"synapses"``, ``"molecules"``, ``"glia"``, ...)."""
    kinds = {"int64": np.int64, "float64": np.float64, "str": object}
    return pd.DataFrame({c: np.zeros(0, dtype=kinds[k]) for c, k in {**TABLES, **OPTIONAL_TABLES}[name].items()})


def _fail(table: str, column: str | None, problem: str, row: int | None = None) -> ValidationError:
    where = f"table {table!r}" + (f", column {column!r}" if column else "") + (f", row {row}" if row is not None else "")
    return ValidationError(f"phantom {where}: {problem}")


def _normalise(df: Any, table: str) -> pd.DataFrame:
    """Check columns and dtypes of one table; return a typed copy with a RangeIndex."""
    if not isinstance(df, pd.DataFrame):
        raise _fail(table, None, f"expected a pandas DataFrame, got {type(df).__name__}")
    out = {}
    optional = OPTIONAL_COLUMNS.get(table, {})
    for col, kind in {**{**TABLES, **OPTIONAL_TABLES}[table], **optional}.items():
        if col not in df.columns:
            if col in optional:
                continue
            raise _fail(table, col, "missing column")
        s = df[col]
        if kind == "str":
            # Repeated names (protein, kind, compartment) are stored as categoricals.
            cat = s.astype("category") if table in ("molecules", "skeletons") else None
            if cat is not None:
                cats = cat.cat.categories.to_numpy(dtype=object)
                codes = cat.cat.codes.to_numpy()
                vals = cats
                bad_cat = np.fromiter((not isinstance(v, str) or v == "" for v in cats), bool, len(cats))
                bad = (codes < 0) | (bad_cat[codes] if len(cats) else np.zeros(len(codes), bool))
            else:
                vals = s.to_numpy(dtype=object)
                bad = np.fromiter((not isinstance(v, str) or v == "" for v in vals), bool, len(vals))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                got = s.iloc[i]
                raise _fail(table, col, f"expected a non-empty string, got {got!r}", i)
            out[col] = pd.Categorical(cat) if cat is not None else vals
            continue
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            raise _fail(table, col, f"wrong dtype {s.dtype} (expected {kind})")
        if kind == "int64":
            if not pd.api.types.is_integer_dtype(s.dtype):
                raise _fail(table, col, f"wrong dtype {s.dtype} (expected integer)")
            out[col] = s.to_numpy(dtype=np.int64)
        else:
            v = s.to_numpy(dtype=np.float64)
            bad = ~np.isfinite(v)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise _fail(table, col, f"non-finite value {v[i]}", i)
            limit = MAX_UM2 if col.endswith("_um2") or col == "connexin_count" else MAX_UM * 1e3 if col.endswith("_nm") else MAX_UM
            bad = np.abs(v) > limit
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise _fail(table, col, f"value {v[i]:g} is beyond the limit of {limit:g}", i)
            out[col] = v
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_refs(table: str, col: str, values: np.ndarray, known: np.ndarray, what: str) -> None:
    bad = ~np.isin(values, known)
    if bad.any():
        raise _fail(table, col, f"unknown {what} {values[_first(bad)]}", _first(bad))


def _check_json(name: str, obj: Any) -> dict:
    if not isinstance(obj, Mapping):
        raise ValidationError(f"phantom {name}: expected a mapping, got {type(obj).__name__}")
    try:
        return json.loads(json.dumps(dict(obj), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"phantom {name}: not JSON-serialisable ({exc})") from None


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Phantom:
    """An immutable, validated 3D specimen (see the module docstring for the schema).

    Construction checks every table (columns, dtypes, finite values), cross references
    (synapse and molecule owners exist, labels match neurons, voxel indices and molecule
    positions lie inside the volume) and raises :class:`~neurophantom.ValidationError`
    naming the first problem. The label volume itself is not scanned (it may be large
    and lazy); :func:`neurophantom.validate.phantom_check.check_phantom` does that.
    """

    labels: da.Array
    voxel_size_nm: tuple[float, float, float]
    neurons: pd.DataFrame
    synapses: pd.DataFrame
    gap_junctions: pd.DataFrame
    molecules: pd.DataFrame
    skeletons: pd.DataFrame
    provenance: Mapping[str, Any]
    config: Mapping[str, Any]
    seed: int
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    glia: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        labels = self.labels
        if isinstance(labels, np.ndarray):
            labels = da.from_array(labels, chunks=labels.shape or 1)
        if not isinstance(labels, da.Array):
            raise ValidationError(f"phantom labels: expected a dask or numpy array, got {type(labels).__name__}")
        if labels.ndim != 3:
            raise ValidationError(f"phantom labels: expected 3 axes (z, y, x), got shape {labels.shape}")
        if np.dtype(labels.dtype) not in LABEL_DTYPES:
            raise ValidationError(f"phantom labels: dtype must be uint32 or uint64, got {labels.dtype}")
        if min(labels.shape) < 1:
            raise ValidationError(f"phantom labels: empty volume {labels.shape}")
        vs = tuple(float(v) for v in np.ravel(np.asarray(self.voxel_size_nm, dtype=float)))
        if len(vs) != 3 or not all(np.isfinite(v) and v > 0 for v in vs):
            raise ValidationError(f"phantom voxel_size_nm: expected 3 positive numbers (z, y, x), got {self.voxel_size_nm}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValidationError(f"phantom seed: expected a non-negative integer, got {self.seed!r}")
        tables = {name: _normalise(getattr(self, name), name) for name in TABLES}
        glia = _normalise(empty_phantom_table("glia") if self.glia is None else self.glia, "glia")
        meta = self.metadata if isinstance(self.metadata, Mapping) else {}
        known = {k: list(meta[k]) for k in ("channel_types", "receptor_types") if isinstance(meta.get(k), (list, tuple))}
        _cross_check(tables, labels, vs, known, glia)
        tables["glia"] = glia
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "voxel_size_nm", vs)
        object.__setattr__(self, "seed", int(self.seed))
        for name, df in tables.items():
            for col in df.columns:
                arr = df[col].values
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False
            object.__setattr__(self, name, df)
        for name in ("provenance", "config", "metadata"):
            object.__setattr__(self, name, _check_json(name, getattr(self, name)))

    # ------------------------------------------------------------------ views
    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape in voxels (z, y, x)."""
        return tuple(int(s) for s in self.labels.shape)

    @property
    def extent_um(self) -> tuple[float, float, float]:
        """Physical size of the volume (z, y, x) in um."""
        return tuple(s * v / 1000.0 for s, v in zip(self.shape, self.voxel_size_nm))

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.shape))

    def label_of(self, neuron_ids: np.ndarray) -> np.ndarray:
        """Label values of ``neuron_ids`` (raises on an unknown id)."""
        lut = dict(zip(self.neurons["neuron_id"], self.neurons["label"]))
        try:
            return np.asarray([lut[int(i)] for i in np.ravel(neuron_ids)], dtype=np.int64)
        except KeyError as exc:
            raise NeurophantomError(f"phantom: unknown neuron id {exc.args[0]}") from None

    def summary(self) -> dict[str, Any]:
        """Counts, size and voxel size (as written to ``phantom.json``)."""
        kinds = self.molecules["kind"].astype(str).value_counts()
        return {
            "neurons": len(self.neurons),
            "synapses": int(self.synapses["synapse_id"].nunique()),
            "synapse_partners": len(self.synapses),
            "gap_junctions": len(self.gap_junctions),
            "molecules": {str(k): int(kinds.get(k, 0)) for k in MOLECULE_KINDS + ((GLIA_KIND,) if len(self.glia) else ())},
            "shape": list(self.shape),
            "extent_um": [round(e, 6) for e in self.extent_um],
            **({"glia": len(self.glia)} if len(self.glia) else {}),
        }

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "axes": list(AXES),
            "voxel_size_nm": list(self.voxel_size_nm),
            "label_dtype": np.dtype(self.labels.dtype).name,
            "seed": self.seed,
            "counts": self.summary(),
            "provenance": dict(self.provenance),
            "config": dict(self.config),
            "metadata": dict(self.metadata),
        }

    def replace(self, **changes: Any) -> "Phantom":
        """A new validated Phantom with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Phantom(shape={s['shape']}, voxel_size_nm={list(self.voxel_size_nm)}, neurons={s['neurons']}, "
            f"synapses={s['synapses']}, partners={s['synapse_partners']}, gap_junctions={s['gap_junctions']}, "
            f"molecules={sum(s['molecules'].values())})"
        )

    # ------------------------------------------------------------ save / load
    def save(self, path: str | Path, *, chunks: tuple[int, int, int] | None = None, progress: bool = False) -> Path:
        """Write the phantom folder atomically, rendering the label volume chunk by chunk."""
        from ..io.omezarr import write_ome_zarr

        path = Path(path)
        with atomic_dir(path) as tmp:
            write_ome_zarr(
                tmp / "phantom.ome.zarr",
                self.labels,
                axes=AXES,
                scale=self.voxel_size_nm,
                chunks=chunks,
                name="labels",
                attributes={"neurophantom": {"kind": "phantom-labels", "background": 0}},
                progress=progress,
                label="neurons",
                label_properties=[
                    {"label-value": int(lab), "neuron_id": int(i), "name": str(n), "cell_type": str(t)}
                    for lab, i, n, t in zip(self.neurons["label"], self.neurons["neuron_id"], self.neurons["name"],
                                            self.neurons["cell_type"])
                ] + [{"label-value": int(lab), "glia_id": int(g), "cell_class": str(c)}
                     for lab, g, c in zip(self.glia["label"], self.glia["glia_id"], self.glia["cell_class"])],
            )
            names = list(TABLES) + (["glia"] if len(self.glia) else [])
            for name in names:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            files = file_checksums(tmp, [f"{name}.parquet" for name in names])
            atomic_write_json(tmp / "phantom.json", {**self.header(), "files": files})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Phantom":
        """Open a phantom folder (labels stay lazy and are verified chunk by chunk)."""
        from ..io.omezarr import read_ome_zarr
        from .circuit import read_parquet

        path = Path(path)
        if not path.is_dir():
            raise NeurophantomError(f"phantom folder not found: {path}")
        where = str(path / "phantom.json")
        h = Header(read_json(path / "phantom.json", "phantom header"), where)
        if h.raw("format", None) != FORMAT:
            raise CorruptDataError(f"{where} is not a neurophantom phantom header")
        version = h.int("version", default=None, optional=True)
        if version not in (1, FORMAT_VERSION):
            raise CorruptDataError(f"{where}: unsupported phantom format version {h.raw('version', None)!r}")
        if h.raw("axes", None) != list(AXES):
            raise CorruptDataError(f"{where}: axis order {h.raw('axes', None)} is not {list(AXES)}")
        vs = h.vector("voxel_size_nm", 3, positive=True, hi=MAX_UM * 1e3)
        label_dtype = h.str("label_dtype", choices=[d.name for d in LABEL_DTYPES], default="uint32")
        counts = Header(h.dict("counts"), f"{where} counts")
        shape = counts.ints("shape", 3, lo=1)
        provenance, config, metadata = h.dict("provenance"), h.dict("config"), h.dict("metadata", default={})
        seed = h.int("seed", lo=0)
        if version >= 2:
            verify_checksums(path, h.dict("files"), f"phantom {path}")
        from ..io import contained

        image = read_ome_zarr(contained(path, "phantom.ome.zarr", f"phantom {path}"))
        if image.axes != AXES:
            raise CorruptDataError(f"{path / 'phantom.ome.zarr'}: axes {image.axes} are not {AXES}")
        if not np.allclose(image.voxel_size_nm, vs, rtol=1e-12, atol=0):
            raise CorruptDataError(f"{path}: voxel size in phantom.json and phantom.ome.zarr differ")
        if tuple(image.data.shape) != shape:
            raise CorruptDataError(f"{path}: phantom.json says shape {list(shape)}, phantom.ome.zarr holds {list(image.data.shape)}")
        if np.dtype(image.data.dtype).name != label_dtype:
            raise CorruptDataError(f"{path}: phantom.json says labels are {label_dtype}, phantom.ome.zarr holds {image.data.dtype}")
        tables = {}
        for name in TABLES:
            f = path / f"{name}.parquet"
            if not f.is_file():
                raise CorruptDataError(f"phantom table {name!r} missing: {f}")
            tables[name] = read_parquet(f, f"phantom table {name!r}")
        if counts.int("glia", lo=0, optional=True):
            if not (path / "glia.parquet").is_file():
                raise CorruptDataError(f"phantom table 'glia' missing: {path / 'glia.parquet'}")
            tables["glia"] = read_parquet(path / "glia.parquet", "phantom table 'glia'")
        phantom = cls(labels=image.data, voxel_size_nm=vs, provenance=provenance, config=config, seed=seed,
                      metadata=metadata, **tables)
        for key in ("neurons", "synapse_partners", "gap_junctions"):
            n = Header(counts.data, f"{where} counts").int(key, lo=0, optional=True)
            have = {"neurons": len(phantom.neurons), "synapse_partners": len(phantom.synapses),
                    "gap_junctions": len(phantom.gap_junctions)}[key]
            if n is not None and n != have:
                raise CorruptDataError(f"{path}: phantom.json says {n} {key.replace('_', ' ')}, the table holds {have}")
        return phantom


def _check_proteins(mol: pd.DataFrame, known: Mapping[str, Any]) -> None:
    """Every molecule's protein fits its kind: connexins are ``"connexin"``; channels and
    receptors are among the phantom's ``channel_types`` / ``receptor_types`` when its
    metadata names them."""
    pairs = mol[["kind", "protein"]].astype(str).drop_duplicates()
    for kind, protein in pairs.itertuples(index=False):
        allowed = {"connexin": ["connexin"]}.get(kind) or known.get(f"{kind}_types")
        if allowed is not None and protein not in allowed:
            row = _first((mol["kind"].astype(str).to_numpy() == kind) & (mol["protein"].astype(str).to_numpy() == protein))
            raise _fail("molecules", "protein", f"{protein!r} is not a {kind} type of this phantom", row)


def _check_glia(glia: pd.DataFrame, neuron_labels: np.ndarray, max_label: int) -> None:
    labs = glia["label"].to_numpy()
    for col in ("glia_id", "label"):
        dup = glia[col].duplicated().to_numpy()
        if dup.any():
            raise _fail("glia", col, f"duplicate value {glia[col].iloc[_first(dup)]}", _first(dup))
    bad = (labs <= 0) | (labs > max_label) | np.isin(labs, neuron_labels)
    if bad.any():
        raise _fail("glia", "label", f"label {labs[_first(bad)]} outside 1..{max_label} or a neuron's label", _first(bad))


def _check_molecule_owners(mol: pd.DataFrame, kinds: np.ndarray, ids: np.ndarray, has_glia: bool) -> None:
    """Neuron molecules name a neuron; glia markers (only where glia cells exist) name none (-1)."""
    glial = kinds == GLIA_KIND
    if glial.any() and not has_glia:
        raise _fail("molecules", "kind", f"kind {GLIA_KIND!r} in a phantom without glia cells", _first(glial))
    owner = mol["neuron_id"].to_numpy()
    wrong = glial & (owner != -1)
    if wrong.any():
        raise _fail("molecules", "neuron_id", "a glia marker belongs to no neuron (-1)", _first(wrong))
    _check_refs("molecules", "neuron_id", owner[~glial], ids, "neuron id")


def _cross_check(t: dict[str, pd.DataFrame], labels: da.Array, vs: tuple[float, ...], known_types: Mapping[str, Any],
                 glia: pd.DataFrame) -> None:
    nrn, syn, gap, mol, skel = (t[k] for k in ("neurons", "synapses", "gap_junctions", "molecules", "skeletons"))
    ids, labs = nrn["neuron_id"].to_numpy(), nrn["label"].to_numpy()
    for col, vals in (("neuron_id", ids), ("label", labs)):
        dup = pd.Series(vals).duplicated().to_numpy()
        if dup.any():
            raise _fail("neurons", col, f"duplicate value {vals[_first(dup)]}", _first(dup))
    max_label = np.iinfo(labels.dtype).max
    bad = (labs <= 0) | (labs > max_label)
    if bad.any():
        raise _fail("neurons", "label", f"label {labs[_first(bad)]} outside 1..{max_label}", _first(bad))
    if (nrn["soma_radius_um"].to_numpy() < 0).any() or (nrn["membrane_area_um2"].to_numpy() < 0).any():
        raise _fail("neurons", None, "soma radius and membrane area must be >= 0")
    lut = pd.Series(labs, index=ids)
    shape = np.asarray(labels.shape)
    for table, df, pairs in (
        ("synapses", syn, (("pre", "pre_label"), ("post", "post_label"))),
        ("gap_junctions", gap, (("a", "a_label"), ("b", "b_label"))),
    ):
        for id_col, lab_col in pairs:
            _check_refs(table, id_col, df[id_col].to_numpy(), ids, "neuron id")
            wrong = lut.loc[df[id_col].to_numpy()].to_numpy() != df[lab_col].to_numpy()
            if wrong.any():
                raise _fail(table, lab_col, "label does not match the neuron's label", _first(wrong))
        prefixes = ("", "bouton_") if table == "synapses" else ("", "a_")
        for pre in prefixes:
            vox = df[[f"{pre}{a}_vox" for a in AXES]].to_numpy()
            bad = ((vox < 0) | (vox >= shape)).any(axis=1)
            if bad.any():
                raise _fail(table, f"{pre}z_vox", f"voxel {vox[_first(bad)].tolist()} outside the volume {shape.tolist()}", _first(bad))
        ax = df["contact_axis"].to_numpy()
        if (~np.isin(ax, (0, 1, 2))).any():
            raise _fail(table, "contact_axis", "must be 0, 1 or 2")
        if (df["contact_faces"].to_numpy() < 1).any():
            raise _fail(table, "contact_faces", "every contact has at least one face")
        if (df["contact_voxels"].to_numpy() < 1).any():
            raise _fail(table, "contact_voxels", "every contact needs at least one voxel face")
    if len(syn) and syn.duplicated(["synapse_id", "post"]).any():
        raise _fail("synapses", "post", "the same partner appears twice in one synapse")
    if len(gap) and gap["gap_id"].duplicated().any():
        raise _fail("gap_junctions", "gap_id", "duplicate gap_id")
    _check_glia(glia, labs, max_label)
    kinds = mol["kind"].astype(str).to_numpy()
    bad = ~np.isin(kinds, MOLECULE_KINDS + (GLIA_KIND,))
    if bad.any():
        raise _fail("molecules", "kind", f"unknown kind {kinds[_first(bad)]!r} (expected one of {MOLECULE_KINDS})", _first(bad))
    _check_molecule_owners(mol, kinds, ids, len(glia) > 0)
    if len(mol):
        _check_proteins(mol, known_types)
    for col, known in (("synapse_id", syn["synapse_id"].to_numpy()), ("gap_id", gap["gap_id"].to_numpy())):
        v = mol[col].to_numpy()
        _check_refs("molecules", col, v[v != -1], known, col)
    pos = mol[[f"{a}_nm" for a in AXES]].to_numpy()
    extent = shape * np.asarray(vs)
    bad = ((pos < 0) | (pos >= extent)).any(axis=1)
    if bad.any():
        raise _fail("molecules", "z_nm", f"position {pos[_first(bad)].tolist()} nm outside the volume", _first(bad))
    comp = skel["compartment"].astype(str).to_numpy()
    bad = ~np.isin(comp, COMPARTMENTS)
    if bad.any():
        raise _fail("skeletons", "compartment", f"unknown compartment {comp[_first(bad)]!r}", _first(bad))
    _check_refs("skeletons", "neuron_id", skel["neuron_id"].to_numpy(), ids, "neuron id")
    if (skel["radius_um"].to_numpy() < 0).any():
        raise _fail("skeletons", "radius_um", "radius must be >= 0")
