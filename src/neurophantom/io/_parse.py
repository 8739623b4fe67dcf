"""Bounded reading of JSON and YAML text: every file and option value neurophantom parses.

Python's parsers are unbounded: a 200 000-deep array raises ``RecursionError``, an integer
of 5 000 digits ``ValueError``, a YAML alias bomb ("billion laughs") expands to gigabytes
once something walks it, ``1e999`` silently becomes infinity. Every reader goes through
:func:`loads_json` / :func:`loads_yaml` (or :func:`read_config_file` for a user's file),
which refuse, with one :class:`~neurophantom.CorruptDataError` line naming the text and
the problem:

- text larger than ``max_bytes`` (checked before reading the file whole);
- bytes that are not UTF-8 (a UTF-8 byte-order mark is allowed), naming the byte;
- nesting deeper than ``max_depth``;
- a number literal longer than :data:`MAX_NUMBER_CHARS` characters, an integer beyond
  +-10**40, and non-finite numbers (``NaN``, ``Infinity``, ``1e999``, YAML ``.inf``);
- YAML whose aliases would expand to more than ``max_nodes`` nodes, and recursive aliases.

YAML is read with PyYAML's safe loader only (no ``!!python`` tags).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .._errors import CorruptDataError, NeurophantomError

#: Headers, manifests and configs are small; a chunk manifest of 10^6 chunks is ~40 MB.
MAX_BYTES = 256 * 2**20
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 64
MAX_INT = 10**40
#: Expanded YAML nodes (aliases counted as often as they are used).
MAX_YAML_NODES = 100_000

__all__ = ["loads_json", "loads_yaml", "read_text", "read_config_file", "parse_option_value", "check_tree"]


_NONFINITE_TEXT = re.compile(r"\s*[-+]?(?:nan|inf|infinity|(?:\d+\.?\d*|\.\d+)[eE][-+]?\d{3,})\s*", re.IGNORECASE)


class _NumberProblem(Exception):
    pass


def _nonfinite_text(s: str) -> bool:
    """A string a lax number parser (pydantic, float()) would turn into NaN or infinity."""
    if len(s) > MAX_NUMBER_CHARS or not _NONFINITE_TEXT.fullmatch(s):
        return False
    try:
        return not math.isfinite(float(s))
    except ValueError:
        return False


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberProblem(f"an integer of {len(text.lstrip('-'))} digits")
    v = int(text)
    if abs(v) > MAX_INT:
        raise _NumberProblem(f"the integer {text} is out of range")
    return v


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberProblem(f"a number literal of {len(text)} characters")
    v = float(text)
    if not math.isfinite(v):
        raise _NumberProblem(f"the number {text} is out of range (not finite)")
    return v


def _constant(name: str) -> float:
    raise _NumberProblem(f"the non-finite number {name} (JSON has no NaN or Infinity)")


def _decode(data: bytes | str, what: str, max_bytes: int) -> str:
    if isinstance(data, str):
        if len(data) > max_bytes:
            raise CorruptDataError(f"{what} is {len(data)} characters, more than the limit of {max_bytes}")
        return data
    if len(data) > max_bytes:
        raise CorruptDataError(f"{what} is {len(data)} bytes, more than the limit of {max_bytes}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"{what} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return text[1:] if text.startswith("\ufeff") else text


def check_tree(obj: Any, what: str, *, max_depth: int = MAX_DEPTH, max_nodes: int | None = None) -> Any:
    """Refuse nesting deeper than ``max_depth`` and non-finite or huge numbers in ``obj``
    (the result of a parser); iterative, so it never recurses itself."""
    stack = [(obj, 1)]
    nodes = 0
    while stack:
        o, d = stack.pop()
        nodes += 1
        if max_nodes is not None and nodes > max_nodes:
            raise CorruptDataError(f"{what} holds more than {max_nodes} values")
        if isinstance(o, dict):
            children = list(o.values())
        elif isinstance(o, (list, tuple)):
            children = o
        elif isinstance(o, str):
            if _nonfinite_text(o):
                raise CorruptDataError(f"{what}: {o.strip()!r} is not a finite number")
            continue
        elif isinstance(o, bool) or o is None:
            continue
        elif isinstance(o, int):
            if abs(o) > MAX_INT:
                raise CorruptDataError(f"{what}: the integer at depth {d} is out of range")
            continue
        elif isinstance(o, float):
            if not math.isfinite(o):
                raise CorruptDataError(f"{what}: non-finite number {o} at depth {d}")
            continue
        else:
            continue
        if d > max_depth and children:
            raise CorruptDataError(f"{what} is nested more than {max_depth} levels deep")
        stack.extend((c, d + 1) for c in children)
    return obj


def loads_json(data: bytes | str, what: str = "JSON text", *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text within the limits of this module (see the module docstring)."""
    text = _decode(data, what, max_bytes)
    try:
        obj = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except NeurophantomError:
        raise
    except RecursionError:
        raise CorruptDataError(f"{what} is nested more than {max_depth} levels deep") from None
    except _NumberProblem as exc:
        raise CorruptDataError(f"{what} holds {exc}") from None
    except json.JSONDecodeError as exc:
        raise CorruptDataError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer string past Python's own digit limit
        raise CorruptDataError(f"{what} is not valid JSON ({exc})") from None
    return check_tree(obj, what, max_depth=max_depth)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; :func:`loads_yaml` checks the node graph before building."""


def _yaml_size(node: yaml.Node, max_nodes: int, max_depth: int, what: str) -> int:
    """Expanded node count of a composed YAML graph (aliases share node objects: memoised)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise CorruptDataError(f"{what} holds a recursive YAML alias")
        if depth > max_depth:
            raise CorruptDataError(f"{what} is nested more than {max_depth} levels deep")
        total = 1
        if isinstance(n, yaml.SequenceNode):
            active.add(key)
            for c in n.value:
                total += size(c, depth + 1)
            active.discard(key)
        elif isinstance(n, yaml.MappingNode):
            active.add(key)
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
            active.discard(key)
        elif isinstance(n, yaml.ScalarNode) and n.tag.endswith((":int", ":float")) and len(n.value) > MAX_NUMBER_CHARS:
            raise CorruptDataError(f"{what} holds a number literal of {len(n.value)} characters")
        if total > max_nodes:
            raise CorruptDataError(f"{what} expands to more than {max_nodes} values (YAML aliases)")
        sizes[key] = total
        return total

    return size(node, 1)


