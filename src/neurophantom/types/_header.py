"""Typed reading of JSON headers: one line naming the file, the field and what is wrong.

Every artifact reader (Circuit, Phantom, Scan, Reconstruction, recordings) takes its
header's fields through :class:`Header`, so that a wrong type, a missing key, a
non-finite or absurd number or a wrong length is a :class:`~neurophantom.CorruptDataError`
(exit 2 from the CLI), never a ``KeyError``, ``AttributeError`` or garbage.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .._errors import CorruptDataError

_MISSING = object()


class Header:
    """A validated view of a decoded JSON object ``data`` read from ``where``."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise CorruptDataError(f"{where} must hold a JSON object, got {_kind(data)}")
        self.data = data
        self.where = where

    def _fail(self, key: str, problem: str) -> CorruptDataError:
        return CorruptDataError(f"{self.where}: field {key!r} {problem}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self._fail(key, "is missing")
            return default
        return self.data[key]

    def int(self, key: str, *, lo: int | None = None, hi: int | None = None, default: Any = _MISSING,
            optional: bool = False) -> int | None:
        v = self.raw(key, None if optional else default)
        if v is None and (optional or default is None):
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._fail(key, f"must be an integer, got {_kind(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self._fail(key, f"= {v} is outside [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]")
        return v

    def float(self, key: str, *, lo: float | None = None, hi: float | None = None, positive: bool = False,
              default: Any = _MISSING) -> float:
        return number(self.raw(key, default), f"{self.where}: field {key!r}", lo=lo, hi=hi, positive=positive)

    def str(self, key: str, *, choices: Sequence[str] | None = None, default: Any = _MISSING, optional: bool = False) -> str | None:
        v = self.raw(key, None if optional else default)
        if v is None and (optional or default is None):
            return None
        if not isinstance(v, str):
            raise self._fail(key, f"must be text, got {_kind(v)}")
        if choices is not None and v not in choices:
            raise self._fail(key, f"= {v!r} is not one of {', '.join(map(repr, choices))}")
        return v

    def dict(self, key: str, *, default: Any = _MISSING) -> dict:
        v = self.raw(key, default)
        if not isinstance(v, dict):
            raise self._fail(key, f"must be a JSON object, got {_kind(v)}")
        return v

    def list(self, key: str, *, length: int | None = None, default: Any = _MISSING) -> list:
        v = self.raw(key, default)
        if not isinstance(v, list):
            raise self._fail(key, f"must be a list, got {_kind(v)}")
        if length is not None and len(v) != length:
            raise self._fail(key, f"must have {length} entries, got {len(v)}")
        return v

    def strs(self, key: str, *, default: Any = _MISSING) -> tuple[str, ...]:
        v = self.list(key, default=default)
        bad = [x for x in v if not isinstance(x, str)]
        if bad:
            raise self._fail(key, f"must be a list of text, holds {_kind(bad[0])}")
        return tuple(v)

    def vector(self, key: str, n: int, *, lo: float | None = None, hi: float | None = None, positive: bool = False,
               default: Any = _MISSING) -> tuple[float, ...]:
        v = self.list(key, length=n, default=default)
        return tuple(number(x, f"{self.where}: field {key!r}[{i}]", lo=lo, hi=hi, positive=positive) for i, x in enumerate(v))

    def ints(self, key: str, n: int | None = None, *, lo: int | None = None, hi: int | None = None) -> tuple[int, ...]:
        v = self.list(key, length=n)
        for i, x in enumerate(v):
            if isinstance(x, bool) or not isinstance(x, int):
                raise self._fail(f"{key}[{i}]", f"must be an integer, got {_kind(x)}")
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                raise self._fail(f"{key}[{i}]", f"= {x} is outside [{lo}, {hi}]")
        return tuple(v)


def number(v: Any, where: str, *, lo: float | None = None, hi: float | None = None, positive: bool = False) -> float:
    """A finite JSON number within ``[lo, hi]`` (and > 0 with ``positive``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CorruptDataError(f"{where} must be a number, got {_kind(v)}")
    try:
        f = float(v)
    except OverflowError:
        raise CorruptDataError(f"{where} = {v} is out of range") from None
    if not math.isfinite(f):
        raise CorruptDataError(f"{where} must be finite, got {f}")
    if positive and not f > 0:
        raise CorruptDataError(f"{where} must be > 0, got {f:g}")
    if (lo is not None and f < lo) or (hi is not None and f > hi):
        raise CorruptDataError(f"{where} = {f:g} is outside [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]")
    return f


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a JSON object"
    return type(v).__name__
