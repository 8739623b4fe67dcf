"""Short text specs of barcodes and damage, as the CLI takes them.

Barcodes: ``serial:rounds=6,colors=4[,min_distance=3,signal_loss=0.03,...]`` or
``parallel:fluorophores=8,per_tag=3[,min_distance=4,crosstalk=0.1,...]``.
Damage: ``sparse:FRACTION[,radius_nm=300]``, ``slabs:FRACTION[,section_nm=500]``,
``misalign:SIGMA_NM[,section_nm=500]``. Any field of the config can be named as
``key=value``; the first bare value of a damage spec is its fraction (sigma for misalign).
"""

from __future__ import annotations

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .._errors import NeurophantomError
from .damage import Damage
from .exm import Barcode

_BARE = {"sparse": "fraction", "slabs": "fraction", "misalign": "sigma_nm"}


def _number(text: str, what: str):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise NeurophantomError(f"{what}: {text!r} is not a number") from None


def _fields(spec: str, what: str, known: tuple[str, ...]) -> tuple[str, dict]:
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in known:
        raise NeurophantomError(f"{what} {spec!r}: unknown kind {kind!r} (expected {' | '.join(known)})")
    out: dict = {"kind": kind}
    parts = [p.strip() for p in rest.split(",")] if sep else []
    if sep and not any(parts):
        raise NeurophantomError(f"{what} {spec!r}: nothing after ':'")
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if not eq:
            if i == 0 and kind in _BARE:
                out[_BARE[kind]] = _number(key, f"{what} {spec!r}")
                continue
            raise NeurophantomError(f"{what} {spec!r}: expected key=value, got {part!r}")
        key = key.strip()
        if not key or key in out:
            raise NeurophantomError(f"{what} {spec!r}: empty or repeated key {key!r}")
        out[key] = _number(value.strip(), f"{what} {spec!r}, {key}")
    return kind, out


def _validate(adapter: TypeAdapter, data: dict, what: str):
    try:
        return adapter.validate_python(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"][1:])  # loc[0] is the kind tag
        msg = err["msg"].removeprefix("Value error, ")
        raise NeurophantomError(f"{what}: {loc + ': ' if loc else ''}{msg}") from None


def parse_barcode(spec: str):
    """``serial:...`` or ``parallel:...`` -> SerialBarcode or ParallelBarcode."""
    _, data = _fields(spec, "barcode", ("serial", "parallel"))
    return _validate(TypeAdapter(Barcode), data, f"barcode {spec!r}")


def parse_damage(spec: str):
    """``sparse:F``, ``slabs:F`` or ``misalign:S`` (plus key=value) -> a damage spec."""
    _, data = _fields(spec, "damage", ("sparse", "slabs", "misalign"))
    return _validate(TypeAdapter(Damage), data, f"damage {spec!r}")
