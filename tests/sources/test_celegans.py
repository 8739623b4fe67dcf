"""The C. elegans source against cect itself: every neuron, connection and gap junction;
receptor rules; header; save/load; and a graded simulation that responds to a stimulus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cect.Cells import is_any_neuron, is_known_muscle

from neurophantom import Circuit, NeurophantomError
from neurophantom.biophysics.library import preset
from neurophantom.biophysics.model import biophysics_for, build_model
from neurophantom.engine import simulate
from neurophantom.sources import build_source
from neurophantom.sources.celegans import Config, build
from neurophantom.sources.celegans_data import load_dataset, transmitters
from neurophantom.types.stimulus import Step, Stimulus

GAP_UNIT_NS = preset("celegans").gap_unit_pS * 1e-3


@pytest.fixture(scope="module")
def circuits():
    return {name: build(Config(dataset=name, parameters="guessed")) for name in ("Cook2019Herm", "Witvliet8")}


def _cect_connections(dataset: str):
    """Chemical and electrical neuron-neuron connections as cect's own API reports them."""
    _, conns = load_dataset(dataset).get_neuron_to_neuron_conns()
    chem, elec = {}, {}
    for ci in conns:
        if ci.syntype == "Chemical":
            key = (ci.pre_cell, ci.post_cell)
            chem[key] = max(chem.get(key, 0.0), float(ci.number))
        elif ci.syntype == "GapJunction":
            elec[tuple(sorted((ci.pre_cell, ci.post_cell)))] = float(ci.number)
    return chem, elec


def _names(c: Circuit, ids) -> np.ndarray:
    lookup = dict(zip(c.neurons["id"], c.neurons["name"]))
    return np.array([lookup[i] for i in ids], dtype=object)


@pytest.mark.parametrize("dataset", ["Cook2019Herm", "Witvliet8"])
def test_every_neuron_of_the_dataset(circuits, dataset):
    c = circuits[dataset]
    ds = load_dataset(dataset)
    expected = {n for n in ds.nodes if is_any_neuron(n)}
    cells_with_conns, _ = ds.get_neuron_to_neuron_conns()
    assert set(c.neurons["name"]) == expected
    assert set(cells_with_conns) <= set(c.neurons["name"])
    assert set(c.neurons["release"]) == {"graded"}
    assert c.provenance.dataset == dataset


@pytest.mark.parametrize("dataset", ["Cook2019Herm", "Witvliet8"])
def test_every_chemical_connection_with_its_count(circuits, dataset):
    c = circuits[dataset]
    chem, _ = _cect_connections(dataset)
    syn = c.synapses
    per_count = c.provenance.config["contact_area_per_count_um2"]
    got = dict(zip(zip(_names(c, syn["pre"]), _names(c, syn["post"])), syn["contact_area_um2"] / per_count))
    assert len(syn) == len(chem) == c.n_synapses  # one single-partner release site per connection
    assert got.keys() == chem.keys()
    np.testing.assert_allclose([got[k] for k in chem], [chem[k] for k in chem], rtol=1e-12)


@pytest.mark.parametrize("dataset", ["Cook2019Herm", "Witvliet8"])
def test_every_gap_junction_with_its_count(circuits, dataset):
    c = circuits[dataset]
    _, elec = _cect_connections(dataset)
    selfs = sorted(a for a, b in elec if a == b)
    pairs = {k: v for k, v in elec.items() if k[0] != k[1]}
    gj = c.gap_junctions
    per_count = c.provenance.config["gap_nS_per_count"]
    got = {tuple(sorted(p)): n for p, n in zip(zip(_names(c, gj["a"]), _names(c, gj["b"])), gj["connexin_count"] * GAP_UNIT_NS / per_count)}
    assert len(gj) == len(pairs)
    assert got.keys() == pairs.keys()
    np.testing.assert_allclose([got[k] for k in pairs], [pairs[k] for k in pairs], rtol=1e-12)
    assert c.provenance.metadata["dropped_self_gap_junctions"] == selfs


