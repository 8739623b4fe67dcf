"""The closed loop end to end (``neurophantom run``) on a small organoid world.

Oracles: the output contract of ``scores.json``; the controls computed in the same run
(the emulation from the scan must predict held-out protocols better than the same map on
a shuffled connectome and than free per-synapse weights, by a paired margin over neurons
that a bootstrap says is not noise); an uninterrupted computation of the same config (a
run killed with SIGKILL mid-way and resumed gives the same numbers, and its cache log
shows that finished stages were not recomputed); headless Chromium (the report renders
with every figure and no console error). Whether memory recall survives is a result of
the default run (see ``scores.json``), not asserted at this size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurophantom.pipeline.config import load_run_config
from neurophantom.pipeline import run_pipeline, upstream
from neurophantom.pipeline.main import build_stages

pytestmark = pytest.mark.xdist_group("closed_loop")

#: A small world (24 neurons, memories of 8 cells) with the default mapping protocols, and
#: three held-out protocols of 200 ms stepping 4 cells each (60 unstimulated neuron-protocol
#: traces to compare): the loop's shape at test cost, with enough traces to tell the
#: emulation from its controls (see test_emulation_beats_its_controls).
SMALL = {
    "world.n_neurons": 24,
    "world.pattern_size": 8,
    "recording.heldout_protocols": 3,
    "recording.heldout_cells": 4,
    "recording.heldout_ms": 200.0,
    "function.recall_trials": 1,
    # A shorter search than the default run's (4 x 15 CMA-ES generations instead of 8 x 25):
    # the loop's shape at test cost; the controls' margins below are measured with it. At
    # 10 generations the search had not converged: when stop 26's one-sided arbor rule
    # corrected 3 training synapses (pre correct 0.98 -> 1.00), it ended at training loss
    # 11.5 (held-out r 0.842) where 15 generations reach 8.4 (r 0.906) in the same time.
    # With 2 runs, stop 28's empirical-Bayes channel densities moved the selected basin to
    # held-out r 0.878 against the shuffled control's 0.782 (margin 0.096); 4 runs (14 s
    # more) select one at 0.941 (shuffled 0.772, free weights 0.710).
    "identify.cma_generations": 15,
    "identify.cma_restarts": 3,
}


def _config_file(path: Path) -> Path:
    nested: dict = {}
    for k, v in SMALL.items():
        a, b = k.split(".")
        nested.setdefault(a, {})[b] = v
    path.write_text(json.dumps(nested))
    return path


def _cli(cfg: Path, out: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("neurophantom")), "run", "--config", str(cfg), "--out", str(out)]


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "cache.log").read_text().splitlines() if line]


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """The CLI run, killed with SIGKILL during ``emulate`` and started again to the end.

    Done once per test session, shared by xdist workers through a file lock in the common
    temporary root (a worker that comes second reads the finished run)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "closed_loop_shared"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "first_events.json"
        if not done.exists():
            first = _killed_and_resumed(root)
            done.write_text(json.dumps(first))
    out = root / "run"
    return out, json.loads(done.read_text()), json.loads((out / "scores.json").read_text())


