"""Planner inputs from measurements: the Rosetta fraction from a study's summary, the
compute cost from an engine benchmark, and the plan saying which inputs were measured."""

from __future__ import annotations

import json

import pytest

from neurophantom import NeurophantomError
from neurophantom.cli import main
from neurophantom.plan import make_scenario, plan
from neurophantom.plan.measured import read_rosetta_study
from neurophantom.study.tables import results_table, summarise

#: Function kept by the Rosetta path at each sampled fraction, per seed (a levelling curve).
CURVE = {0.05: [0.35, 0.45, 0.40], 0.1: [0.55, 0.65, 0.60], 0.3: [0.80, 0.84, 0.78], 1.0: [0.83, 0.85, 0.81]}


@pytest.fixture
def study(tmp_path):
    """A rosetta-fraction study folder written by the study code's own table functions."""
    rows = [{"id": f"{f}-{s}", "seed": s, "axes": {"identify.rosetta_fraction": f},
             "metrics": {"rosetta_function_kept": v, "rosetta_trace_r": v / 2}}
            for f, vals in CURVE.items() for s, v in enumerate(vals)]
    df = results_table(rows, ["identify.rosetta_fraction"])
    summarise(df, ["identify.rosetta_fraction"], ["rosetta_function_kept", "rosetta_trace_r"]).to_csv(
        tmp_path / "summary.csv", index=False)
    (tmp_path / "study.json").write_text(json.dumps({"name": "rosetta-fraction"}))
    return tmp_path


def test_fraction_is_the_smallest_reaching_the_target(study):
    m = read_rosetta_study(study)
    best = max(sum(v) / 3 for v in CURVE.values())
    assert m.target == pytest.approx(0.95 * best) and m.fraction == 0.3  # 0.807 >= 0.95 * 0.83
    assert m.ci_low <= m.mean <= m.ci_high and m.n_seeds == 3
    assert read_rosetta_study(study, target=0.5).fraction == 0.1
    assert read_rosetta_study(study, metric="rosetta_trace_r", target=0.25).fraction == 0.1
    with pytest.raises(NeurophantomError, match="no sampled fraction reaches"):
        read_rosetta_study(study, target=0.9)
    with pytest.raises(NeurophantomError, match="no column 'nope_mean'"):
        read_rosetta_study(study, metric="nope")


def test_plan_uses_and_names_measured_inputs(study, tmp_path):
    bench = tmp_path / "engine_cost.json"
    bench.write_text(json.dumps({"seconds_per_synapse_step": 2e-12, "device": "h100", "source": "test bench"}))
    s = make_scenario(modality="mixed", rosetta_study=str(study), engine_benchmark=str(bench), samples=200)
    p = plan(s)
    assert p.inputs["rosetta_fraction"].central == 0.3
    assert p.measured["inputs"] == ["compute.seconds_per_synapse_step", "rosetta_fraction"]
    assert p.measured["rosetta"]["fraction"] == 0.3 and p.measured["compute"]["device"] == "h100"
    # The measured fraction moves the plan exactly as the same fraction set by hand does.
    by_hand = plan(make_scenario(modality="mixed", engine_benchmark=str(bench), samples=200, set={"rosetta_fraction": 0.3}))
    assert p.point["capex_usd"] == pytest.approx(by_hand.point["capex_usd"])
    assert plan(make_scenario(modality="mixed", engine_benchmark="none", samples=200)).measured["inputs"] == []
    with pytest.raises(NeurophantomError, match="mixed strategy only"):
        plan(make_scenario(modality="exm", rosetta_study=str(study), samples=200))


def test_cli_reports_measured_inputs(study, capsys):
    assert main(["plan", "--modality", "mixed", "--rosetta-study", str(study), "--engine-benchmark", "none",
                 "--samples", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measured"]["inputs"] == ["rosetta_fraction"]
    assert out["inputs"]["rosetta_fraction"]["source"].startswith("measured: rosetta-fraction study")
    assert main(["plan", "--modality", "mixed", "--rosetta-study", str(study / "nope"), "--samples", "200"]) == 2
    assert "no summary.csv" in capsys.readouterr().err
