"""The task world (``neurophantom run --preset pretty-printer``): function and computation.

The closed loop itself costs minutes; its judging stages are tested here on a **perfect
reconstruction** of the flip-flop circuit (every neuron found, renumbered and renamed as a
reconstruction names them, no task header, the same synapses) under the library's map,
which for this world is its true biophysics. Oracles:

- the task's own scorer (per-trial scores must add up to ``Task.score``);
- the true circuit in the same run: a perfect emulation keeps at least 0.8 of its
  above-chance task score (the issue's bar), while the shuffled-connectome control keeps
  less than half of it, with non-overlapping 95% paired-bootstrap intervals;
- the known solution of the 3-bit flip-flop (Sussillo & Barak 2013): 2^3 attracting
  fixed points, one per sign pattern, found in the rate network and, from its dynamics
  alone, in the emulation, while the shuffled control keeps one;
- the rate network's own integrator (``trained._step``): an attracting fixed point found
  by Newton on the derived right-hand side stays put when stepped by it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurophantom.identify.map import init_theta
from neurophantom.pipeline.config import load_run_config
from neurophantom.pipeline.judge_task import computation_stage, task_function_stage
from neurophantom.pipeline.learn import _theta_json, reference_library
from neurophantom.pipeline.main import build_stages, computation_scores, task_function_scores
from neurophantom.report.headline import headline
from neurophantom.sources.pretty_printer import Config, build
from neurophantom.sources.tasks import get_task, make_trials
from neurophantom.types import Circuit, Provenance
from neurophantom.validate.task_function import trial_hits

pytestmark = pytest.mark.xdist_group("pretty_printer")

#: 16 held-out trials: a constant output's per-trial above-chance score has a spread of
#: about 0.4, so the control's mean is known to about +-0.1: its 0.5 bar is 5 sd away.
BEHAVIOUR = {"task_trials": 16, "fixed_point_trials": 8, "fixed_point_probes": 8}


def perfect_reconstruction(c: Circuit) -> Circuit:
    """Every neuron and synapse of ``c``, renumbered and renamed (``seg...``), no header."""
    perm = np.random.default_rng(0).permutation(c.n_neurons) + 1000
    new_id = dict(zip(c.neurons["id"], perm))
    nrn = c.neurons.assign(id=c.neurons["id"].map(new_id), name=[f"seg{p:06d}" for p in c.neurons["id"].map(new_id)],
                           cell_type="unknown").iloc[::-1].reset_index(drop=True)
    syn = c.synapses.assign(pre=c.synapses["pre"].map(new_id), post=c.synapses["post"].map(new_id))
    return Circuit(neurons=nrn, synapses=syn, gap_junctions=c.gap_junctions, channel_types=c.channel_types,
                   receptor_types=c.receptor_types, provenance=Provenance(source="reconstruction"))


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """The function and computation stages on stage folders of a perfect reconstruction."""
    root = tmp_path_factory.mktemp("task_world")
    truth = build(Config(task="flipflop"))
    truth.save(root / "tissue" / "specimen")
    recon = perfect_reconstruction(truth)
    recon.save(root / "recon")
    recon.save(root / "rosetta" / "circuit")
    ref = reference_library()
    names = (tuple(truth.receptor_types), tuple(truth.channel_types))
    (root / "identify").mkdir()
    (root / "identify" / "theta.json").write_text(json.dumps(
        {"theta": _theta_json(init_theta(ref, *names)), "names": {"receptors": list(names[0]), "channels": list(names[1])}}))
    inputs = {"tissue": root / "tissue", "recon_heldout": root / "recon", "rosetta": root / "rosetta", "identify": root / "identify"}
    cfg = {"world": {"task": "flipflop", "transmission": "kinetic"}, "identify": {"membrane": "geometry"},
           "behaviour": BEHAVIOUR, "seed": 0}
    fn = task_function_stage(root / "function", inputs, cfg)
    comp = computation_stage(root / "computation", inputs, cfg)
    return {"function": task_function_scores(fn), "computation": computation_scores(comp)}


def test_preset_builds_the_task_graph_and_writes_the_contract_keys(judged):
    cfg = load_run_config("pretty-printer", sets={"world.task": "context_decision"})
    stages = {s.name: s for s in build_stages(cfg)}
    assert {"function", "computation", "emulate", "ladder"} <= set(stages)
    assert stages["function"].config["world"]["task"] == "context_decision"
    assert stages["computation"].config["behaviour"]["task_trials"] == cfg.behaviour.task_trials
    fn, comp = judged["function"], judged["computation"]
    for key in ("truth", "emulation", "rosetta_emulation", "ratio", "control"):
        assert np.isfinite(fn[key]), key
    assert fn["task"] == "flipflop" and len(fn["ratio_ci95"]) == 2
    assert np.isfinite(comp["distance"]) and comp["emulation"]["hold"]["n_attracting"] >= 1
    # The report's headline names the task, with the paired interval of the ratio.
    row = [r for r in headline({"function": fn, "emulation": {"trace_correlation": 0.5}}).rows if r.group == "function"][0]
    assert row.label == "flipflop task score above chance kept" and "[" in row.cells[0], row


@pytest.mark.parametrize("task", ["flipflop", "context_decision"])
def test_per_trial_scores_add_up_to_the_task_score(task):
    tr = make_trials(task, "heldout", 12, seed=3)
    y = np.random.default_rng(1).normal(0.0, 1.0, tr.targets.shape)
    hits, counts = trial_hits(task, y, tr)
    assert hits.sum() / counts.sum() == pytest.approx(get_task(task).score(y, tr), abs=1e-12)
    assert np.all((0 <= hits) & (hits <= counts))


def test_perfect_emulation_keeps_the_task_and_the_shuffled_control_loses_it(judged):
    fn = judged["function"]
    assert fn["truth"] >= 0.95  # the compiled circuit's header: 1.0 on 32 held-out trials
    assert fn["ratio"] >= 0.8 and fn["ratio_ci95"][0] >= 0.8, (fn["ratio"], fn["ratio_ci95"])
    assert fn["rosetta_ratio"] >= 0.8
    assert fn["control_ratio"] < 0.5, (fn["control"], fn["control_ratio"])
    # The ordering, with margin: the intervals over the same paired trials do not meet.
    assert fn["control_ratio_ci95"][1] < fn["ratio_ci95"][0], (fn["control_ratio_ci95"], fn["ratio_ci95"])
    assert fn["details"]["emulation"]["matched_fraction"] == 1.0


def test_fixed_points_recover_the_flipflop_solution(judged):
    comp = judged["computation"]
    ref = comp["rate_network"]["hold"]
    assert ref["n_attracting"] == 8 and ref["attracting_sign_patterns"] == 8, ref
    assert np.all(np.abs(ref["attracting_outputs"]) > 0.5)  # near the corners of the +-1 cube
    found = comp["emulation"]["hold"]
    assert found["n_attracting"] == 8 and found["attracting_sign_patterns"] == 8, found
    # Against the 8 corners, one attracting point is at least ~1.1 away (a corner itself:
    # half of 0 + the mean corner-to-corner distance 2.24); the emulation's 8 points lie
    # within the compiled readout's own error of the rate network's (measured 0.07).
    assert comp["distance"] < 0.25, comp["distance"]
    assert comp["control_distance"] > 0.8, comp["control_distance"]
    assert comp["details"]["control"]["fixed_points"]["hold"]["n_attracting"] < 8


def test_attracting_rate_fixed_points_hold_under_the_rate_networks_own_integrator():
    import jax
    import jax.numpy as jnp

    from neurophantom.sources.trained import _step, encode_inputs, load_network
    from neurophantom.validate.computation import CONDITIONS, FixedPointSettings, _held, _probes, _rate_field, _roots

    net = load_network("flipflop", 0)
    task = get_task("flipflop")
    s = FixedPointSettings(trials=8, probes_per_trial=8)
    tr = make_trials(task, "heldout", s.trials, seed=s.seed)
    u = encode_inputs(task, np.zeros((1, 1, 3)))[0, 0]
    v_in = net.unit.E_leak_mV + net.unit.input_gain_mV * u
    probes = _probes(net.simulate(tr)[0][..., net.n_inputs:], _held(tr, CONDITIONS["flipflop"]["hold"], s.hold_ms), s.probes_per_trial)
    roots, lam = _roots(_rate_field, (jnp.asarray(net.W), jnp.asarray(v_in), net.unit.to_dict()), probes, s)
    assert (lam < -1e-2).sum() >= 2
    # Each root, kicked by 1 mV in a random direction, under 300 ms of the training
    # integrator with tonic input only: an attracting one (slowest decay faster than
    # 1/(100 ms)) comes back to within exp(-3) mV.
    kick = np.random.default_rng(0).choice([-1.0, 1.0], size=roots.shape)
    x = jnp.asarray(np.concatenate([np.broadcast_to(v_in, (len(roots), v_in.size)), roots + kick], axis=1))
    drive = jnp.asarray(np.broadcast_to(u, (len(roots), u.size)))
    step = jax.jit(lambda x, _: (_step(jnp.asarray(net.W), net.unit, x, drive, 1.0), None))
    x = np.asarray(jax.lax.scan(step, x, None, length=300)[0])
    drift = np.max(np.abs(x[:, net.n_inputs:] - roots), axis=1)
    assert np.all(drift[lam < -1e-2] < np.exp(-3.0)), (lam, drift)


def test_the_task_world_hides_its_constants_in_counts_and_still_conducts_the_same(tmp_path):
    """The preset's truth stage: unitary conductances off the library's (the world's
    secret), molecule counts rescaled by library/world, and the Model the truth simulates
    is the compiled circuit's to rounding (what it computes is unchanged)."""
    from neurophantom.biophysics import biophysics_for, build_model
    from neurophantom.pipeline.config import config_json
    from neurophantom.pipeline.specimen import truth_stage
    from neurophantom.sources import build_source

    cfg = config_json(load_run_config("pretty-printer"))
    truth_stage(tmp_path, {}, {"world": cfg["world"], "seed": 12})
    truth = Circuit.load(tmp_path / "circuit")
    packaged = build_source("pretty-printer", seed=0, options={"task": "flipflop"})
    library, world = biophysics_for(packaged), biophysics_for(truth)
    for r in packaged.receptor_types:
        ratio = library.receptor(r).g_unit_pS / world.receptor(r).g_unit_pS
        assert ratio != pytest.approx(1.0, abs=0.05), r  # the world keeps a secret for every receptor
        np.testing.assert_allclose(truth.synapses[r], packaged.synapses[r] * ratio, rtol=1e-12)
    m_truth, m_packaged = build_model(truth), build_model(packaged)
    for name in ("g_nS", "w_kinetic_nS", "C_pF"):
        np.testing.assert_allclose(np.asarray(m_truth.params[name]), np.asarray(m_packaged.params[name]), rtol=1e-9, err_msg=name)