def test_receptors_follow_transmitter_and_postsynaptic_expression(circuits):
    """Each row's receptors: the presynaptic transmitter (Wang 2024) decides the family,
    the postsynaptic neuron's measured receptor genes (CeNGEN x Fenyves 2020) the type."""
    from neurophantom.sources.celegans_atlas import receptor_expression

    c = circuits["Cook2019Herm"]
    syn = c.synapses
    expr = receptor_expression()
    nt = transmitters()
    pre, post = _names(c, syn["pre"]), _names(c, syn["post"])
    present = {r: syn[r].to_numpy() > 0 for r in c.receptor_types}
    fast = {"Acetylcholine", "GABA", "Glutamate", "Betaine"}
    kinds = [tuple(sorted(set(nt.get(p, ())) & fast)) for p in pre]
    checked = 0
    for k, (kind, q) in enumerate(zip(kinds, post)):
        if kind not in (("Acetylcholine",), ("Glutamate",), ("GABA",)):
            continue
        key = {"Acetylcholine": "ACh", "Glutamate": "Glu", "GABA": "GABA"}[kind[0]]
        exc_t, inh_t = {"ACh": ("nach", "acc"), "Glu": ("ampa", "glucl"), "GABA": ("exp1", "gaba_a")}[key]
        e, i = q in expr.exc[key], q in expr.inh[key]
        if q in expr.profiled and (e or i):
            assert present[exc_t][k] == e and present[inh_t][k] == i, (pre[k], q, key)
            checked += 1
        others = set(c.receptor_types) - {exc_t, inh_t}
        assert not any(present[r][k] for r in others)
    assert checked > 2500  # 2744 rows of Cook 2019 have a single fast transmitter and an expression call


def test_no_random_sign_and_signs_agree_with_installed_sign_data():
    """Two seeds give the same receptors, and each single-transmitter row's net sign is
    the one wormneuroatlas's sign map gives for that (transmitter, post, pre) where it has one."""
    from neurophantom.sources.celegans_atlas import sign_map
    from neurophantom.sources.celegans_receptors import net_sign

    a, b = (build(Config(seed=s, parameters="guessed")) for s in (1, 2))
    for r in a.receptor_types:
        np.testing.assert_array_equal(a.synapses[r], b.synapses[r])
    names, sign = sign_map()
    idx = {n: k for k, n in enumerate(names)}
    bio = preset("celegans")
    nt = transmitters()
    syn = a.synapses
    pre, post = _names(a, syn["pre"]), _names(a, syn["post"])
    layer = {"Glutamate": 0, "Acetylcholine": 1, "GABA": 2}  # Glu, ACh, GABA as NeuroAtlas orders them
    from neurophantom.sources.celegans_atlas import receptor_expression

    profiled = receptor_expression().profiled
    agree = n = 0
    for k in range(len(syn)):
        kind = set(nt.get(pre[k], ())) & {"Acetylcholine", "GABA", "Glutamate", "Betaine"}
        if len(kind) != 1 or "Betaine" in kind or pre[k] not in idx or post[k] not in idx or post[k] not in profiled:
            continue
        s = sign[layer[kind.pop()], idx[post[k]], idx[pre[k]]]
        if np.isfinite(s):
            n += 1
            agree += net_sign({r: syn[r].iloc[k] for r in a.receptor_types}, bio) == s
    assert n > 2000 and agree == n


@pytest.mark.parametrize("frac, absent", [(0.0, "glucl"), (1.0, "ampa")])
def test_guessed_signs_keep_the_seeded_glucl_fraction(frac, absent):
    c = build(Config(dataset="Varshney", signs="guess", glucl_fraction=frac, parameters="guessed"))
    assert (c.synapses[absent] == 0).all()


def test_unknown_transmitter_receptor_is_a_knob():
    a = build(Config(dataset="Varshney", parameters="guessed"))
    b = build(Config(dataset="Varshney", unknown_transmitter_receptor="gaba_a", parameters="guessed"))
    moved = (a.synapses["nach"] > 0) & (b.synapses["nach"] == 0)
    assert moved.sum() > 0 and (b.synapses["gaba_a"][moved] > 0).all()


def test_seed_changes_only_the_layout():
    a, b, a2 = (build(Config(dataset="Varshney", seed=s, parameters="guessed")) for s in (1, 2, 1))
    pd.testing.assert_frame_equal(a.synapses.drop(columns=["x_um", "y_um", "z_um"]), b.synapses.drop(columns=["x_um", "y_um", "z_um"]))
    pd.testing.assert_frame_equal(a.neurons, a2.neurons)
    assert not np.array_equal(a.neurons["x_um"], b.neurons["x_um"])


def test_peak_conductance_is_count_times_unit(circuits):
    c = circuits["Cook2019Herm"]
    bio = preset("celegans")
    syn = c.synapses
    cfg = c.provenance.config
    g = sum(syn[r] * syn["contact_area_um2"] * bio.receptor(r).g_unit_pS * 1e-3 for r in c.receptor_types)
    count = syn["contact_area_um2"] / cfg["contact_area_per_count_um2"]
    np.testing.assert_allclose(g, count * cfg["synapse_nS_per_count"], rtol=1e-12)


