"""The Circuit: a membrane-protein-density-annotated hypergraph.

One data type carries both ground truth and reconstructions. It holds three tables and a
small header:

``neurons`` (one row per neuron)
    ``id`` (int64, unique), ``name`` (str, unique), ``cell_type`` (str), soma position
    ``x_um``, ``y_um``, ``z_um`` (float64), membrane area ``area_um2`` (float64, > 0),
    ``release`` (``"spike"``: transmitter release driven by action potentials, or
    ``"graded"``: release grades with membrane voltage, as in most C. elegans neurons),
    ``channels_observed`` (bool) and one column per channel type holding its density in
    channels per um^2 of membrane.

``synapses`` (one row per synapse-partner pair; a chemical synapse is a hyperedge)
    ``synapse_id`` (int64), ``pre`` and ``post`` (neuron ids), release-site position
    ``x_um``, ``y_um``, ``z_um``, postsynaptic ``contact_area_um2`` (> 0),
    ``receptors_observed`` (bool) and one column per receptor type holding its density in
    receptors per um^2 of the postsynaptic contact. All rows of one ``synapse_id`` share
    ``pre`` and position (one release site, several partners: a polyadic synapse).

``gap_junctions`` (one row per electrical contact)
    ``a``, ``b`` (neuron ids, a != b), ``connexin_count`` (> 0, gap-junction channels),
    position ``x_um``, ``y_um``, ``z_um``.

Densities are non-negative and finite. Magnitudes are bounded by :data:`LIMITS`
(positions within 1 m of the origin, areas below 1 km^2 ... of membrane, densities
below 10^6 per um^2): a value past them is a corrupt file, not a neuron. A reconstruction that could not see a quantity
(a receptor-blind modality, lost tissue) sets the row's ``*_observed`` flag to False and
may then leave that row's densities NaN: unknown is never written as absent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._errors import CorruptDataError, NeurophantomError, ValidationError
from ..io import atomic_dir, atomic_write_json, file_checksums, read_json, verify_checksums
from ._header import Header

FORMAT = "neurophantom.circuit"
#: Version 2 adds ``files``: size and CRC-32C of every Parquet table (version 1 folders,
#: written before, are still read, without that check).
FORMAT_VERSION = 2
TABLE_FILES = ("neurons.parquet", "synapses.parquet", "gap_junctions.parquet")
#: Largest magnitude a column may hold (beyond it a value is corruption, not biology).
LIMITS = {
    "x_um": 1e6, "y_um": 1e6, "z_um": 1e6,
    "area_um2": 1e9, "contact_area_um2": 1e6, "connexin_count": 1e9,
}
#: Channels or receptors per um^2 (the densest known, AChR at the endplate, ~1e4).
MAX_DENSITY_PER_UM2 = 1e6

NEURON_BASE = {
    "id": "int64",
    "name": "str",
    "cell_type": "str",
    "x_um": "float64",
    "y_um": "float64",
    "z_um": "float64",
    "area_um2": "float64",
    "release": "str",
    "channels_observed": "bool",
}
SYNAPSE_BASE = {
    "synapse_id": "int64",
    "pre": "int64",
    "post": "int64",
    "x_um": "float64",
    "y_um": "float64",
    "z_um": "float64",
    "contact_area_um2": "float64",
    "receptors_observed": "bool",
}
GAP_BASE = {
    "a": "int64",
    "b": "int64",
    "connexin_count": "float64",
    "x_um": "float64",
    "y_um": "float64",
    "z_um": "float64",
}
RELEASE_MODES = ("spike", "graded")
UNITS = {
    "position": "um",
    "area": "um^2",
    "channel_density": "channels per um^2 of membrane",
    "receptor_density": "receptors per um^2 of postsynaptic contact",
    "connexin_count": "gap-junction channels",
}
_RESERVED_HEADER_KEYS = {
    "format",
    "version",
    "source",
    "dataset",
    "seed",
    "config",
    "counts",
    "units",
    "channel_types",
    "receptor_types",
    "files",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a Circuit came from: the source or reconstruction, its config and seed."""

    source: str
    dataset: str | None = None
    seed: int | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ValidationError("circuit provenance: source must be a non-empty string")
        clash = _RESERVED_HEADER_KEYS & set(self.metadata)
        if clash:
            raise ValidationError(f"circuit provenance: metadata keys {sorted(clash)} are reserved")
        # JSON round trip guarantees the header can be written and read back unchanged.
        try:
            json.dumps(dict(self.config), allow_nan=False)
            json.dumps(dict(self.metadata), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"circuit provenance: config/metadata not JSON-serialisable ({exc})") from None