def _killed_and_resumed(root: Path) -> list[dict]:
    cfg, out = _config_file(root / "small.json"), root / "run"
    proc = subprocess.Popen(_cli(cfg, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900
    while time.time() < deadline and proc.poll() is None:
        if (out / "cache.log").exists() and any(e["stage"] == "rosetta" for e in _events(out)):
            time.sleep(2.0)  # emulate is running (tens of seconds)
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _events(out)
    assert not (out / "scores.json").exists()
    subprocess.run(_cli(cfg, out), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    return first


def _numbers(obj):
    """Everything but wall-clock times."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def test_scores_json_contract(small_run):
    out, _, _ = small_run
    s = json.loads((out / "scores.json").read_text())
    assert {"segmentation", "synapses", "connectome", "molecules"} <= set(s["reconstruction"])
    rec = s["identification"]["recovered_parameters"]
    assert rec and all(isinstance(v, float) and v > 0 or k.startswith("E_") for k, v in rec.items())
    assert isinstance(s["identification"]["unidentifiable"], list)
    assert set(s["identification"]["unidentifiable"]) <= set(rec)
    # Convergence: loss against cumulative evaluations, ending at the fit's own count; within
    # a CMA-ES run the best-so-far loss never rises.
    conv = s["identification"]["convergence"]
    evals = [row["evaluations"] for row in conv]
    assert evals == sorted(evals) and evals[-1] == s["identification"]["fit_evaluations"], (evals[-1], s["identification"]["fit_evaluations"])
    for phase in {row["phase"] for row in conv if row["phase"].startswith("cmaes")}:
        curve = [row["train_loss"] for row in conv if row["phase"] == phase and "validation_loss" not in row]
        assert len(curve) >= 2 and all(b <= a for a, b in zip(curve, curve[1:])), phase
    for k in ("trace_correlation", "control_trace_correlation", "baseline_trace_correlation"):
        assert -1.0 <= s["emulation"][k] <= 1.0, k
    gamma = s["function"]["details"]["emulation"]["spike_coincidence"]
    assert gamma["n_neurons"] > 0 and (gamma["mean_gamma"] is None or -1.0 <= gamma["mean_gamma"] <= 1.0)
    assert s["emulation"]["spike_coincidence_gamma"] == gamma["mean_gamma"]
    assert isinstance(s["function"]["truth"], float)
    assert s["function"]["emulation"] is None or isinstance(s["function"]["emulation"], float)
    stages = {p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir() if not p.name.startswith(".")}
    assert set(s["runtime_seconds"]) == stages and all(v >= 0 for v in s["runtime_seconds"].values())
    assert json.loads((out / "config.json").read_text())["world"]["n_neurons"] == SMALL["world.n_neurons"]


@pytest.mark.parametrize("control", ["shuffled", "free_weights"])
def test_emulation_beats_its_controls(small_run, control):
    """Held-out protocols, unstimulated neurons: the emulation built from the held-out
    specimen's barcoded scan alone against (a) the same learned map on its connectome with
    shuffled targets, (b) free per-synapse weights fitted to its mapping trials.

    Margins: the medians over neuron-protocol traces differ by at least 0.1 (a tenth of
    the correlation scale, "clearly above"), and the paired per-trace difference is
    positive with 95% confidence (one-sided bootstrap over traces, 4000 resamples), so the
    ordering is not carried by a few traces. Measured on this seed (stop 26): medians
    emulation 0.91, shuffled 0.70, free weights 0.50; paired mean differences +0.17 and
    +0.26, their bootstrap 5% quantiles +0.09 and +0.17. Stop 28 (4 CMA-ES runs,
    empirical-Bayes channel densities): medians 0.94, 0.77, 0.71."""
    _, _, s = small_run
    per = s["emulation"]["per_neuron"]
    emu, ctl = np.asarray(per["emulation"], float), np.asarray(per[control], float)
    assert emu.shape == ctl.shape and emu.size >= 50
    ok = np.isfinite(emu) & np.isfinite(ctl)
    assert np.median(emu[ok]) - np.median(ctl[ok]) >= 0.1, (np.median(emu[ok]), np.median(ctl[ok]))
    diff = (emu - ctl)[ok]
    boot = diff[np.random.default_rng(0).integers(0, diff.size, (4000, diff.size))].mean(axis=1)
    assert np.quantile(boot, 0.05) > 0.0, (diff.mean(), np.quantile(boot, 0.05))


def test_the_ladder_is_computed_by_the_run(small_run):
    """The blame ladder of the held-out specimen, computed by the run itself: every rung in
    order and a correlation, the noise ceiling bounds the true model, and the ladder's
    last rung is the emulation the run reports."""
    _, _, s = small_run
    steps = [r["step"] for r in s["ladder"]]
    assert steps == ["noise_ceiling", "truth_true_parameters", "reconstruction_true_membranes",
                     "reconstruction_effective_map", "truth_fitted_map", "pipeline"]
    assert [r["step"] for r in s["ladder_rosetta"]] == steps
    r = {row["step"]: row["trace_correlation"] for row in s["ladder"]}
    assert all(-1.0 <= v <= 1.0 for v in r.values())
    assert r["truth_true_parameters"] <= r["noise_ceiling"] + 0.01
    assert r["pipeline"] == pytest.approx(s["emulation"]["trace_correlation"], abs=0.05)


def test_emulation_reaches_most_of_what_the_truth_itself_scores(small_run):
    """The emulation from the scan alone keeps at least 0.85 of the trace correlation that
    the true circuit with its true parameters reaches through the same emulation path.
    Measured on this seed (stop 26): 0.906 against 0.997 (0.909 of it); ladder 0.998 /
    0.997 / 0.972 (reconstruction, true membranes) / 0.953 (effective-true map) / 0.738
    (fitted map on the true circuit) / 0.906. Before the segmentation's strict leak guard the ExM scan
    split neurons of this world and the pipeline reached 0.655 (xfail then)."""
    _, _, s = small_run
    r = {row["step"]: row["trace_correlation"] for row in s["ladder"]}
    assert r["pipeline"] >= 0.85 * r["truth_true_parameters"], r


def test_report_renders_in_headless_chromium(small_run, render_page):
    out, _, _ = small_run
    page = render_page(out / "report.html")
    assert page["errors"] == [] and page["foreign_requests"] == [], page
    assert len(page["images"]) >= 4
    assert all(i["complete"] and i["naturalWidth"] > 0 for i in page["images"]), page["images"]


def test_kill_minus_9_resumes_with_the_same_numbers(small_run, tmp_path):
    """Stages finished before the kill are reused, none is computed twice, and the numbers
    equal those of an uninterrupted computation of the stages the kill interrupted."""
    import shutil

    out, first, resumed = small_run
    done_first = {e["stage"] for e in first if e["event"] == "computed"}
    assert {"identify", "rosetta"} <= done_first and "emulate" not in done_first
    assert not list((out / "stages").glob(".tmp-*")), "the killed stage's temporary folder is cleaned up"
    assert len(list((out / "stages").glob("emulate-*"))) == 1
    events = _events(out)[len(first):]
    second = {e["stage"]: e["event"] for e in events}
    assert all(second[s] == "cached" for s in done_first), second
    assert second["emulate"] == "computed" and second["function"] == "computed" and second["ladder"] == "computed"
    computed = [e["stage"] for e in first + events if e["event"] == "computed"]
    assert len(computed) == len(set(computed)), "a stage was computed twice"
    # Uninterrupted reference: the same finished stages, then the rest in one go.
    ref = tmp_path / "ref"
    (ref / "stages").mkdir(parents=True)
    for d in (out / "stages").iterdir():
        if d.name.rsplit("-", 1)[0] in done_first:
            shutil.copytree(d, ref / "stages" / d.name)
    # The interrupted stage (emulate) is recomputed uninterrupted from the same inputs; the
    # stages after it ran only once in either case (determinism is checked on emulate).
    reference = run_pipeline(upstream(build_stages(load_run_config("organoid", sets=SMALL)), ["emulate"]), ref)
    assert {e["stage"] for e in _events(ref) if e["event"] == "computed"} == {"emulate"}
    (resumed_emulate,) = (out / "stages").glob("emulate-*")
    assert reference["emulate"].path.name == resumed_emulate.name
    stored = json.loads((resumed_emulate / "_stage.json").read_text())["result"]
    assert _same(_numbers(stored), _numbers(json.loads(json.dumps(reference["emulate"].result))))
    assert reference["emulate"].result["trace_correlation"] == pytest.approx(resumed["emulation"]["trace_correlation"], rel=1e-12)


def _same(a, b, path="") -> bool:
    """Equal structure, numbers equal to 1e-9 relative (the run is deterministic)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        return all(_same(a[k], b[k], f"{path}.{k}") for k in a)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        return all(_same(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, float) and isinstance(b, float):
        assert np.isclose(a, b, rtol=1e-9, atol=1e-12), (path, a, b)
        return True
    assert a == b, (path, a, b)
    return True
