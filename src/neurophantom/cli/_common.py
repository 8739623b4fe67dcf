"""Helpers shared by CLI subcommands: loading a Circuit from a folder or a source name."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from .._errors import NeurophantomError

console = Console(stderr=True)
out = Console()


def load_circuit_arg(arg: str, seed: int = 0):
    """A Circuit folder path, or the name of a built-in source (built with defaults)."""
    from ..sources import SOURCES, build_source
    from ..types import Circuit

    p = Path(arg)
    if p.exists():
        return Circuit.load(p)
    if arg in SOURCES:
        return build_source(arg, seed=seed)
    raise NeurophantomError(f"no circuit folder or source named {arg!r} (sources: {', '.join(SOURCES)})")
