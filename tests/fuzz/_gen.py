"""Seeded generators of fuzz inputs (loaded by the fuzz tests by path).

Hypothesis draws a seed (and a few small choices) per example; these functions expand it
into structured inputs with :class:`random.Random`. Hypothesis's own text and recursive
strategies cost 3-15 ms per example on the CI machine, which would spend the suite's
whole fuzzing budget on generation; a seed costs ~1 ms and the expansion microseconds, so
10,000+ cases fit in seconds. A failing example prints its input (``note``).
"""

from __future__ import annotations

import json
import random
import string

TOKENS = ["[" * 80, "{" * 70, "]", "}", "NaN", "-Infinity", "1e999", "9" * 5000, "1" * 60, '"', "\\", "\x00", ",", ":",
          "&a ", "*a", "!!python/object/apply:os.system ['true']", "<<: *a", "\ufeff", "\udcff", "0x1F", ".inf", "- ",
          "\n  ", "'", "null", "true", "1.0e+309", "- &x [*x]", "\x1f", "%YAML 1.1\n", "---\n", "...", "? ", "|\n x",
          "\t", "#", "@", "`", "{a: 1", "[1, 2"]
ODD_NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**40, 10**41, 1e300, -1e300, 1e-300, 0.5, 3.7, float("nan"),
               float("inf"), -float("inf"), 1e308, 5e-324]


def scalar(r: random.Random):
    k = r.randrange(8)
    if k == 0:
        return None
    if k == 1:
        return r.random() < 0.5
    if k == 2:
        return r.randint(-(10**6), 10**6)
    if k == 3:
        return r.uniform(-1e6, 1e6)
    if k == 4:
        return r.choice(ODD_NUMBERS)
    if k == 5:
        return r.choice(["", "x", "nan", "inf", "1e999", "-1", "abc", "0", "n0", "all"])
    return "".join(r.choice(string.printable) for _ in range(r.randrange(10)))


def value(r: random.Random, depth: int = 0):
    """A JSON-like value (may hold NaN and infinities: writers must refuse them)."""
    if depth > 3 or r.random() < 0.45:
        return scalar(r)
    if r.random() < 0.5:
        return [value(r, depth + 1) for _ in range(r.randrange(4))]
    return {r.choice(["a", "b", "x", "shape", "dtype", "version", ""]) + str(r.randrange(3)): value(r, depth + 1)
            for _ in range(r.randrange(4))}


def mutate_text(r: random.Random, text: str, ops: int | None = None) -> str:
    """Up to 4 insertions of nasty tokens, deletions, truncations or repeats."""
    for _ in range(r.randrange(5) if ops is None else ops):
        op = r.randrange(5)
        i = r.randrange(len(text) + 1)
        if op <= 1:
            tok = r.choice(TOKENS) if r.random() < 0.7 else "".join(r.choice(string.printable) for _ in range(r.randrange(6)))
            text = text[:i] + tok + text[i:]
        elif op == 2:
            text = text[:i] + text[i + r.randrange(1, 9):]
        elif op == 3:
            text = text[:i]
        else:
            text = text * r.randrange(1, 3)
    return text


def mutate_bytes(r: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(r.randrange(1, 4)):
        op = r.randrange(4)
        if op == 0 and b:
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
        elif op == 1:
            b = b[: r.randrange(len(b) + 1)]
        elif op == 2:
            i = r.randrange(len(b) + 1)
            b[i:i] = bytes(r.randrange(256) for _ in range(r.randrange(1, 16)))
        elif b:
            i = r.randrange(len(b))
            del b[i:i + r.randrange(1, 64)]
    return bytes(b)


def mutate_tree(r: random.Random, obj, edits: int | None = None):
    """A deep copy of a JSON tree with 1-3 edits: a key deleted, a value replaced by a
    random or odd one, a type changed, a list shortened or lengthened, a key added."""
    obj = json.loads(json.dumps(obj))
    for _ in range(r.randrange(1, 4) if edits is None else edits):
        paths = []

        def walk(o, path):
            paths.append(path)
            if isinstance(o, dict):
                for k, v in o.items():
                    walk(v, path + [k])
            elif isinstance(o, list):
                for i, v in enumerate(o[:8]):
                    walk(v, path + [i])

        walk(obj, [])
        path = r.choice(paths)
        if not path:
            if r.random() < 0.2:
                return value(r)
            continue
        parent = obj
        for p in path[:-1]:
            parent = parent[p]
        key = path[-1]
        op = r.randrange(6)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 0 and isinstance(parent, list):
            del parent[key]
        elif op == 1:
            parent[key] = scalar(r)
        elif op == 2:
            parent[key] = value(r)
        elif op == 3:
            v = parent[key]
            parent[key] = str(v) if not isinstance(v, str) else [v]
        elif op == 4 and isinstance(parent[key], list):
            parent[key] = parent[key] * r.randrange(0, 3) + [scalar(r)] * r.randrange(2)
        elif isinstance(parent, dict):
            parent["x" + str(r.randrange(99))] = value(r)
    return obj


def dumps(obj) -> str:
    """JSON text as Python writes it (NaN and Infinity included: readers must refuse them)."""
    return json.dumps(obj, allow_nan=True)
