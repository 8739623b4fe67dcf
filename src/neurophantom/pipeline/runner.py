"""Run stages as a graph, caching each stage's output under a hash of its config and inputs.

Each :class:`Stage` names the stages it depends on and carries a JSON-serialisable config.
Its cache key is the SHA-256 of (name, code version, canonical config JSON, the keys of its
inputs), so a changed parameter reruns exactly the stages downstream of it. A stage writes
into a temporary folder that is renamed to ``<run>/stages/<name>-<key16>`` only when the
stage function returned and its ``_stage.json`` marker was written: a run killed at any
point (Ctrl-C, ``kill -9``) leaves finished stages intact and no half-written stage that a
later run would accept. Every decision is appended to ``<run>/cache.log`` (JSON lines:
``computed``, ``cached`` or ``invalid``, with seconds), which is how tests check that a
resumed run did not recompute finished stages.

The marker lists every file of the stage with its size and CRC-32C. A finished stage is
reused only if its files still verify; a stage whose marker or files are damaged (a
truncated file, a flipped byte, a deleted or added file) is recomputed, with a one-line
notice. One run folder is used by one run at a time: :func:`run_lock` holds an exclusive
``flock`` on ``<run>/.lock`` (released by the kernel when the process dies, even by
``kill -9``), and a second run on the same folder is refused at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .._errors import NeurophantomError
from ..io import atomic_dir, atomic_write_json, file_checksums, read_json, verify_checksums

MARKER = "_stage.json"
LOCK = ".lock"
_HELD: dict[str, Any] = {}


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the run folder for this process (re-entrant); refuse if another run holds it."""
    import fcntl

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    if key in _HELD:
        yield run_dir
        return
    fh = open(run_dir / LOCK, "a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip()[:40]
        fh.close()
        raise NeurophantomError(f"run folder {run_dir} is in use by another neurophantom run"
                                f"{f' (pid {holder})' if holder else ''}; wait for it to finish or choose another --out") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        _HELD[key] = fh
        yield run_dir
    finally:
        _HELD.pop(key, None)
        fh.close()  # releases the lock


def _stage_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MARKER)


def _verify_stage(path: Path, key: str) -> tuple[dict | None, str]:
    """(marker, "") when the finished stage at ``path`` verifies, else (None, reason)."""
    try:
        meta = read_json(path / MARKER, "stage marker")
        if not isinstance(meta, dict) or meta.get("key") != key:
            return None, "its marker is not this stage's"
        files = meta.get("files")
        if not isinstance(files, dict):
            return None, "its marker lists no file checksums (written by an older version)"
        if sorted(files) != _stage_files(path):
            return None, "its files differ from those listed in its marker"
        verify_checksums(path, files, f"stage {path.name}")
        if not isinstance(meta.get("result", {}), dict):
            return None, "its marker's result is malformed"
    except NeurophantomError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{exc.__class__.__name__}: {exc.strerror}"
    return meta, ""


