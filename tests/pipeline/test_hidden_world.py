"""A closed-loop world with hidden glia (issue 19): the astrocytes the truth's recordings
feel are the ones its tissue draws and its scan shows, the reconstruction sets them aside,
and a world without hidden processes is today's world (the same stage keys, hence the
same cached artifacts).

Oracles: the phantom's own glia table (what a perfect instrument would find), the
specimen imaged again without its pools (the control: same seed, same protocol), and the
stage keys of the preset.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurophantom.instruments.dynamic import read_ground_truth
from neurophantom.pipeline import run_pipeline, upstream
from neurophantom.pipeline.config import load_run_config
from neurophantom.pipeline.main import build_stages
from neurophantom.pipeline.runner import stage_keys
from neurophantom.reconstruct import Reconstruction
from neurophantom.types.phantom import Phantom

GLIA = {"n_astrocytes": 2, "domain_um": 500.0, "strength_nS": 10.0}
#: A small world, one held-out protocol and three mapping protocols: the specimen's
#: stages only (no identification).
SMALL = {"world": {"n_neurons": 24, "pattern_size": 8, "glia": GLIA},
         "recording": {"heldout_protocols": 1, "heldout_repeats": 1, "heldout_cells": 4, "heldout_ms": 200.0,
                       "mapping_protocols": 3, "mapping_repeats": 1}}


@pytest.fixture(scope="module")
def glia_world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("glia_world")
    (tmp / "config.json").write_text(json.dumps(SMALL))
    cfg = load_run_config("organoid", tmp / "config.json")
    stages = build_stages(cfg)
    run_pipeline(upstream(stages, ["score_heldout", "record_heldout"]), tmp / "run")
    keys = stage_keys(stages)
    folder = lambda name: tmp / "run" / "stages" / f"{name}-{keys[name][:16]}"  # noqa: E731
    return cfg, folder


def test_the_scan_shows_the_truths_astrocytes_and_the_reconstruction_sets_them_aside(glia_world):
    _, folder = glia_world
    ph = Phantom.load(folder("tissue_heldout") / "phantom")
    assert len(ph.glia) == GLIA["n_astrocytes"]
    assert ph.glia["domain_neurons"].sum() > 0
    score = json.loads((folder("score_heldout") / "score.json").read_text())
    g = score["segmentation"]["glia"]
    assert g["truth_astrocytes"] == GLIA["n_astrocytes"] and g["found"] == GLIA["n_astrocytes"]
    assert g["precision"] == 1.0 and g["taken_for_neurons"] == 0
    rec = Reconstruction.load(folder("recon_heldout_barcoded") / "recon")
    assert rec.circuit.n_neurons <= len(ph.neurons)  # no astrocyte became a neuron


def test_the_truths_recordings_feel_the_glia(glia_world):
    """The held-out session against the same specimen, protocol and seed imaged without
    pools: the astrocytes' slow inward current (reversal 0 mV) depolarises their domains."""
    from neurophantom.instruments.dynamic import read_imaging, record
    from neurophantom.pipeline.specimen import _imaging
    from neurophantom.types import Circuit

    cfg, folder = glia_world
    path = sorted(folder("record_heldout").glob("heldout_*.nwb"))[0]
    with_glia = read_ground_truth(path).activity[0]
    session = read_imaging(path)
    specimen = Circuit.load(folder("tissue_heldout") / "specimen")
    c = json.loads(cfg.model_dump_json())
    _, control = record(specimen, session.protocol, _imaging(c), seed=12 * 1000 + 500)
    v_on, v_off = with_glia.traces["v"], control.activity[0].traces["v"]
    assert v_on.shape == v_off.shape
    assert np.mean(v_on) > np.mean(v_off) + 0.5  # mV
    assert len(with_glia.spike_times_ms) > len(control.activity[0].spike_times_ms)


def test_a_world_without_hidden_processes_keeps_its_stage_keys(tmp_path):
    """``world.glia`` and ``world.modulator`` off (null) is the preset itself: every stage key,
    hence every cached artifact, is the one it had before the fields existed."""
    (tmp_path / "c.json").write_text(json.dumps({"world": {"glia": None, "modulator": None}}))
    base = stage_keys(build_stages(load_run_config("organoid")))
    off = stage_keys(build_stages(load_run_config("organoid", tmp_path / "c.json")))
    on = stage_keys(build_stages(load_run_config("organoid", _write(tmp_path / "g.json", {"world": {"glia": GLIA}}))))
    assert off == base
    changed = {k for k in base if on[k] != base[k]}
    assert "truth_heldout" not in changed and {"tissue_heldout", "record_heldout", "identify"} <= changed


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_the_recordings_pools_are_the_worlds_glia_and_modulator():
    """``hidden_pools``: the glia pools of the truth's domains then the modulator's, each
    as the hidden-process sources draw them for the specimen's seed; none without either."""
    from neurophantom.pipeline.specimen import hidden_pools
    from neurophantom.sources import build_source
    from neurophantom.sources.hidden import GliaConfig, ModulatorConfig, glia_pools, modulator_pools

    truth = build_source("organoid", seed=3, options={"n_neurons": 20, "n_patterns": 0})
    mod = {"strength_nS": 2.0, "tau_ms": 800.0}
    both = hidden_pools(truth, {"glia": GLIA, "modulator": mod}, 7)
    g, m = glia_pools(truth, GliaConfig(**GLIA), 7), modulator_pools(truth, ModulatorConfig(**mod), 7)
    k = GLIA["n_astrocytes"]
    assert both.release.shape == (k + 1, truth.n_neurons)
    for a, b, c in zip(both.tree_flatten()[0], g.tree_flatten()[0], m.tree_flatten()[0]):
        np.testing.assert_array_equal(a, np.concatenate([b, c]))
    assert hidden_pools(truth, {}, 7) is None and hidden_pools(None, {"glia": None}, 7) is None
    from neurophantom import NeurophantomError

    with pytest.raises(NeurophantomError, match="truth circuit"):
        hidden_pools(None, {"glia": GLIA}, 7)


def test_a_dotted_set_turns_a_hidden_process_on_from_its_defaults():
    from neurophantom.sources.hidden import GliaConfig

    cfg = load_run_config("organoid", sets={"world.glia.strength_nS": 5.0})
    assert cfg.world.glia == GliaConfig(strength_nS=5.0) and cfg.world.modulator is None
    from neurophantom import NeurophantomError

    with pytest.raises(NeurophantomError, match="world.glia.bogus"):
        load_run_config("organoid", sets={"world.glia.bogus": 1})


@pytest.mark.parametrize("preset", ["pretty-printer", "celegans"])
def test_graded_worlds_refuse_hidden_pools_before_any_stage(preset):
    """The pools are released by spikes; a graded world's neurons have none (one line, at
    config time, not after its tissue is grown)."""
    from neurophantom import NeurophantomError

    with pytest.raises(NeurophantomError, match="graded"):
        load_run_config(preset, sets={"world.glia.strength_nS": 5.0})
