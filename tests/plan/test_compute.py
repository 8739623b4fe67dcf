"""Oracles: the WBE roadmap's CPU demand per level (Sandberg & Bostrom 2008, Table 8, order
of magnitude at 1e15 synapses), hand arithmetic of the accelerator count, and a measured
engine cost read from a benchmark results file."""

import json
import math

import numpy as np
import pytest

from neurophantom import CorruptDataError, NeurophantomError
from neurophantom.plan import ACCELERATORS, plan, make_scenario, read_engine_benchmark

ROADMAP_FLOPS = {"spiking_network": 1e18, "electrophysiology": 1e22, "metabolome": 1e25, "proteome": 1e26}
ROADMAP_COUNTS = {"synapses": 1e15, "neurons": 1e11}


def _plan(**kw):
    kw.setdefault("samples", 500)
    kw.setdefault("engine_benchmark", "none")
    return plan(make_scenario(**kw))


@pytest.mark.parametrize("level", sorted(ROADMAP_FLOPS))
def test_roadmap_levels_reproduce_table_8_order_of_magnitude(level):
    p = _plan(level=level, set=ROADMAP_COUNTS)
    assert math.log10(p.point["flops"]) == pytest.approx(math.log10(ROADMAP_FLOPS[level]), abs=0.05)


def test_accelerators_by_hand():
    p = _plan(accelerator="a100")
    i = {k: v.central for k, v in p.inputs.items()}
    a = ACCELERATORS["a100"]
    steps = 1000 / i["compute.dt_ms"]
    flops = (i["synapses"] * i["compute.ops_per_synapse_step"] + i["neurons"] * i["compute.ops_per_neuron_step"]) * steps
    mem = i["synapses"] * i["compute.bytes_per_synapse"] + i["neurons"] * i["compute.bytes_per_neuron"]
    bw = (i["synapses"] * i["compute.bytes_per_synapse_step"] + i["neurons"] * i["compute.bytes_per_neuron"]) * steps
    u = i["compute.utilisation"]
    need = max(flops / (a.flops.value * u), mem / a.memory_bytes.value, bw / (a.bandwidth_bytes_per_s.value * u))
    assert p.point["flops"] == pytest.approx(flops, rel=1e-12)
    assert p.point["memory_bytes"] == pytest.approx(mem, rel=1e-12)
    assert p.point["accelerators"] == math.ceil(need)
    assert p.point["power_w"] == pytest.approx(math.ceil(need) * 400 * i["compute.pue"], rel=1e-12)
    # faster than real time needs proportionally more compute
    fast = _plan(accelerator="a100", set={"compute.realtime_factor": 10})
    assert fast.point["flops"] == pytest.approx(10 * flops, rel=1e-12)


def test_worm_fits_one_accelerator_human_does_not():
    assert _plan(organism="celegans").point["accelerators"] == 1
    assert _plan().point["accelerators"] > 1e4


def _bench(tmp_path, **data):
    path = tmp_path / "engine_cost.json"
    path.write_text(json.dumps(data))
    return path


def test_measured_engine_cost_replaces_the_guess(tmp_path):
    path = _bench(tmp_path, seconds_per_synapse_step=2e-12, device="h100", source="make bench, cobahh")
    p = _plan(organism="mouse", engine_benchmark=str(path))
    assert p.compute_basis.startswith("measured:") and str(path) in p.compute_basis
    assert p.inputs["compute.seconds_per_synapse_step"].source.startswith("measured")
    i = {k: v.central for k, v in p.inputs.items()}
    by_compute = i["synapses"] * 1000 / i["compute.dt_ms"] * 2e-12
    by_mem = (i["synapses"] * i["compute.bytes_per_synapse"] + i["neurons"] * i["compute.bytes_per_neuron"]) / 80e9
    assert p.point["accelerators"] == math.ceil(max(by_compute, by_mem))
    assert _plan(organism="mouse").compute_basis.startswith("assumed:")


def test_auto_uses_the_default_benchmark_only_when_present(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _plan(engine_benchmark="auto").compute_basis.startswith("assumed:")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    _bench(tmp_path / "benchmarks" / "results", seconds_per_synapse_step=1e-12, device="a100")
    p = _plan(engine_benchmark="auto")
    assert p.compute_basis.startswith("measured:")
    assert p.inputs["accelerator.flops"].central == ACCELERATORS["a100"].flops.value
    # other levels never use the engine's measurement
    assert _plan(engine_benchmark="auto", level="spiking_network").compute_basis.startswith("assumed:")


@pytest.mark.parametrize("data", [{"seconds_per_synapse_step": -1, "device": "h100"},
                                  {"seconds_per_synapse_step": 1e-12, "device": "tpu9"},
                                  {"device": "h100"}, [1, 2]])
def test_bad_benchmark_files(tmp_path, data):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptDataError):
        read_engine_benchmark(path)
    path.write_text("{not json")
    with pytest.raises(CorruptDataError):
        read_engine_benchmark(path)


def test_measured_cost_only_for_the_engine_level(tmp_path):
    path = _bench(tmp_path, seconds_per_synapse_step=1e-12, device="h100")
    with pytest.raises(NeurophantomError, match="conductance_point"):
        _plan(level="proteome", engine_benchmark=str(path))
    with pytest.raises(NeurophantomError, match="not found"):
        _plan(engine_benchmark=str(tmp_path / "missing.json"))


def test_compute_outputs_carry_uncertainty():
    p = _plan(samples=5000)
    for k in ("flops", "memory_bytes", "accelerators", "power_w"):
        s = p.summary[k]
        assert s["p05"] < s["median"] < s["p95"] and np.isfinite(s["p95"])
