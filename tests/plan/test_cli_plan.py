"""Contracts: `neurophantom plan ... --json` (one JSON object on stdout, point/median/p05/p95
per output, inputs with sources), compare, YAML scenarios, figures, and bad input (exit 2,
one `error:` line)."""

import json

import pytest

from neurophantom.cli import main
from neurophantom.plan import dump_scenario, load_scenario, make_scenario, plan
from neurophantom.plan.figures import write_figures

CONTRACT = ("expanded_volume_m3", "instrument_seconds", "instruments", "capex_usd", "floor_m2", "staff",
            "flops", "memory_bytes", "accelerators", "power_w")
FAST = ["--samples", "2000", "--engine-benchmark", "none"]


def run(capsys, *args):
    rc = main(["plan", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def default_json():
    import contextlib
    import io

    buf, ebuf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(ebuf):
        rc = main(["plan", "--json", *FAST])
    return rc, buf.getvalue(), ebuf.getvalue()


def test_json_contract(default_json):
    rc, out, err = default_json
    assert rc == 0, err
    d = json.loads(out)  # the whole of stdout is one JSON object
    for k in CONTRACT:
        q = d[k]
        assert set(q) >= {"point", "median", "p05", "p95"}
        assert q["p05"] <= q["median"] <= q["p95"]
    assert d["inputs"], "inputs missing"
    for name, inp in d["inputs"].items():
        assert inp["source"].strip() and inp["certainty"] and "point" in inp and "distribution" in inp, name
    assert d["inputs"]["synchrotron.speedup"]["point"] == pytest.approx(10)
    assert d["inputs"]["progress_ratio"]["point"] == 1.0


def test_plain_plan_is_the_plans_synchrotron_scenario(default_json):
    d = json.loads(default_json[1])
    assert d["scenario"]["organism"] == "human" and d["scenario"]["modality"] == "synchrotron"
    assert 300 <= d["instruments"]["point"] <= 360
    assert 3.0e9 <= d["capex_usd"]["point"] <= 3.6e9
    assert d["capex_learning_usd"]["point"] < d["capex_usd"]["point"]  # 80% curve beside it
    assert [r["instruments"] for r in d["ramp"]][:2] == [6, 60]
    assert d["tornado"]["bars"][0]["swing"] >= d["tornado"]["bars"][-1]["swing"]


def test_set_overrides(capsys):
    rc, out, err = run(capsys, "--json", *FAST, "--set", "synchrotron.speedup=1", "--set", "expansion=16")
    assert rc == 0, err
    d = json.loads(out)
    assert d["expanded_volume_m3"]["point"] == pytest.approx(1400e-6 * 16**3, rel=1e-12)
    assert d["instrument_years"]["point"] == pytest.approx(35_428 * (16 / 11) ** 3, rel=1e-3)
    assert d["inputs"]["synchrotron.speedup"]["source"] == "user override"
    rc, out, _ = run(capsys, "--json", *FAST, "--set", "volume_cm3=lognormal:1000,2000")
    q = json.loads(out)["expanded_volume_m3"]
    assert q["point"] == pytest.approx((2e6**0.5) * 1e-6 * 11**3, rel=1e-9)
    assert q["p05"] == pytest.approx(1000e-6 * 11**3, rel=0.05) and q["p95"] == pytest.approx(2000e-6 * 11**3, rel=0.05)


def test_table_output(capsys):
    rc, out, err = run(capsys, "--modality", "exm", "--samples", "500", "--engine-benchmark", "none")
    assert rc == 0, err
    assert "capex_usd" in out and "staged ramp" in out and "what drives capex_usd" in out


def test_list_inputs_json(capsys):
    rc, out, _ = run(capsys, "--list-inputs", "--json", "--modality", "mixed")
    d = json.loads(out)
    assert rc == 0 and {"rosetta_fraction", "exm.rounds", "synchrotron.speedup", "volume_cm3"} <= set(d)


def test_compare_json(capsys):
    rc, out, err = run(capsys, "compare", "--modality", "exm", "--modality", "synchrotron", "--modality", "em",
                       "--json", *FAST)
    assert rc == 0, err
    s = {x["scenario"]["modality"]: x for x in json.loads(out)["scenarios"]}
    assert s["exm"]["instruments"]["point"] > s["em"]["instruments"]["point"] > s["synchrotron"]["instruments"]["point"]
    rc, out, _ = run(capsys, "compare", "--organism", "mouse", "--organism", "human", "--samples", "500")
    assert rc == 0 and "mouse/synchrotron/10y" in out and "human/synchrotron/10y" in out


def test_yaml_scenario(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("organism: mouse\nmodality: mixed\ndeadline_years: 3\nsamples: 1000\nengine_benchmark: none\n"
                 "set:\n  rosetta_fraction: 0.05\n  synchrotron.speedup: {lognormal: [3, 30]}\n")
    rc, out, err = run(capsys, "--scenario", str(f), "--json", "--set", "exm.rounds=2")
    assert rc == 0, err
    d = json.loads(out)
    ref = plan(make_scenario(**{**load_scenario(f), "set": {"rosetta_fraction": 0.05, "exm.rounds": 2,
                                                            "synchrotron.speedup": {"lognormal": [3, 30]}}}))
    assert d["instruments"]["point"] == ref.point["instruments"]
    assert d["inputs"]["exm.rounds"]["point"] == 2 and d["inputs"]["synchrotron.speedup"]["distribution"]["p95"] == 30
    s = make_scenario(**load_scenario(f))
    g = tmp_path / "round.yaml"
    g.write_text(dump_scenario(s))
    assert make_scenario(**load_scenario(g)) == s


def test_yaml_is_never_executed(tmp_path, capsys):
    f = tmp_path / "evil.yaml"
    f.write_text("organism: !!python/object/apply:os.getcwd []\n")
    rc, out, err = run(capsys, "--scenario", str(f))
    assert rc == 2 and out == "" and err.startswith("error:")


def test_figures(tmp_path):
    p = plan(make_scenario(samples=500, engine_benchmark="none"))
    paths = write_figures([p], tmp_path, samples=200)
    assert sorted(x.name for x in paths) == ["cost_vs_deadline.png", "ramp.png", "tornado.png"]
    for x in paths:
        assert x.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and x.stat().st_size > 5000


BAD = [
    (["--deadline-years", "-1"], "deadline_years"),
    (["--organism", "unicorn"], "unknown organism"),
    (["--set", "volume_cm3=lognormal:5"], "malformed distribution"),
    (["--set", "volume_cm3=uniform:a,b"], "malformed distribution"),
    (["--set", "volume_cm3=weibull:1,2"], "malformed distribution"),
    (["--set", "no_such_input=3"], "unknown input"),
    (["--set", "justaname"], "malformed --set"),
    (["--set", "progress_ratio=1.5"], "progress_ratio"),
    (["--modality", "xray"], "unknown modality"),
    (["--modality", "custom"], "custom"),
    (["--samples", "0"], "samples"),
    (["--scenario", "/no/such/file.yaml"], "not found"),
    (["compare", "--organism", "unicorn"], "unknown organism"),
    (["compare", "--deadline-years", "-5"], "deadline_years"),
]


@pytest.mark.parametrize("args,msg", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(capsys, args, msg):
    rc, out, err = run(capsys, *args, "--json")
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], err


def test_custom_modality(capsys, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("modality: custom\nsamples: 500\nengine_benchmark: none\n"
                 "custom: {rate_um3_per_s: 1.0e6, unit_cost_usd: 5.0e5, expansion: 4}\n")
    rc, out, err = run(capsys, "--scenario", str(f), "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["instrument_seconds"]["point"] == pytest.approx(1400e12 * 64 / 1e6, rel=1e-12)
    assert d["inputs"]["custom.unit_cost_usd"]["source"] == "user-defined modality"


def test_reads_the_benchmark_file_make_bench_writes(tmp_path):
    """The format benchmarks/cobahh.py writes (cost_s_per_synapse_step, machine.device)."""
    import json as _json

    from neurophantom.plan.compute import read_engine_benchmark

    p = tmp_path / "engine_cost.json"
    p.write_text(_json.dumps({"cost_s_per_synapse_step": 3.8e-10, "machine": {"device": "cpu:0"}}))
    b = read_engine_benchmark(p)
    assert b.seconds_per_synapse_step == 3.8e-10 and b.device == "cpu_core"
