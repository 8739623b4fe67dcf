"""Pipeline runner contracts: caching by config hash, selective rerun, kill -9 resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from neurophantom import NeurophantomError
from neurophantom.pipeline import Stage, read_cache_log, run_pipeline, upstream


def _write(value_from):
    def fn(out, inputs, config):
        base = sum(json.loads((p / "value.json").read_text()) for p in inputs.values())
        value = base + config["add"]
        (out / "value.json").write_text(json.dumps(value))
        return {"value": value}

    return fn


def _stages(add_b=2):
    return [
        Stage(name="a", fn=_write(None), config={"add": 1}),
        Stage(name="b", fn=_write(None), config={"add": add_b}, deps=("a",)),
        Stage(name="c", fn=_write(None), config={"add": 10}, deps=("a",)),
        Stage(name="d", fn=_write(None), config={"add": 100}, deps=("b", "c")),
    ]


def _events(run):
    return [(e["stage"], e["event"]) for e in read_cache_log(run)]


def test_rerun_is_fully_cached_and_change_reruns_only_downstream(tmp_path):
    r1 = run_pipeline(_stages(), tmp_path)
    assert r1["d"].result["value"] == (1 + 2) + (1 + 10) + 100
    r2 = run_pipeline(_stages(), tmp_path)
    assert all(r.cached for r in r2.values())
    log0 = len(read_cache_log(tmp_path))
    r3 = run_pipeline(_stages(add_b=5), tmp_path)
    new = _events(tmp_path)[log0:]
    assert dict(new) == {"a": "cached", "b": "computed", "c": "cached", "d": "computed"}
    assert r3["d"].result["value"] == (1 + 5) + (1 + 10) + 100


def test_partial_run_shares_the_whole_graphs_cache(tmp_path):
    """``upstream`` keeps a target and its ancestors only; a later full run reuses them."""
    part = upstream(_stages(), ["b"])
    assert [s.name for s in part] == ["a", "b"]
    run_pipeline(part, tmp_path)
    log0 = len(read_cache_log(tmp_path))
    run_pipeline(_stages(), tmp_path)
    assert dict(_events(tmp_path)[log0:]) == {"a": "cached", "b": "cached", "c": "computed", "d": "computed"}
    with pytest.raises(NeurophantomError, match="unknown pipeline stage 'zz'"):
        upstream(_stages(), ["zz"])


def test_graph_errors_are_clear(tmp_path):
    with pytest.raises(NeurophantomError, match="unknown stage 'zz'"):
        run_pipeline([Stage(name="a", fn=_write(None), config={"add": 1}, deps=("zz",))], tmp_path)
    with pytest.raises(NeurophantomError, match="cycle"):
        run_pipeline(
            [Stage(name="a", fn=_write(None), deps=("b",)), Stage(name="b", fn=_write(None), deps=("a",))], tmp_path
        )
    with pytest.raises(NeurophantomError, match="JSON"):
        Stage(name="a", fn=_write(None), config={"x": object()})


SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from neurophantom.pipeline import Stage, run_pipeline

    def slow(out, inputs, config):
        for i in range(config["chunks"]):
            (out / f"part{i}.txt").write_text("x" * 1000)
            if config["sleep"] and i == 1:
                Path(sys.argv[2]).write_text("in-b")
                time.sleep(60)
        return {"parts": config["chunks"]}

    def fast(out, inputs, config):
        (out / "v.txt").write_text("ok")
        return {"ok": 1}

    sleep = sys.argv[3] == "1"
    run_pipeline([
        Stage(name="a", fn=fast, config={}),
        Stage(name="b", fn=slow, config={"chunks": 4, "sleep": False}, deps=("a",), version="1"),
        Stage(name="c", fn=fast, config={}, deps=("b",)),
    ] if not sleep else [
        Stage(name="a", fn=fast, config={}),
        Stage(name="b", fn=lambda o, i, c: slow(o, i, dict(c, sleep=True)), config={"chunks": 4, "sleep": False}, deps=("a",), version="1"),
        Stage(name="c", fn=fast, config={}, deps=("b",)),
    ], Path(sys.argv[1]))
    """
)


def test_kill_minus_9_mid_stage_resumes_without_recomputing(tmp_path):
    script = tmp_path / "p.py"
    script.write_text(SCRIPT)
    flag = tmp_path / "flag"
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run), str(flag), "1"])
    deadline = time.time() + 60
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "stage b never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Stage a finished; b was killed half-way: no folder named b-* may exist.
    names = sorted(p.name.split("-")[0] for p in (run / "stages").iterdir() if not p.name.startswith("."))
    assert names == ["a"]
    subprocess.run([sys.executable, str(script), str(run), str(flag), "0"], check=True)
    assert _events(run) == [("a", "computed"), ("a", "cached"), ("b", "computed"), ("c", "computed")]
    assert not list((run / "stages").glob(".tmp-*")), "the killed stage's temporary folder is cleaned up"
    b = next(p for p in (run / "stages").iterdir() if p.name.startswith("b-"))
    assert sorted(x.name for x in b.iterdir()) == ["_stage.json", "part0.txt", "part1.txt", "part2.txt", "part3.txt"]
