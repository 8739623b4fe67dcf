"""The study runner: kill -9 and resume, 1 vs 2 workers, shared stages, no recomputation.

The tiny study is a barcode study (2 points x 2 seeds): every point is a small stage
graph (a ``codebook`` stage that all four share, and a ``readout`` stage each), cached and
scheduled exactly as pipeline points are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurophantom.pipeline import read_cache_log
from neurophantom.study import load_study, run_study

TINY = {
    "name": "tiny",
    "kind": "barcode",
    "base": {"library_types": 64, "molecules_per_type": 100, "colors": 4, "rounds": 5},
    "grid": {"degradation": [0.0, 0.1]},
    "seeds": 2,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    p.write_text(yaml.safe_dump(TINY))
    return p


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory):
    """The uninterrupted run: one worker (a thread of this process)."""
    out = tmp_path_factory.mktemp("ref")
    res = run_study(load_study(tiny), out, workers=1, processes=False)
    return out, res


def _computed(out: Path) -> Counter:
    return Counter(e["key"] for e in read_cache_log(out / "cache") if e["event"] == "computed")


def test_outputs_and_one_row_per_point_and_seed(reference):
    out, res = reference
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 4 and sorted(df.columns[:3]) == ["degradation", "point", "seed"]
    assert df.groupby("degradation")["seed"].apply(sorted).tolist() == [[0, 1], [0, 1]]
    s = pd.read_csv(out / "summary.csv")
    assert len(s) == 2 and {"error_rate_mean", "error_rate_ci_low", "error_rate_ci_high"} <= set(s.columns)
    assert (s["error_rate_ci_low"] <= s["error_rate_mean"]).all() and (s["error_rate_mean"] <= s["error_rate_ci_high"]).all()
    page = (out / "study.html").read_text()
    assert list(out.glob("*.png")) and page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and 'src="data:image/png;base64,' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # Shared upstream: one codebook for all four point-seeds; a readout each.
    stages = Counter(e["stage"] for e in read_cache_log(out / "cache") if e["event"] == "computed")
    assert stages == {"codebook": 1, "readout": 4}
    assert not (out / "cache" / ".work").exists(), "no work folders left behind"


def test_two_workers_give_the_same_table(reference, tiny, tmp_path):
    out, _ = reference
    res = run_study(load_study(tiny), tmp_path, workers=2, processes=True)
    assert res.computed_stages == 5
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "results.parquet"), pd.read_parquet(out / "results.parquet"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "summary.csv"), pd.read_csv(out / "summary.csv"))


def test_rerun_recomputes_nothing(reference, tiny):
    out, _ = reference
    before = len(read_cache_log(out / "cache"))
    res = run_study(load_study(tiny), out, workers=1, processes=False)
    assert res.cached_points == 4 and res.computed_stages == 0
    assert len(read_cache_log(out / "cache")) == before, "finished points are not even looked up again"


def test_kill_9_mid_study_then_resume(reference, tiny, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "from neurophantom.cli import run; run()", "study", str(tiny), "--out", str(out),
           "--workers", "1", "--threads"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("points/*.json")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job, as kill -9 of its process group
    proc.wait()
    finished = {p.stem for p in out.glob("points/*.json")}
    assert 1 <= len(finished) < 4, f"killed after {len(finished)} of 4 points"
    before = _computed(out)
    keys_of = {p.stem: set(json.loads(p.read_text())["stages"].values()) for p in (out / "points").glob("*.json")}

    res = run_study(load_study(tiny), out, workers=1, processes=False)
    assert res.cached_points == len(finished)
    after = _computed(out)
    # Finished points are not recomputed, and no stage is ever computed twice.
    assert all(after[k] == 1 for pid in finished for k in keys_of[pid])
    assert max(after.values()) == 1 and set(before) <= set(after)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), pd.read_parquet(ref_out / "results.parquet"))
    assert not list(out.rglob(".tmp-*")), "no temporary files survive"


def test_an_existing_scheduler_runs_it_unchanged(reference, tiny, tmp_path):
    """``--scheduler ADDRESS``: the same study on a cluster started elsewhere."""
    from distributed import LocalCluster

    out, _ = reference
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        run_study(load_study(tiny), tmp_path, scheduler=cluster.scheduler_address)
        assert cluster.scheduler.workers, "the cluster is still up: the study used it, it did not own it"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "results.parquet"), pd.read_parquet(out / "results.parquet"))


def test_a_point_recorded_from_other_stages_is_recomputed(reference, tiny, tmp_path):
    """A record whose stage keys differ from what the code builds now (a stage version
    bump) is not trusted: that point runs again."""
    import shutil

    out, _ = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".lock"))
    rec = next((copy / "points").glob("*.json"))
    row = json.loads(rec.read_text())
    row["stages"]["readout"] = "0" * 64
    row["metrics"]["error_rate"] = 9.0
    rec.write_text(json.dumps(row))
    res = run_study(load_study(tiny), copy, workers=1, processes=False, cache=out / "cache")
    assert res.cached_points == 3 and res.computed_stages == 0  # its stages were in the cache already
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "results.parquet"), pd.read_parquet(out / "results.parquet"))


def test_a_stage_finished_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """Two studies sharing a cache may compute one stage at once: the first rename wins,
    the second copy is dropped, and the cache holds one complete folder."""
    import shutil

    from neurophantom.study import execute

    real = execute.run_pipeline

    def racing(stages, run_dir, **kw):
        res = real(stages, run_dir, **kw)
        name = stages[-1].name
        other = execute.stage_path(cache, name, res[name].key)
        shutil.copytree(res[name].path, other)  # the other process renamed its copy first
        (other / "from-the-other-process").write_text("x")
        return res

    cache = tmp_path / "cache"
    (cache / "stages").mkdir(parents=True)
    stages, keys = execute.point_graph("barcode", {"molecules_per_type": 5}, 0, {})
    monkeypatch.setattr(execute, "run_pipeline", racing)
    ev = execute.compute_stage(str(cache), str(tmp_path / "work"), "barcode", {"molecules_per_type": 5}, 0, {},
                               "codebook", keys)
    assert ev["event"] == "cached"
    final = execute.stage_path(cache, "codebook", keys["codebook"])
    assert (final / "from-the-other-process").is_file() and (final / "_stage.json").is_file()
    assert not any((tmp_path / "work").iterdir()), "our copy and work folder are gone"
