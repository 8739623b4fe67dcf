"""Column checks for the side tables of an artifact (morphology, uncertainty, contacts, ...).

A schema maps each required column to a :class:`Col`: its kind (``"int"``, ``"float"``,
``"bool"``, ``"str"``), whether NaN may stand for "unknown", and bounds. Extra columns
are allowed (a newer writer may add some); a missing column, a wrong kind, an unexpected
NaN or an out-of-range value is one :class:`~neurophantom.CorruptDataError` naming the
table, column and row.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from .._errors import CorruptDataError


@dataclasses.dataclass(frozen=True)
class Col:
    kind: str = "float"
    nan: bool = False
    lo: float | None = None
    hi: float | None = 1e12


def check_table(df: pd.DataFrame, schema: Mapping[str, Col], where: str) -> None:
    """Raise on the first column of ``df`` that breaks ``schema`` (see module docstring)."""
    for col, spec in schema.items():
        if col not in df.columns:
            raise CorruptDataError(f"{where}: missing column {col!r}")
        if not len(df):
            continue  # no values to check (an empty table's columns may have any type)
        s = df[col]
        dt = s.dtype
        if spec.kind == "str":
            if not (pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt)):
                raise CorruptDataError(f"{where}: column {col!r} holds {dt}, expected text")
            bad = np.fromiter((not isinstance(v, str) for v in s.to_numpy(dtype=object)), bool, len(s))
            if bad.any():
                raise CorruptDataError(f"{where}: column {col!r}, row {int(np.flatnonzero(bad)[0])}: expected text")
            continue
        if spec.kind == "bool":
            if not pd.api.types.is_bool_dtype(dt):
                raise CorruptDataError(f"{where}: column {col!r} holds {dt}, expected true/false")
            continue
        numeric = pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
        if not numeric or (spec.kind == "int" and not pd.api.types.is_integer_dtype(dt)):
            raise CorruptDataError(f"{where}: column {col!r} holds {dt}, expected {'integers' if spec.kind == 'int' else 'numbers'}")
        v = s.to_numpy(dtype=np.float64)
        nan = np.isnan(v)
        bad = (nan & (not spec.nan)) | np.isinf(v)
        if spec.lo is not None:
            bad |= ~nan & (v < spec.lo)
        if spec.hi is not None:
            bad |= ~nan & (v > spec.hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            rng = f"[{spec.lo if spec.lo is not None else '-inf'}, {spec.hi if spec.hi is not None else 'inf'}]"
            raise CorruptDataError(f"{where}: column {col!r}, row {i}: value {v[i]} is not "
                                   f"{'a number' if nan[i] else 'finite and within ' + rng}")
