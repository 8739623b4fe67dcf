"""Values and size guards shared by the subcommands.

**One syntax for values.** Every ``--set NAME=VALUE`` (``circuit``, ``tissue``, ``scan``,
``reconstruct``, ``run``) reads VALUE with :func:`parse_value`: JSON when it parses
(``12``, ``0.5``, ``true``, ``[440, 440, 440]``, ``{"a": 1}``), else a comma-separated
list of numbers (``440,440,440``, the form ``--voxel-size-nm`` takes), else the text
itself (``parallel``).

**Size guard.** A command that would write more than :data:`MAX_OUTPUT_BYTES` (or more
than half the free space on the output's disk) stops before it starts, says how much it
would write and how to shrink it, and asks for ``--yes``; ``--dry-run`` prints the same
estimate and exits without writing anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .._errors import NeurophantomError

#: The integration step every command uses by default (``simulate``, ``record`` and the
#: Brian2 ``export``), so that an exported script reproduces a default simulation step for step.
DEFAULT_DT_MS = 0.05

#: Outputs above this many bytes need ``--yes`` (16 GB: a default scan of a default
#: phantom writes about 9 GB; a scan at the light-sheet camera's native voxel writes 60+).
MAX_OUTPUT_BYTES = 16e9


def _number(text: str) -> int | float:
    if len(text) > 64:
        raise ValueError(text)
    try:
        return int(text)
    except ValueError:
        v = float(text)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(text) from None
        return v


def parse_value(text: str, what: str = "--set value"):
    """``VALUE`` of ``--set NAME=VALUE``: JSON when it parses (bounded like every other
    parse: :func:`~neurophantom.io.parse_option_value`), else a comma-separated list of
    finite numbers, else the text itself."""
    from ..io import parse_option_value

    v = parse_option_value(text, what)
    if isinstance(v, str) and "," in v and len(v) <= 4096:
        try:
            return [_number(p.strip()) for p in v.split(",")]
        except ValueError:
            pass
    return v


def parse_sets(items: list[str], what: str = "--set") -> dict:
    """``NAME=VALUE`` pairs (VALUE read by :func:`parse_value`); later items win."""
    opts = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise NeurophantomError(f"malformed {what} {item[:80]!r} (expected NAME=VALUE)")
        opts[key.strip()] = parse_value(value, f"{what} {key.strip()[:60]}")
    return opts


def human_bytes(n: float) -> str:
    """``n`` bytes as kB, MB, GB or TB (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def guard_size(what: str, nbytes: float, out: Path, *, yes: bool, dry_run: bool, detail: str = "",
               shrink: str = "") -> str | None:
    """Stop (error) before writing ``nbytes`` if it is too much; the estimate line to show
    when the caller should go on, None when it should not (``--dry-run``).

    Prints the estimate with ``--dry-run`` (and returns None: write nothing). Without
    ``--yes``, an estimate above :data:`MAX_OUTPUT_BYTES` or above half the free space
    on ``out``'s disk raises a one-line error naming the size and how to shrink it.
    """
    line = f"{what}: about {human_bytes(nbytes)} to write" + (f" ({detail})" if detail else "")
    if dry_run:
        print(f"dry run: {line}; nothing written")
        return None
    parent = Path(out).resolve()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    limit = min(MAX_OUTPUT_BYTES, 0.5 * free)
    if nbytes > limit and not yes:
        why = (f"more than {human_bytes(MAX_OUTPUT_BYTES)}" if limit == MAX_OUTPUT_BYTES
               else f"more than half the {human_bytes(free)} free on {parent}")
        raise NeurophantomError(f"{line}: {why}; {shrink + '; ' if shrink else ''}pass --yes to go ahead "
                                "or --dry-run to see the estimate only")
    return line
