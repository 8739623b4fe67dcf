"""Ground-truth circuits. Each source is a module with a ``Config`` (validated, frozen) and
``build(config) -> Circuit``; the registry imports them lazily (``cect`` is heavy).
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from .._errors import NeurophantomError
from ..types import Circuit

#: Source name -> module path (each module defines ``Config`` and ``build``).
SOURCES: dict[str, str] = {
    "celegans": "neurophantom.sources.celegans",
    "organoid": "neurophantom.sources.organoid",
    "cobahh": "neurophantom.sources.cobahh",
    "pretty-printer": "neurophantom.sources.pretty_printer",
}

#: Packages a source may need beyond the core install -> the extra that brings them.
OPTIONAL: dict[str, str] = {"cect": "celegans"}


def source_module(name: str):
    """The module implementing source ``name`` (one-line error for an unknown name)."""
    if name not in SOURCES:
        raise NeurophantomError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    try:
        return importlib.import_module(SOURCES[name])
    except ModuleNotFoundError as exc:
        extra = OPTIONAL.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        raise NeurophantomError(f"source {name!r} needs the optional package {exc.name.split('.')[0]!r}: "
                                f"pip install 'neurophantom[{extra}]' (make run and make test install it)") from None


def build_source(name: str, *, seed: int = 0, options: Mapping[str, Any] | None = None) -> Circuit:
    """Build source ``name`` with ``seed`` and option overrides (validated by its Config)."""
    mod = source_module(name)
    try:
        config = mod.Config(seed=seed, **dict(options or {}))
    except Exception as exc:  # pydantic.ValidationError, TypeError
        msg = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in msg[1:3]) if len(msg) > 1 else str(exc)
        raise NeurophantomError(f"bad options for source {name!r}: {detail}") from None
    return mod.build(config)
