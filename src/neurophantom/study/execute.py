"""What a worker does: run one stage into the study's shared cache, or read one point.

The study's cache is a run folder of the pipeline runner (``<cache>/stages/<name>-<key>``,
``<cache>/cache.log``; ``DIR/cache`` unless the study is given another), shared by every
point (and by every study and ``neurophantom run`` pointed at it). The scheduler (:mod:`.run`) submits each
distinct stage once (stages are identified by the runner's own cache keys), after the
stages it depends on, so no two tasks ever compute the same stage. A task runs the
runner itself (:func:`~neurophantom.pipeline.run_pipeline`) in a private work folder whose
``stages/`` holds links to the finished upstream stages, (``<cache>/.work/<study>/``), then moves the new stage
folder into the cache with one atomic rename. The runner's guarantees carry over unchanged (a
stage appears complete or not at all; its marker names its key), and the shared cache
never sees a temporary folder: a study killed at any point leaves finished stages in the
cache and, at worst, stale work folders that the next run clears. If another process
(a second study sharing the cache) finished the same stage first, its folder is kept and
ours dropped; both are the same computation.

Workers receive only plain data (kind name, settings, seed, stage name, keys) and rebuild
the point's stage graph themselves; a worker that builds a different graph (another code
version on a remote worker) is refused rather than allowed to mix results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import dask

from .._errors import NeurophantomError
from ..io import atomic_write_json
from ..pipeline.runner import MARKER, run_pipeline, stage_folder, stage_keys, upstream
from .kinds import get_kind


def work_root(cache: str | Path, out: str | Path) -> Path:
    """This study's work folders, inside the cache (same file system: renames are atomic),
    one folder per study output (its lock makes it this process's alone)."""
    tag = hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:12]
    return Path(cache) / ".work" / tag


def stage_path(cache: str | Path, name: str, key: str) -> Path:
    return Path(cache) / "stages" / stage_folder(name, key)


def is_finished(cache: str | Path, name: str, key: str) -> bool:
    return (stage_path(cache, name, key) / MARKER).is_file()