def test_muscles_only_on_request():
    ds = load_dataset("Cook2019Herm")
    c = build(Config(include_muscles=True, parameters="guessed"))
    muscles = {n for n in ds.nodes if is_known_muscle(n)}
    assert set(c.neurons["name"][c.neurons["cell_type"] == "muscle"]) == muscles
    assert c.n_neurons == len(muscles) + sum(is_any_neuron(n) for n in ds.nodes)
    post_types = c.neurons.set_index("id").loc[c.synapses["post"], "cell_type"]
    assert (post_types == "muscle").sum() > 500  # neuromuscular junctions are synapses too


def test_header_names_biophysics_and_assumptions(circuits):
    c = circuits["Cook2019Herm"]
    meta = c.provenance.metadata
    assert meta["biophysics"] == {"preset": "celegans", "overrides": {}}
    assert biophysics_for(c).preset == "celegans"
    table = meta["assumptions"]
    assert len(table) >= 15
    for row in table:
        assert set(row) == {"name", "value", "unit", "source", "certainty"}
        assert 0.0 <= row["certainty"] <= 1.0 and row["source"]
    by_name = {row["name"]: row["value"] for row in table}
    assert by_name["synaptic_conductance_per_count"] == c.provenance.config["synapse_nS_per_count"]


def test_positions_are_distinct_and_in_a_worm(circuits):
    nrn = circuits["Cook2019Herm"].neurons
    xyz = nrn[["x_um", "y_um", "z_um"]].to_numpy()
    assert len(np.unique(xyz.round(6), axis=0)) == len(xyz)
    assert xyz[:, 0].min() > 0 and xyz[:, 0].max() < 1000 and np.abs(xyz[:, 1:]).max() < 40
    x = dict(zip(nrn["name"], nrn["x_um"]))
    assert x["VA1"] < x["VA6"] < x["VA12"] and x["AVAL"] < x["PLML"]


def test_save_load_round_trip_is_lossless(circuits, tmp_path):
    c = circuits["Witvliet8"]
    back = Circuit.load(c.save(tmp_path / "ce"))
    for t in ("neurons", "synapses", "gap_junctions"):
        pd.testing.assert_frame_equal(getattr(back, t), getattr(c, t), check_exact=True)
    assert back.header() == c.header()


def test_bad_datasets_raise_one_line_errors():
    with pytest.raises(NeurophantomError, match="unknown C. elegans dataset 'NoSuchWorm'"):
        build_source("celegans", options={"dataset": "NoSuchWorm"})
    with pytest.raises(NeurophantomError, match="no chemical or electrical synapses"):
        build(Config(dataset="Brittin2021"))


def test_graded_simulation_responds_to_a_sensory_stimulus(circuits):
    c = circuits["Cook2019Herm"]
    model = build_model(c)
    assert not model.meta.has_spiking
    ash = c.ids_of_names(["ASHL", "ASHR"])
    traces = []
    for amp in (0.0, 20.0):
        stim = Stimulus(duration_ms=1000.0, components=(Step(targets=tuple(ash), amplitude_pA=amp, start_ms=200.0, stop_ms=800.0),))
        traces.append(simulate(model, stim, dt_ms=0.1, sample_dt_ms=1.0).traces["v"])
    v0, v1 = traces
    assert np.isfinite(v0).all() and np.isfinite(v1).all()
    assert -70 < v0.min() and v0.max() < 0  # graded, no runaway
    idx = c.index_of(ash)
    assert (v1[500, idx] - v0[500, idx] > 5.0).all()
    partners = np.setdiff1d(c.synapses["post"][np.isin(c.synapses["pre"], ash)], ash)
    pi = c.index_of(partners)
    others = np.setdiff1d(np.arange(c.n_neurons), np.concatenate([pi, idx]))
    dv = np.abs(v1 - v0)[300:800].mean(axis=0)
    assert dv[pi].mean() > 0.1 and dv[pi].max() > 1.0
    # Expression-based signs spread more (Cl channels and gap junctions carry the step on
    # through the partners), so the margin over non-partners is 5x, not 10x as with the guess.
    assert dv[pi].mean() > 5 * np.median(dv[others])
    # Before the step the runs are identical: the response is caused by the stimulus.
    np.testing.assert_array_equal(v0[:200], v1[:200])