def _bracket_depth(text: str) -> int:
    """Deepest nesting of flow brackets (an upper bound: quoted brackets count too)."""
    raw = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    if raw.size == 0:
        return 0
    step = np.isin(raw, (ord("["), ord("{"))).astype(np.int64) - np.isin(raw, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def loads_yaml(data: bytes | str, what: str = "YAML text", *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
               max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse YAML (safe loader) within the limits of this module; JSON is YAML too."""
    text = _decode(data, what, max_bytes)
    if _bracket_depth(text) > max_depth:  # PyYAML's parser recurses: refuse before it runs
        raise CorruptDataError(f"{what} is nested more than {max_depth} levels deep")
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _yaml_size(node, max_nodes, max_depth, what)
        obj = loader.construct_document(node)
    except RecursionError:
        raise CorruptDataError(f"{what} is nested more than {max_depth} levels deep") from None
    except NeurophantomError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise CorruptDataError(f"{what} is not valid YAML ({problem}{where})") from None
    except (ValueError, TypeError, OverflowError) as exc:  # int() past its digit limit, unhashable keys
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise CorruptDataError(f"{what} is not valid YAML ({msg[:120]})") from None
    finally:
        if loader is not None:
            loader.dispose()
    return check_tree(obj, what, max_depth=max_depth, max_nodes=max_nodes)


def read_text(path: str | os.PathLike, what: str, *, max_bytes: int = MAX_BYTES) -> str:
    """A small text file's content (UTF-8), refusing a missing file, a non-file and one
    larger than ``max_bytes`` before reading it."""
    p = Path(path)
    try:
        if not p.is_file():
            raise NeurophantomError(f"{what} not found (or not a regular file): {p}")
        size = p.stat().st_size
        if size > max_bytes:
            raise CorruptDataError(f"{what} {p} is {size} bytes, more than the limit of {max_bytes}")
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise NeurophantomError(f"{what} {p} cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    return _decode(data, f"{what} {p}", max_bytes)


def read_config_file(path: str | os.PathLike, what: str = "config file", *, mapping: bool = True) -> Any:
    """A user's JSON or YAML file (by suffix; anything else is read as YAML, which
    includes JSON), bounded; ``mapping=True`` requires a mapping at the top."""
    p = Path(path)
    text = read_text(p, what)
    if p.suffix.lower() == ".json":
        obj = loads_json(text, f"{what} {p}")
    else:
        obj = loads_yaml(text, f"{what} {p}")
    if mapping and obj is not None and not isinstance(obj, dict):
        raise CorruptDataError(f"{what} {p} must hold a mapping (key: value), got a {type(obj).__name__}")
    return {} if obj is None and mapping else obj


def parse_option_value(text: str, what: str = "option value") -> Any:
    """A ``--set NAME=VALUE`` value: JSON when it parses (numbers, true, lists, objects),
    else the text itself; bounded like every other parse."""
    if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise CorruptDataError(f"{what} {text.strip()!r} is not a finite number")
    try:
        return loads_json(text, what, max_bytes=1 << 20)
    except CorruptDataError as exc:
        if "is not valid JSON" in str(exc) and not text.lstrip().startswith(("[", "{")):
            return text
        raise
