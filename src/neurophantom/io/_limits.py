"""The memory budget: sizes declared by a file or implied by parameters are checked here
before anything is allocated, so an absurd request fails at once with one line naming the
size and the budget instead of a ``MemoryError`` minutes later (or the machine swapping).

The budget is ``NEUROPHANTOM_MEMORY_BUDGET_GB`` when set, else half of the machine's
physical memory (8 GiB when that cannot be read). One stored chunk of a volume may hold
at most :func:`chunk_budget_bytes` (an eighth of the budget, at most 1 GiB): chunks are
what readers decode whole.
"""

from __future__ import annotations

import math
import os
from typing import Iterable

from .._errors import ResourceLimitError

ENV = "NEUROPHANTOM_MEMORY_BUDGET_GB"

__all__ = ["memory_budget_bytes", "chunk_budget_bytes", "check_memory", "nbytes_of", "human_bytes"]


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def memory_budget_bytes() -> int:
    """Bytes one command may allocate for data (see the module docstring)."""
    env = os.environ.get(ENV)
    if env:
        try:
            gb = float(env)
        except ValueError:
            gb = float("nan")
        if not (math.isfinite(gb) and gb > 0):
            raise ResourceLimitError(f"{ENV}={env!r} must be a positive number of GiB")
        return int(gb * 2**30)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    return int(total // 2) if total > 0 else 8 * 2**30


def chunk_budget_bytes() -> int:
    """Largest decoded chunk a reader accepts."""
    return int(min(memory_budget_bytes() // 8, 2**30))


def nbytes_of(shape: Iterable[int], itemsize: int) -> int:
    """Exact size (Python ints: no overflow) of an array of ``shape``."""
    n = int(itemsize)
    for s in shape:
        n *= max(int(s), 0)
    return n


def check_memory(nbytes: int, what: str, *, budget: int | None = None) -> int:
    """Raise :class:`ResourceLimitError` if ``nbytes`` exceed the budget; return it."""
    budget = memory_budget_bytes() if budget is None else int(budget)
    if nbytes > budget:
        raise ResourceLimitError(
            f"{what} needs {human_bytes(nbytes)}, more than the memory budget of {human_bytes(budget)} "
            f"(set {ENV} to change it)")
    return int(nbytes)
