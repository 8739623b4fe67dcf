"""Benchmark: the study runner's parallel speed-up and its overhead per point.

A quick built-in study (default: ``barcode-capacity --quick`` with 200 molecules per
protein type, 76 point-seeds over 98 stages of about a second each) is run twice from
scratch, with 1 and with 2 local dask workers (single-threaded worker processes, the
default), each into a fresh folder. Reported:

- wall time of each run (cluster start, i.e. spawning the workers and importing the
  kind's code on them, included) and the speed-up 1 -> 2 workers (target >= 1.7x on 2
  free cores), and the speed-up of the task phase alone;
- the runner's overhead per point: (wall time of the 1-worker run's tasks - the stage
  functions' own time) / points, i.e. scheduling, cache look-ups, work folders, renames,
  logs and point records; and the cluster start-up.

Other jobs on the machine lower the speed-up: the load average is printed beside it.

Usage: ``python benchmarks/study.py [--study barcode-capacity] [--full] [--molecules 200] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from neurophantom.study import load_study, run_study  # noqa: E402


def spec_for(name: str, quick: bool, molecules: int | None):
    """The study (or its quick variant), with ``molecules_per_type`` raised for barcode
    studies so that each point is about a second of work, not tens of milliseconds."""
    spec = load_study(name).variant(quick)
    if molecules and spec.kind == "barcode":
        spec = spec.model_copy(update={"base": {**spec.base, "molecules_per_type": molecules}})
    return spec


def run(spec, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="np-bench-study-") as tmp:
        res = run_study(spec, tmp, workers=workers)
        if res.failures:
            raise SystemExit(f"study failed: {res.failures[0]}")
        t = res.timings
        n = len(res.rows)
        return {"workers": workers, "points": n, "stages_computed": res.computed_stages, "wall_s": res.wall_seconds,
                "cluster_start_s": t.get("cluster_start", 0.0), "tasks_s": t.get("tasks", 0.0),
                "stage_s": t.get("stage_seconds", 0.0), "outputs_s": t.get("outputs", 0.0)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--study", default="barcode-capacity")
    p.add_argument("--full", action="store_true", help="the full variant (default: --quick)")
    p.add_argument("--molecules", type=int, default=200, help="barcode studies: molecules per type [200]")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    load = os.getloadavg()[0]
    spec = spec_for(a.study, not a.full, a.molecules)
    one = run(spec, 1)
    two = run(spec, 2)
    speedup = one["wall_s"] / two["wall_s"]
    task_speedup = one["tasks_s"] / two["tasks_s"]
    overhead_ms = 1e3 * (one["tasks_s"] - one["stage_s"]) / max(one["points"], 1)
    for r in (one, two):
        print(f"study {a.study} workers={r['workers']}: wall {r['wall_s']:.1f} s (cluster start {r['cluster_start_s']:.1f} s, "
              f"tasks {r['tasks_s']:.1f} s, stage functions {r['stage_s']:.1f} s, outputs {r['outputs_s']:.1f} s), "
              f"{r['points']} point-seeds, {r['stages_computed']} stages", flush=True)
    print(f"study load_average_1min={load:.2f} cpus={os.cpu_count()}")
    print(f"study overhead_per_point_ms={overhead_ms:.1f}")
    print(f"study task_speedup_2_vs_1_workers={task_speedup:.2f} (cluster start left out)")
    print(f"study speedup_2_vs_1_workers={speedup:.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"one": one, "two": two, "speedup": speedup, "task_speedup": task_speedup,
                       "overhead_per_point_ms": overhead_ms,
                       "load_average_1min": load}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