def _notice(msg: str) -> None:
    print(f"notice: {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage:
    """One node of the pipeline graph.

    ``fn(out_dir, inputs, config)`` writes its artifacts into ``out_dir``; ``inputs`` maps
    each dependency name to that stage's finished folder. It may return a JSON-able dict of
    small results, stored in the marker and handed to later stages as ``inputs[name] /
    "_stage.json"``.
    """

    name: str
    fn: Callable[[Path, Mapping[str, Path], Mapping[str, Any]], Mapping[str, Any] | None]
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    deps: tuple[str, ...] = ()
    version: str = "1"

    def __post_init__(self) -> None:
        if not self.name.replace("-", "_").isidentifier():
            raise NeurophantomError(f"stage name {self.name!r} must be an identifier")
        try:
            json.dumps(dict(self.config), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise NeurophantomError(f"stage {self.name!r}: config is not JSON-serialisable ({exc})") from None


def _key(stage: Stage, dep_keys: Sequence[str]) -> str:
    blob = json.dumps(
        {"name": stage.name, "version": stage.version, "config": stage.config, "inputs": list(dep_keys)},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def upstream(stages: Sequence[Stage], targets: Sequence[str]) -> list[Stage]:
    """The ``targets`` and every stage they depend on, directly or not (a partial run:
    the same stage folders and keys as the whole graph, so the two share a cache)."""
    by_name = {s.name: s for s in stages}
    need: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in by_name:
            raise NeurophantomError(f"unknown pipeline stage {name!r}")
        if name not in need:
            need.add(name)
            todo.extend(by_name[name].deps)
    return [s for s in stages if s.name in need]


def _order(stages: Sequence[Stage]) -> list[Stage]:
    by_name = {s.name: s for s in stages}
    if len(by_name) != len(stages):
        raise NeurophantomError("pipeline stage names must be unique")
    done: list[Stage] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(s: Stage) -> None:
        if s.name in seen:
            return
        if s.name in visiting:
            raise NeurophantomError(f"pipeline has a cycle through {s.name!r}")
        visiting.add(s.name)
        for d in s.deps:
            if d not in by_name:
                raise NeurophantomError(f"stage {s.name!r} depends on unknown stage {d!r}")
            visit(by_name[d])
        visiting.discard(s.name)
        seen.add(s.name)
        done.append(s)

    for s in stages:
        visit(s)
    return done


def _log(run_dir: Path, record: Mapping[str, Any]) -> None:
    line = json.dumps(dict(record), sort_keys=True) + "\n"
    with open(run_dir / "cache.log", "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_cache_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Entries of ``cache.log`` (a torn last line from a killed run is ignored)."""
    p = Path(run_dir) / "cache.log"
    if not p.is_file():
        return []
    from ..io import loads_json

    out = []
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = loads_json(line, "cache.log line", max_bytes=1 << 16)
        except NeurophantomError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


@dataclasses.dataclass(frozen=True)
class StageResult:
    name: str
    key: str
    path: Path
    cached: bool
    seconds: float
    result: Mapping[str, Any]


def run_pipeline(
    stages: Sequence[Stage],
    run_dir: str | Path,
    *,
    on_start: Callable[[Stage, bool], None] | None = None,
    on_done: Callable[[StageResult], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> dict[str, StageResult]:
    """Run ``stages`` in dependency order inside ``run_dir``; reuse finished stages that
    verify (see the module docstring); the run folder is locked while this runs."""
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        return _run_locked(stages, run_dir, on_start, on_done, on_notice or _notice)


def _run_locked(stages, run_dir: Path, on_start, on_done, on_notice) -> dict[str, StageResult]:
    (run_dir / "stages").mkdir(parents=True, exist_ok=True)
    # Leftovers of a killed run: temporary folders never renamed into place. One run
    # directory is used by one run at a time, so they can go.
    for stale in (run_dir / "stages").glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in (run_dir / "stages").glob(".old-*"):
        shutil.rmtree(stale, ignore_errors=True)
    results: dict[str, StageResult] = {}
    for stage in _order(stages):
        key = _key(stage, [results[d].key for d in stage.deps])
        path = run_dir / "stages" / stage_folder(stage.name, key)
        meta = None
        if path.exists():
            meta, why = _verify_stage(path, key)
            if meta is None:
                on_notice(f"cached stage {stage.name} does not verify ({why}); recomputing it")
                _log(run_dir, {"stage": stage.name, "key": key, "event": "invalid"})
        cached = meta is not None
        if on_start:
            on_start(stage, cached)
        if cached:
            seconds = meta.get("seconds", 0.0)
            seconds = float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else 0.0
            res = StageResult(stage.name, key, path, True, seconds, meta.get("result") or {})
            _log(run_dir, {"stage": stage.name, "key": key, "event": "cached"})
        else:
            t0 = time.perf_counter()
            with atomic_dir(path) as tmp:
                out = stage.fn(tmp, {d: results[d].path for d in stage.deps}, stage.config) or {}
                seconds = time.perf_counter() - t0
                atomic_write_json(tmp / MARKER, {"stage": stage.name, "key": key, "config": dict(stage.config), "seconds": seconds,
                                                 "result": dict(out), "files": file_checksums(tmp, _stage_files(tmp))})
            res = StageResult(stage.name, key, path, False, seconds, dict(out))
            _log(run_dir, {"stage": stage.name, "key": key, "event": "computed", "seconds": round(seconds, 3)})
        results[stage.name] = res
        if on_done:
            on_done(res)
    return results


def stage_keys(stages: Sequence[Stage]) -> dict[str, str]:
    """The cache key of every stage, exactly as :func:`run_pipeline` computes it, without
    running anything (a scheduler uses it to find shared and finished stages)."""
    keys: dict[str, str] = {}
    for s in _order(stages):
        keys[s.name] = _key(s, [keys[d] for d in s.deps])
    return keys


def stage_folder(name: str, key: str) -> str:
    """The name of a stage's folder under ``<run>/stages`` (as :func:`run_pipeline` names it)."""
    return f"{name}-{key[:16]}"