def log_event(cache: str | Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line to the cache log (one write, fsynced: concurrent workers
    append whole lines)."""
    line = (json.dumps(dict(record), sort_keys=True) + "\n").encode()
    fd = os.open(Path(cache) / "cache.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def point_graph(kind: str, settings: Mapping[str, Any], seed: int, options: Mapping[str, Any]):
    """(the stages a point needs, their cache keys)."""
    k = get_kind(kind)
    stages = upstream(k.stages(settings, seed, options), k.targets(options))
    return stages, stage_keys(stages)


def _worker_threads() -> int | None:
    """Threads of the dask worker running this task (a stage's own dask work stays in its
    task, on as many threads as the worker has: it must not be sent back to the cluster,
    where other stages' tasks and side effects would mix with its own)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def warm_up(kind: str, settings: dict, seed: int, options: dict) -> None:
    """Import what a kind's stages need (run once on each worker before the tasks)."""
    point_graph(kind, settings, seed, options)
    for module in get_kind(kind).preload:
        __import__(module)


def compute_stage(cache: str, work_dir: str, kind: str, settings: dict, seed: int, options: dict, name: str,
                  keys: dict[str, str], *_after: Any) -> dict[str, Any]:
    """Run stage ``name`` of a point into the shared cache (its upstream is finished).

    ``_after`` are the results of the tasks this one waits for (ignored: they are there
    so the scheduler orders the tasks).
    """
    stages, mine = point_graph(kind, settings, seed, options)
    part = upstream(stages, [name])
    if any(mine[s.name] != keys[s.name] for s in part):
        raise NeurophantomError(f"stage {name}: this worker builds other cache keys than the scheduler "
                                "(different neurophantom code on this worker?)")
    final = stage_path(cache, name, keys[name])
    if (final / MARKER).is_file():
        return {"stage": name, "key": keys[name], "event": "cached"}
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-{keys[name][:8]}-", dir=work_dir))
    try:
        (work / "stages").mkdir()
        for s in part:
            if s.name == name:
                continue
            src = stage_path(cache, s.name, keys[s.name])
            if not (src / MARKER).is_file():
                raise NeurophantomError(f"stage {name}: upstream stage {s.name} is not finished in the cache")
            os.symlink(src.resolve(), work / "stages" / stage_folder(s.name, keys[s.name]), target_is_directory=True)
        t0 = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=_worker_threads()):
            res = run_pipeline(part, work)[name]
        seconds = time.perf_counter() - t0
        try:
            os.rename(res.path, final)
        except OSError:
            if not (final / MARKER).is_file():
                raise
            return {"stage": name, "key": keys[name], "event": "cached"}
        event = {"stage": name, "key": keys[name], "event": "computed", "seconds": round(res.seconds, 3),
                 "task_seconds": round(seconds, 3), "worker_pid": os.getpid()}
        log_event(cache, event)
        return event
    finally:
        shutil.rmtree(work, ignore_errors=True)


def point_file(study_dir: str | Path, pid: str) -> Path:
    return Path(study_dir) / "points" / f"{pid}.json"


def finish_point(study_dir: str, cache: str, kind: str, settings: dict, seed: int, options: dict, pid: str,
                 axes: dict, keys: dict[str, str], *_after: Any) -> dict[str, Any]:
    """Read a point's metrics from its finished stages and record it (``points/<id>.json``,
    written atomically: a point is finished exactly when this file exists)."""
    t0 = time.perf_counter()
    folders = {n: stage_path(cache, n, k) for n, k in keys.items()}
    missing = [n for n, f in folders.items() if not (f / MARKER).is_file()]
    if missing:
        raise NeurophantomError(f"point {pid}: stage {missing[0]} is not finished in the cache")
    metrics = get_kind(kind).metrics(settings, seed, options, folders)
    stage_seconds = {n: float(json.loads((f / MARKER).read_text()).get("seconds", 0.0)) for n, f in folders.items()}
    row = {"id": pid, "kind": kind, "seed": int(seed), "axes": axes, "settings": settings,
           "metrics": _finite(metrics), "stages": {n: k for n, k in keys.items()},
           "stage_seconds": stage_seconds, "read_seconds": round(time.perf_counter() - t0, 4)}
    atomic_write_json(point_file(study_dir, pid), row)
    return row


def _finite(d: Mapping[str, Any]) -> dict[str, Any]:
    import math

    out = {}
    for k, v in d.items():
        if isinstance(v, bool) or v is None:
            out[k] = v
        elif isinstance(v, (int, float)):
            out[k] = v if (isinstance(v, int) or math.isfinite(v)) else None
        else:
            raise NeurophantomError(f"metric {k!r} is not a number ({type(v).__name__})")
    return out


def read_point(study_dir: str | Path, pid: str) -> dict[str, Any] | None:
    """A finished point's record, or None (missing; a corrupt file counts as missing)."""
    p = point_file(study_dir, pid)
    try:
        row = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) and row.get("id") == pid and isinstance(row.get("metrics"), dict) else None


def clear_work(cache: str | Path, root: Path) -> int:
    """Remove the work folders ``root`` of a killed run, first moving any stage that
    finished there into the cache (returns how many were salvaged)."""
    salvaged = 0
    if not root.is_dir():
        return 0
    for work in root.iterdir():
        stages = work / "stages"
        if stages.is_dir():
            for st in stages.iterdir():
                if st.is_symlink() or st.name.startswith(".") or not (st / MARKER).is_file():
                    continue
                final = Path(cache) / "stages" / st.name
                if not final.exists():
                    try:
                        meta = json.loads((st / MARKER).read_text(encoding="utf-8"))
                        os.rename(st, final)
                    except (OSError, ValueError):
                        continue
                    salvaged += 1
                    log_event(cache, {"stage": meta.get("stage"), "key": meta.get("key"), "event": "computed",
                                          "seconds": round(float(meta.get("seconds", 0.0)), 3), "salvaged": True})
        shutil.rmtree(work, ignore_errors=True)
    return salvaged
