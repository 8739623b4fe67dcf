"""Run a study: validate it, schedule its points on dask.distributed, write its results.

``run_study(spec, out, quick=..., workers=..., scheduler=...)``:

1. the variant's points are expanded and every distinct setting is validated by its
   kind before anything runs (a bad study fails in a second, not an hour in);
2. ``out`` is locked (one study process per folder; the lock dies with the process,
   so a killed study's folder is free again), work folders of a killed run are cleared;
3. points already recorded in ``out/points/`` (from the same stage keys) are done: they
   are never recomputed. For
   the others, every distinct stage (by the runner's cache key) not yet in the shared
   cache becomes one dask task after the tasks of its upstream stages, and each point one
   small task that reads its metrics once its stages are there;
4. tasks run on a ``LocalCluster`` of ``workers`` single-threaded worker processes (or
   threads), or on the cluster at ``scheduler`` (its workers must see ``out`` on a
   shared file system and run the same neurophantom);
5. the finished points go to ``results.parquet``, ``summary.csv`` (bootstrap intervals),
   figures and ``study.html`` (:mod:`.results`, :mod:`.figures`, :mod:`.page`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .._errors import NeurophantomError
from ..io import atomic_write_json
from .execute import (
    clear_work,
    work_root,
    compute_stage,
    finish_point,
    is_finished,
    log_event,
    point_graph,
    read_point,
    warm_up,
)
from .kinds import get_kind
from .spec import Point, StudySpec, canonical, expand

STUDY_FILE = "study.json"


@dataclasses.dataclass(frozen=True)
class Prepared:
    spec: StudySpec  # the variant that runs
    quick: bool
    options: dict[str, Any]
    points: list[Point]


@dataclasses.dataclass
class StudyResult:
    out: Path
    prepared: Prepared
    rows: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    computed_stages: int
    cached_points: int
    wall_seconds: float
    files: dict[str, Path]
    #: Where the time went: ``cluster_start``, ``tasks`` (submission to the last point),
    #: ``outputs``, and ``stage_seconds`` (the stage functions' own time, summed).
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


def prepare(spec: StudySpec, quick: bool = False) -> Prepared:
    """The variant's points, every distinct setting checked by its kind."""
    variant = spec.variant(quick)
    kind = get_kind(variant.kind)
    try:
        options = kind.check_options(variant.options)
    except NeurophantomError as exc:
        raise NeurophantomError(f"study {spec.name}: options: {exc}") from None
    points = expand(variant)
    checked: set[str] = set()
    for p in points:
        key = canonical(p.settings)
        if key in checked:
            continue
        checked.add(key)
        try:
            kind.check_settings(p.settings, options)
        except NeurophantomError as exc:
            where = ", ".join(f"{k}={v}" for k, v in p.axes.items()) or "every point"
            raise NeurophantomError(f"study {spec.name} ({where}): {exc}") from None
    _check_figures(variant, points, kind.metric_names(options))
    return Prepared(variant, quick, options, points)


def _check_figures(spec: StudySpec, points: list[Point], metrics: list[str]) -> None:
    axes = set(points[0].axes) if points else set()
    known = ", ".join(sorted(axes)) or "none"
    for i, f in enumerate(spec.figures):
        tag = f"study {spec.name}: figure {i + 1}"
        for role, name in [("x", f.x), ("hue", f.hue), ("facet", f.facet)] + [("where", k) for k in f.where]:
            if name is not None and name not in axes:
                raise NeurophantomError(f"{tag}: {role} {name!r} is not a varied key (varied: {known})")
        for y in f.y:
            if y not in metrics:
                raise NeurophantomError(f"{tag}: unknown metric {y!r}")
    for i, t in enumerate(spec.tables):
        tag = f"study {spec.name}: table {i + 1}"
        for r in t.rows:
            if len(r.metrics) != len(t.columns):
                raise NeurophantomError(f"{tag}: row {r.label!r} has {len(r.metrics)} metrics for {len(t.columns)} columns")
            bad = [m for m in r.metrics if m not in metrics] + [k for k in r.where if k not in axes]
            if bad:
                raise NeurophantomError(f"{tag}: row {r.label!r}: unknown metric or key {bad[0]!r}")


