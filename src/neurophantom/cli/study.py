"""``neurophantom study``: grids of runs over config keys and seeds, on dask.distributed.

``neurophantom study NAME|FILE.yaml --out DIR [--workers N] [--scheduler ADDRESS] [--quick]``
runs (or resumes) a study; ``neurophantom study list`` prints one built-in study name per
line (their titles and questions are in the YAML files and in each ``study.html``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import console
from ._common import out as stdout


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]points[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                    TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.description}"),
                    console=console, transient=False)


@app.command("study")
def study_cmd(
    target: str = typer.Argument(..., help="a built-in study name, a study YAML file, or `list`"),
    out: Optional[Path] = typer.Option(None, "--out", help="study folder (stage cache, points, results.parquet, summary.csv, figures, study.html)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local dask workers, one core each [all cores]"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="address of a running dask scheduler (its workers must see --out)"),
    quick: bool = typer.Option(False, "--quick", help="the study's quick variant (minutes on 2 cores)"),
    threads: bool = typer.Option(False, "--threads", help="local workers as threads of this process instead of processes"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="stage cache shared with other studies or a `neurophantom run` folder [OUT/cache]"),
) -> int:
    """Run a study: every point x seed of a declarative grid, resumable, with intervals."""
    from ..study import builtin_studies, load_study, run_study

    if target == "list":  # one name per line (a contract: scripts loop over it)
        for name in builtin_studies():
            print(name)
        return 0
    if out is None:
        raise NeurophantomError("study needs --out DIR")
    if workers is not None and scheduler is not None:
        raise NeurophantomError("--workers and --scheduler exclude each other (the cluster has its own workers)")
    spec = load_study(target)
    bar = _progress_bar() if sys.stderr.isatty() else None
    task = {}
    clock: dict[str, float] = {}

    def progress(done: int, total: int, label: str) -> None:
        if bar is None:  # a log, not a terminal: one line per point with the time left
            now = time.monotonic()
            clock.setdefault("t0", now)
            clock.setdefault("done0", done)
            new, elapsed = done - clock["done0"], now - clock["t0"]
            left = f", about {elapsed / new * (total - done):.0f} s left" if new > 0 and done < total else ""
            console.print(f"points {done}/{total} ({elapsed:.0f} s{left}) {label}", highlight=False)
            return
        if "id" not in task:
            bar.start()
            task["id"] = bar.add_task(label, total=total, completed=done)
        bar.update(task["id"], completed=done, description=label)

    try:
        res = run_study(spec, out, quick=quick, workers=workers, scheduler=scheduler, processes=not threads, cache=cache,
                        progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    n = len(res.prepared.points)
    stdout.print(f"{res.prepared.spec.name} ({'quick' if quick else 'full'}): {len(res.rows)}/{n} point-seeds finished "
                 f"({res.cached_points} from earlier runs), {res.computed_stages} stages computed, "
                 f"{res.wall_seconds:.0f} s", highlight=False)
    for f in res.files.values():
        stdout.print(str(f), highlight=False)
    if res.failures:
        first = res.failures[0]
        print(f"error: {len(res.failures)} of {n} points failed (first: {first['label']}: {first['error']}); "
              f"tracebacks in {out}/failures.log; a rerun retries them", file=sys.stderr)
        return 1
    return 0