def _fail(table: str, column: str, row: int | None, problem: str) -> ValidationError:
    where = f"table {table!r}, column {column!r}" + (f", row {row}" if row is not None else "")
    return ValidationError(f"circuit {where}: {problem}")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_columns(df: pd.DataFrame, table: str, base: Mapping[str, str], extra: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"circuit table {table!r}: expected a pandas DataFrame, got {type(df).__name__}")
    for col in list(base) + list(extra):
        if col not in df.columns:
            raise _fail(table, col, None, "missing column")
    out = {}
    for col, kind in base.items():
        s = df[col]
        if kind == "int64":
            if not pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                raise _fail(table, col, None, f"wrong dtype {s.dtype} (expected integer)")
            out[col] = s.to_numpy(dtype=np.int64)
        elif kind == "float64":
            if not (pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)) or pd.api.types.is_bool_dtype(s.dtype):
                raise _fail(table, col, None, f"wrong dtype {s.dtype} (expected float)")
            v = s.to_numpy(dtype=np.float64)
            bad = ~np.isfinite(v)
            if bad.any():
                raise _fail(table, col, _first_bad(bad), f"non-finite value {v[_first_bad(bad)]}")
            limit = LIMITS.get(col)
            if limit is not None:
                bad = np.abs(v) > limit
                if bad.any():
                    raise _fail(table, col, _first_bad(bad), f"value {v[_first_bad(bad)]:g} is beyond the limit of {limit:g}")
            out[col] = v
        elif kind == "bool":
            if not pd.api.types.is_bool_dtype(s.dtype):
                raise _fail(table, col, None, f"wrong dtype {s.dtype} (expected bool)")
            out[col] = s.to_numpy(dtype=bool)
        else:  # str
            if not (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)):
                raise _fail(table, col, None, f"wrong dtype {s.dtype} (expected string)")
            vals = s.to_numpy(dtype=object)
            bad = np.array([not isinstance(x, str) or x == "" for x in vals], dtype=bool)
            if bad.any():
                raise _fail(table, col, _first_bad(bad), f"expected a non-empty string, got {vals[_first_bad(bad)]!r}")
            out[col] = vals
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _check_densities(df: pd.DataFrame, table: str, cols: tuple[str, ...], observed: np.ndarray) -> pd.DataFrame:
    out = {}
    for col in cols:
        s = df[col]
        if not (pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)) or pd.api.types.is_bool_dtype(s.dtype):
            raise _fail(table, col, None, f"wrong dtype {s.dtype} (expected float density)")
        v = s.to_numpy(dtype=np.float64)
        nan = np.isnan(v)
        bad = nan & observed
        if bad.any():
            raise _fail(table, col, _first_bad(bad), "NaN density on a row marked observed")
        bad = np.isinf(v)
        if bad.any():
            raise _fail(table, col, _first_bad(bad), "infinite density")
        bad = (v < 0) & ~nan
        if bad.any():
            raise _fail(table, col, _first_bad(bad), f"negative density {v[_first_bad(bad)]}")
        bad = (v > MAX_DENSITY_PER_UM2) & ~nan
        if bad.any():
            raise _fail(table, col, _first_bad(bad), f"density {v[_first_bad(bad)]:g} per um^2 is beyond the limit of {MAX_DENSITY_PER_UM2:g}")
        out[col] = v
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _check_type_names(kind: str, names: tuple[str, ...], base: Mapping[str, str]) -> tuple[str, ...]:
    names = tuple(names)
    for n in names:
        if not isinstance(n, str) or not n.isidentifier():
            raise ValidationError(f"circuit: {kind} type name {n!r} must be an identifier")
        if n in base:
            raise ValidationError(f"circuit: {kind} type name {n!r} clashes with a base column")
    if len(set(names)) != len(names):
        raise ValidationError(f"circuit: duplicate {kind} type names {names}")
    return names


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Circuit:
    """An immutable, validated annotated hypergraph (see module docstring for the schema).

    Build it with keyword arguments; construction validates every table and raises
    :class:`~neurophantom.ValidationError` naming the table, column and row of the first
    problem. Tables are copied and normalised (dtypes, column order, a RangeIndex).
    """

    neurons: pd.DataFrame
    synapses: pd.DataFrame
    gap_junctions: pd.DataFrame
    channel_types: tuple[str, ...]
    receptor_types: tuple[str, ...]
    provenance: Provenance

    def __post_init__(self) -> None:
        ch = _check_type_names("channel", self.channel_types, NEURON_BASE)
        rc = _check_type_names("receptor", self.receptor_types, SYNAPSE_BASE)
        if not isinstance(self.provenance, Provenance):
            raise ValidationError("circuit: provenance must be a Provenance")
        neurons = _validate_neurons(self.neurons, ch)
        ids = neurons["id"].to_numpy()
        synapses = _validate_synapses(self.synapses, rc, ids)
        gaps = _validate_gaps(self.gap_junctions, ids)
        object.__setattr__(self, "channel_types", ch)
        object.__setattr__(self, "receptor_types", rc)
        object.__setattr__(self, "neurons", neurons)
        object.__setattr__(self, "synapses", synapses)
        object.__setattr__(self, "gap_junctions", gaps)
        for df in (neurons, synapses, gaps):
            for col in df.columns:
                arr = df[col].values
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False

    # ----------------------------------------------------------------- basic views
    @property
    def n_neurons(self) -> int:
        return len(self.neurons)

    @property
    def n_synapses(self) -> int:
        """Number of release sites (hyperedges)."""
        return int(self.synapses["synapse_id"].nunique())

    @property
    def n_synapse_partners(self) -> int:
        """Number of (release site, postsynaptic partner) rows."""
        return len(self.synapses)

    @property
    def neuron_ids(self) -> np.ndarray:
        return self.neurons["id"].to_numpy()

    def index_of(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of neuron ``ids`` (raises on an unknown id)."""
        order = np.argsort(self.neuron_ids, kind="stable")
        sorted_ids = self.neuron_ids[order]
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(sorted_ids, ids)
        pos = np.clip(pos, 0, len(sorted_ids) - 1)
        bad = sorted_ids[pos] != ids if len(sorted_ids) else np.ones(ids.shape, bool)
        if np.any(bad):
            raise NeurophantomError(f"unknown neuron id {ids[np.flatnonzero(bad)[0]]}")
        return order[pos]

    def ids_of_names(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Neuron ids for neuron ``names`` (raises naming the first unknown one)."""
        lookup = dict(zip(self.neurons["name"], self.neurons["id"]))
        out = []
        for n in names:
            if n not in lookup:
                raise NeurophantomError(f"unknown neuron name {n!r}")
            out.append(lookup[n])
        return np.asarray(out, dtype=np.int64)

    def receptor_counts(self) -> pd.DataFrame:
        """Receptor count per synapse-partner row (density x contact area)."""
        area = self.synapses["contact_area_um2"].to_numpy()
        return pd.DataFrame({r: self.synapses[r].to_numpy() * area for r in self.receptor_types})

    def replace(self, **changes: Any) -> "Circuit":
        """A new validated Circuit with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """Counts and units, as written to the JSON header."""
        return {
            "neurons": self.n_neurons,
            "synapses": self.n_synapses,
            "synapse_partners": self.n_synapse_partners,
            "gap_junctions": len(self.gap_junctions),
            "cell_types": {str(k): int(v) for k, v in self.neurons["cell_type"].value_counts().sort_index().items()},
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Circuit(source={self.provenance.source!r}, neurons={s['neurons']}, "
            f"synapses={s['synapses']}, partners={s['synapse_partners']}, gap_junctions={s['gap_junctions']}, "
            f"channels={list(self.channel_types)}, receptors={list(self.receptor_types)})"
        )

    # ----------------------------------------------------------------- save / load
    def header(self) -> dict[str, Any]:
        p = self.provenance
        head = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source": p.source,
            "dataset": p.dataset,
            "seed": p.seed,
            "config": dict(p.config),
            "counts": self.summary(),
            "units": UNITS,
            "channel_types": list(self.channel_types),
            "receptor_types": list(self.receptor_types),
        }
        head.update(dict(p.metadata))
        return head

    def save(self, path: str | Path) -> Path:
        """Write the folder ``path`` (Parquet tables + ``circuit.json``) atomically."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.neurons.to_parquet(tmp / "neurons.parquet", index=False)
            self.synapses.to_parquet(tmp / "synapses.parquet", index=False)
            self.gap_junctions.to_parquet(tmp / "gap_junctions.parquet", index=False)
            # The header is written last: a folder without it is never read as a Circuit.
            atomic_write_json(tmp / "circuit.json", {**self.header(), "files": file_checksums(tmp, TABLE_FILES)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Circuit":
        """Read and validate a Circuit folder; bad content raises a one-line error."""
        path = Path(path)
        if not path.exists():
            raise NeurophantomError(f"circuit folder not found: {path}")
        if not path.is_dir():
            raise NeurophantomError(f"not a circuit folder (expected a directory): {path}")
        where = str(path / "circuit.json")
        h = Header(read_json(path / "circuit.json", "circuit header"), where)
        if h.raw("format", None) != FORMAT:
            raise CorruptDataError(f"{where} is not a neurophantom circuit header")
        version = h.int("version", default=None, optional=True)
        if version not in (1, FORMAT_VERSION):
            raise CorruptDataError(f"{where}: unsupported circuit format version {h.raw('version', None)!r}")
        if version >= 2:
            verify_checksums(path, h.dict("files"), f"circuit {path}")
        channel_types = h.strs("channel_types")
        receptor_types = h.strs("receptor_types")
        counts = h.dict("counts", default={})
        n_declared = Header(counts, f"{where} counts").int("neurons", lo=0, optional=True)
        tables = {}
        for name in ("neurons", "synapses", "gap_junctions"):
            f = path / f"{name}.parquet"
            if not f.is_file():
                raise CorruptDataError(f"circuit table {name!r} missing: {f}")
            tables[name] = read_parquet(f, f"circuit table {name!r}")
        meta = {k: v for k, v in h.data.items() if k not in _RESERVED_HEADER_KEYS}
        prov = Provenance(
            source=h.str("source"),
            dataset=h.str("dataset", optional=True),
            seed=h.int("seed", lo=0, optional=True),
            config=h.dict("config", default={}),
            metadata=meta,
        )
        circuit = cls(
            neurons=tables["neurons"],
            synapses=tables["synapses"],
            gap_junctions=tables["gap_junctions"],
            channel_types=channel_types,
            receptor_types=receptor_types,
            provenance=prov,
        )
        if n_declared is not None and n_declared != circuit.n_neurons:
            raise CorruptDataError(f"{path}: header says {n_declared} neurons, table has {circuit.n_neurons}")
        return circuit


def read_parquet(path: Path, what: str) -> pd.DataFrame:
    """A Parquet table, any reader failure as one :class:`CorruptDataError` line."""
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise CorruptDataError(f"{what} unreadable ({path}): {exc.__class__.__name__}") from None


def _validate_neurons(df: pd.DataFrame, channels: tuple[str, ...]) -> pd.DataFrame:
    base = _check_columns(df, "neurons", NEURON_BASE, channels)
    ids = base["id"].to_numpy()
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        raise _fail("neurons", "id", _first_bad(dup), f"duplicate neuron id {ids[_first_bad(dup)]}")
    dup = base["name"].duplicated().to_numpy()
    if dup.any():
        raise _fail("neurons", "name", _first_bad(dup), f"duplicate neuron name {base['name'].iloc[_first_bad(dup)]!r}")
    area = base["area_um2"].to_numpy()
    if (area <= 0).any():
        raise _fail("neurons", "area_um2", _first_bad(area <= 0), "membrane area must be > 0")
    rel = base["release"].to_numpy()
    bad = ~np.isin(rel, RELEASE_MODES)
    if bad.any():
        raise _fail("neurons", "release", _first_bad(bad), f"unknown release mode {rel[_first_bad(bad)]!r} (expected one of {RELEASE_MODES})")
    dens = _check_densities(df, "neurons", channels, base["channels_observed"].to_numpy())
    return pd.concat([base, dens], axis=1)


def _check_ids(table: str, col: str, values: np.ndarray, ids: np.ndarray) -> None:
    bad = ~np.isin(values, ids)
    if bad.any():
        raise _fail(table, col, _first_bad(bad), f"unknown neuron id {values[_first_bad(bad)]}")


def _validate_synapses(df: pd.DataFrame, receptors: tuple[str, ...], ids: np.ndarray) -> pd.DataFrame:
    base = _check_columns(df, "synapses", SYNAPSE_BASE, receptors)
    _check_ids("synapses", "pre", base["pre"].to_numpy(), ids)
    _check_ids("synapses", "post", base["post"].to_numpy(), ids)
    area = base["contact_area_um2"].to_numpy()
    if (area <= 0).any():
        raise _fail("synapses", "contact_area_um2", _first_bad(area <= 0), "contact area must be > 0")
    if len(base):
        # One release site per synapse_id: same presynaptic neuron and position on every row.
        g = base.groupby("synapse_id", sort=False)
        for col in ("pre", "x_um", "y_um", "z_um"):
            first = g[col].transform("first").to_numpy()
            bad = first != base[col].to_numpy()
            if bad.any():
                raise _fail("synapses", col, _first_bad(bad), "rows of one synapse_id must share pre and release-site position")
        dup = base.duplicated(["synapse_id", "post"]).to_numpy()
        if dup.any():
            raise _fail("synapses", "post", _first_bad(dup), "the same partner appears twice in one synapse")
    dens = _check_densities(df, "synapses", receptors, base["receptors_observed"].to_numpy())
    return pd.concat([base, dens], axis=1)


def _validate_gaps(df: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    base = _check_columns(df, "gap_junctions", GAP_BASE, ())
    _check_ids("gap_junctions", "a", base["a"].to_numpy(), ids)
    _check_ids("gap_junctions", "b", base["b"].to_numpy(), ids)
    same = base["a"].to_numpy() == base["b"].to_numpy()
    if same.any():
        raise _fail("gap_junctions", "b", _first_bad(same), "a gap junction must join two different neurons")
    cnt = base["connexin_count"].to_numpy()
    if (cnt <= 0).any():
        raise _fail("gap_junctions", "connexin_count", _first_bad(cnt <= 0), "connexin count must be > 0")
    return base


def empty_table(base: Mapping[str, str], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """An empty table with the right columns and dtypes (for circuits without gap junctions etc.)."""
    cols: dict[str, Any] = {}
    for col, kind in base.items():
        dtype = {"int64": np.int64, "float64": np.float64, "bool": bool, "str": object}[kind]
        cols[col] = np.zeros(0, dtype=dtype)
    for col in extra:
        cols[col] = np.zeros(0, dtype=np.float64)
    return pd.DataFrame(cols)