@contextlib.contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on ``out`` for this process (released when it exits or dies)."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NeurophantomError(f"another study is running in {out}") from None
        yield
    finally:
        os.close(fd)


def _check_out(out: Path, name: str) -> None:
    if out.exists() and not out.is_dir():
        raise NeurophantomError(f"--out {out} is a file, not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    meta = out / STUDY_FILE
    if not meta.is_file():
        raise NeurophantomError(f"--out {out} is not empty and holds no study; choose another folder")
    try:
        held = json.loads(meta.read_text(encoding="utf-8")).get("name")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise NeurophantomError(f"--out {out}: {STUDY_FILE} is corrupt") from None
    if held != name:
        raise NeurophantomError(f"--out {out} holds study {held!r}, not {name!r}; choose another folder")


def _client(workers: int | None, scheduler: str | None, processes: bool):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s", set_as_default=False), None
        except (OSError, TimeoutError) as exc:
            raise NeurophantomError(f"cannot reach the dask scheduler at {scheduler} ({exc.__class__.__name__})") from None
    n = workers or max(1, os.cpu_count() or 1)
    # One thread per worker: points run side by side, each on its own core (dask's nanny
    # also pins OMP/MKL/OpenBLAS to one thread; XLA is told here).
    env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    kw = {"env": env} if processes else {}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                           silence_logs=logging.ERROR, **kw)
    # Not the default client: code inside a stage that looks for one (io.omezarr) must
    # compute locally in its task, not submit to the study's cluster.
    return Client(cluster, set_as_default=False), cluster


def run_study(spec: StudySpec, out: str | Path, *, quick: bool = False, workers: int | None = None,
              scheduler: str | None = None, processes: bool = True, cache: str | Path | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> StudyResult:
    """Run (or resume) a study into ``out``; see the module docstring.

    ``cache`` is the stage cache (a pipeline run folder; ``out/cache`` by default): studies
    and runs pointed at one cache share their stages. ``progress(done, total, label)`` is
    called once with ``done`` = the points already finished and after every point that
    finishes.
    """
    if workers is not None and workers < 1:
        raise NeurophantomError(f"--workers must be >= 1, got {workers}")
    prep = prepare(spec, quick)
    out = Path(out).absolute()  # workers (perhaps on other hosts) get absolute paths
    _check_out(out, prep.spec.name)
    cache = Path(cache).absolute() if cache is not None else out / "cache"
    t0 = time.perf_counter()
    with study_lock(out):
        (cache / "stages").mkdir(parents=True, exist_ok=True)
        (out / "points").mkdir(exist_ok=True)
        work = work_root(cache, out)
        clear_work(cache, work)
        atomic_write_json(out / STUDY_FILE, _study_record(prep))
        # A recorded point counts only if it was computed from the stages this code would
        # run now (a changed stage version or config gives new keys: it is recomputed).
        graphs = {p.pid: point_graph(prep.spec.kind, p.settings, p.seed, prep.options) for p in prep.points}
        done = {p.pid: r for p in prep.points
                if (r := read_point(out, p.pid)) is not None and r.get("stages") == graphs[p.pid][1]}
        pending = [p for p in prep.points if p.pid not in done]
        if progress:
            progress(len(done), len(prep.points), "resumed" if done else "start")
        failures: list[dict[str, Any]] = []
        computed = 0
        timings: dict[str, float] = {"prepare": time.perf_counter() - t0}
        if pending:
            rows, failures, computed = _schedule(prep, out, cache, work, pending, graphs, workers, scheduler,
                                                 processes, progress, len(done), timings)
            done.update(rows)
        t_out = time.perf_counter()
        rows = [done[p.pid] for p in prep.points if p.pid in done]
        with contextlib.suppress(OSError):
            work.rmdir()  # only when empty
            work.parent.rmdir()
        from .report import write_outputs

        files = write_outputs(out, prep, rows, failures)
        timings["outputs"] = time.perf_counter() - t_out
    return StudyResult(out, prep, rows, failures, computed, len(prep.points) - len(pending),
                       time.perf_counter() - t0, files, timings)


def code_provenance() -> dict[str, Any]:
    """Which code computes the points: package version, pipeline code version and, in a
    git checkout, the commit (the emulation numbers depend on the identification code)."""
    import subprocess

    from .. import __version__
    from ..pipeline.main import CODE_VERSION

    out: dict[str, Any] = {"neurophantom": __version__, "pipeline_code_version": CODE_VERSION}
    try:
        here = Path(__file__).resolve().parent
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here.parent, capture_output=True,
                               text=True, timeout=5)
        if git.returncode == 0:
            out["git_commit"] = git.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _study_record(prep: Prepared) -> dict[str, Any]:
    return {"name": prep.spec.name, "variant": "quick" if prep.quick else "full", "code": code_provenance(),
            "spec": json.loads(prep.spec.model_dump_json()), "options": prep.options,
            "points": [{"id": p.pid, "seed": p.seed, "axes": p.axes} for p in prep.points]}


def _schedule(prep: Prepared, out: Path, cache: Path, work: Path, pending: list[Point], graphs, workers, scheduler,
              processes, progress, n_done, timings: dict[str, float]):
    """Submit stage and point tasks; return (rows by id, failures, stages computed)."""
    from distributed import as_completed

    kind, options = prep.spec.kind, prep.options
    t0 = time.perf_counter()
    client, cluster = _client(workers, scheduler, processes)
    # Import the kind's code on every worker now (seconds per worker process), so that
    # the task times below are the runner's and the stages' own.
    first = pending[0]
    client.run(warm_up, kind, first.settings, first.seed, options)
    timings["cluster_start"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    stage_futures: dict[str, Any] = {}
    logged: set[str] = set()
    point_futures = {}
    try:
        for p in pending:
            stages, keys = graphs[p.pid]
            for s in stages:
                k = keys[s.name]
                if k in stage_futures:
                    continue
                if is_finished(cache, s.name, k):
                    if k not in logged:
                        log_event(cache, {"stage": s.name, "key": k, "event": "cached"})
                        logged.add(k)
                    continue
                after = [stage_futures[keys[d]] for d in s.deps if keys[d] in stage_futures]
                stage_futures[k] = client.submit(compute_stage, str(cache), str(work), kind, p.settings, p.seed, options, s.name,
                                                 keys, *after, key=f"stage-{s.name}-{k[:16]}", pure=False)
            after = [stage_futures[keys[s.name]] for s in stages if keys[s.name] in stage_futures]
            point_futures[client.submit(finish_point, str(out), str(cache), kind, p.settings, p.seed, options, p.pid, p.axes,
                                        keys, *after, key=f"point-{p.pid}", pure=False)] = p
        rows, failures = {}, []
        n = n_done
        for fut in as_completed(list(point_futures), loop=client.loop):
            p = point_futures[fut]
            if fut.status == "finished":
                rows[p.pid] = fut.result()
            else:
                exc = fut.exception()
                failures.append({"id": p.pid, "label": p.label, "error": f"{type(exc).__name__}: {exc}"})
                _log_failure(out, p, fut)
            n += 1
            if progress:
                progress(n, n_done + len(pending), p.label)
        timings["tasks"] = time.perf_counter() - t0
        events = [f.result() for f in stage_futures.values() if f.status == "finished"]
        computed = sum(1 for e in events if e["event"] == "computed")
        timings["stage_seconds"] = float(sum(e.get("seconds", 0.0) for e in events if e["event"] == "computed"))
        return rows, failures, computed
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _log_failure(out: Path, p: Point, fut) -> None:
    import traceback

    tb = fut.traceback()
    text = "".join(traceback.format_tb(tb)) if tb is not None else ""
    with open(out / "failures.log", "a", encoding="utf-8") as fh:
        fh.write(f"== point {p.pid} ({p.label})\n{text}{type(fut.exception()).__name__}: {fut.exception()}\n")
