"""The organoid's structure against its stated rules: determinism, cell types, wiring,
dyads, sizes, receptor predictability (regression R^2) and the imprinted memory."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurophantom import Circuit, NeurophantomError
from neurophantom.sources import build_source
from neurophantom.sources.organoid import Config, build

TYPES = ("pyramidal", "pv", "sst")


@pytest.fixture(scope="module")
def plain():
    """Default organoid without memory (so densities are pure rules)."""
    return build(Config(seed=11, memory_strength=0.0))


def _type_index(c: Circuit, ids) -> np.ndarray:
    t = dict(zip(c.neurons["id"], c.neurons["cell_type"]))
    return np.array([TYPES.index(t[i]) for i in ids])


def _fit(c: Circuit, receptor: str) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and data of log density ~ one-hot(pre type, post type) + log size (on its support)."""
    syn = c.synapses
    d = syn[receptor].to_numpy()
    m = d > 0
    pair = _type_index(c, syn["pre"][m]) * 3 + _type_index(c, syn["post"][m])
    X = np.column_stack([(pair == k).astype(float) for k in np.unique(pair)] + [np.log(syn["contact_area_um2"][m])])
    y = np.log(d[m])
    return y - X @ np.linalg.lstsq(X, y, rcond=None)[0], y


def _r2(c: Circuit, receptor: str) -> float:
    resid, y = _fit(c, receptor)
    return 1.0 - resid.var() / y.var()


def test_same_seed_same_files_bitwise(tmp_path):
    a = build(Config(seed=5)).save(tmp_path / "a")
    b = build(Config(seed=5)).save(tmp_path / "b")
    for f in ("neurons.parquet", "synapses.parquet", "gap_junctions.parquet", "circuit.json"):
        assert filecmp.cmp(a / f, b / f, shallow=False), f


def test_different_seeds_differ():
    a, b = build(Config(seed=1)), build(Config(seed=2))
    assert not np.array_equal(a.neurons["x_um"], b.neurons["x_um"])
    assert len(a.synapses) != len(b.synapses) or not np.array_equal(a.synapses["post"], b.synapses["post"])
    assert a.provenance.metadata["memory_patterns"] != b.provenance.metadata["memory_patterns"]


@pytest.mark.parametrize("n, fr", [(200, (0.8, 0.1, 0.1)), (101, (0.5, 0.3, 0.2))])
def test_cell_type_counts_follow_fractions(n, fr):
    c = build(Config(n_neurons=n, pyramidal_fraction=fr[0], pv_fraction=fr[1], sst_fraction=fr[2], n_patterns=1, pattern_size=5))
    counts = c.neurons["cell_type"].value_counts()
    assert counts.sum() == n and set(counts.index) == set(TYPES)
    for t, f in zip(TYPES, fr):
        assert abs(counts[t] - f * n) < 1.0
    assert set(c.neurons["release"]) == {"spike"}
    xyz = c.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    assert (xyz >= 0).all() and (xyz <= np.array(c.provenance.config["slab_um"])).all()


def test_channel_densities_are_distinct_per_type_and_vary_per_neuron(plain):
    nrn = plain.neurons
    med = nrn.groupby("cell_type")[["na", "kdr", "kca", "area_um2"]].median()
    assert med.loc["pv", "kdr"] > 2.5 * med.loc["pyramidal", "kdr"]  # fast-spiking
    assert med.loc["sst", "kca"] > 3 * med.loc["pyramidal", "kca"] and (nrn["kca"][nrn["cell_type"] == "pv"] == 0).all()
    sd = nrn[nrn["cell_type"] == "pyramidal"][["na", "kdr", "leak", "area_um2"]].apply(lambda s: np.log(s).std())
    assert np.allclose(sd, plain.provenance.config["cell_variability"], rtol=0.25)


def test_connection_probability_falls_with_distance(plain):
    nrn, syn = plain.neurons, plain.synapses
    xyz = nrn[["x_um", "y_um", "z_um"]].to_numpy()
    t = _type_index(plain, nrn["id"])
    connected = np.zeros((len(nrn), len(nrn)), bool)
    connected[syn["pre"], syn["post"]] = True
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    ee = (t[:, None] == 0) & (t[None, :] == 0) & ~np.eye(len(nrn), dtype=bool)
    edges = np.array([0, 40, 80, 120, 160, 300])
    p = [connected[ee & (d >= lo) & (d < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:])]
    assert all(a > b for a, b in zip(p, p[1:])), p
    # The fitted length constant of p ~ exp(-d / L) matches the configured one.
    centres = np.array([connected[ee & (d >= lo) & (d < hi)].size and d[ee & (d >= lo) & (d < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:])])
    slope = np.polyfit(centres[:4], np.log(p[:4]), 1)[0]
    assert abs(-1.0 / slope - plain.provenance.config["connection_length_um"]) < 25.0
    # Type dependence: PV -> pyramidal is denser than pyramidal -> pyramidal at short range.
    near = d < 60
    pe = (t[:, None] == 1) & (t[None, :] == 0)
    assert connected[pe & near].mean() > 1.5 * connected[ee & near].mean()


def test_dyads_share_a_release_site(plain):
    syn = plain.synapses
    per_site = syn.groupby("synapse_id").size()
    assert set(per_site.unique()) == {1, 2}
    assert abs((per_site == 2).mean() - plain.provenance.config["dyad_probability"]) < 0.05
    dy = syn[syn["synapse_id"].isin(per_site.index[per_site == 2])]
    assert (dy.groupby("synapse_id")["post"].nunique() == 2).all()
    none = build(Config(seed=11, dyad_probability=0.0, memory_strength=0.0))
    assert none.n_synapses == len(none.synapses)


def test_contact_sizes_are_lognormal(plain):
    cfg = plain.provenance.config
    z = (np.log(plain.synapses["contact_area_um2"]) - np.log(cfg["contact_median_um2"])) / cfg["contact_sigma_log"]
    assert stats.kstest(z, "norm").pvalue > 0.01


def test_predictability_one_makes_densities_a_function_of_type_and_size(plain):
    for r in plain.receptor_types:
        resid, y = _fit(plain, r)
        assert len(y) > 100 and np.abs(resid).max() < 1e-9, r  # an exact function (R^2 = 1)
    assert _r2(plain, "ampa") > 1 - 1e-12


def test_predictability_zero_hides_them_with_the_same_marginals(plain):
    hidden = build(Config(seed=11, memory_strength=0.0, receptor_predictability=0.0))
    half = build(Config(seed=11, memory_strength=0.0, receptor_predictability=0.5))
    pd.testing.assert_series_equal(hidden.synapses["contact_area_um2"], plain.synapses["contact_area_um2"])
    for r in ("ampa", "nmda", "gaba_a", "gaba_b"):
        if r != "gaba_b":  # gaba_b's rule is one constant: nothing to explain
            assert _r2(hidden, r) < 0.05 and _r2(hidden, r) < _r2(half, r) < 0.9, r
        np.testing.assert_array_equal(np.sort(hidden.synapses[r]), np.sort(plain.synapses[r]))
        # Receptor identity still follows the transmitter: only where it is released.
        np.testing.assert_array_equal(hidden.synapses[r] > 0, plain.synapses[r] > 0)
    # For continuous rules the knob is the fraction of variance that type and size explain.
    assert abs(_r2(half, "ampa") - 0.5) < 0.1 and abs(_r2(half, "nmda") - 0.5) < 0.1


def test_memory_scales_pattern_synapses_by_the_strength():
    """Hidden memory (predictability 0): densities carry the whole factor, shapes nothing."""
    s = 3.0
    mem = build(Config(seed=11, memory_strength=s, receptor_predictability=0.0))
    base = build(Config(seed=11, memory_strength=0.0, receptor_predictability=0.0))
    patterns = mem.provenance.metadata["memory_patterns"]
    assert len(patterns) == mem.provenance.config["n_patterns"]
    flat = [i for p in patterns for i in p]
    assert len(flat) == len(set(flat)) and all(len(p) == mem.provenance.config["pattern_size"] for p in patterns)
    assert set(mem.neurons.set_index("id").loc[flat, "cell_type"]) == {"pyramidal"}
    label = {i: k for k, p in enumerate(patterns) for i in p}
    syn = mem.synapses
    inside = np.array([label.get(a, -1) == label.get(b, -2) for a, b in zip(syn["pre"], syn["post"])])
    assert inside.sum() > 30
    for r in ("ampa", "nmda"):
        ratio = syn[r].to_numpy()[syn[r] > 0] / base.synapses[r].to_numpy()[syn[r] > 0]
        np.testing.assert_allclose(ratio[inside[syn[r] > 0]], 1.0 + s, rtol=1e-12)
        np.testing.assert_allclose(ratio[~inside[syn[r] > 0]], 1.0, rtol=1e-12)
    for col in ("gaba_a", "gaba_b", "contact_area_um2"):
        pd.testing.assert_series_equal(syn[col], base.synapses[col])  # shapes do not reveal it


def test_visible_memory_shows_in_synapse_size():
    """Predictability 1: pattern contacts grow so that the size rule explains the memory:
    AMPA numbers x (1 + s), densities exactly the rule's for the new size."""
    s = 3.0
    mem = build(Config(seed=11, memory_strength=s, receptor_predictability=1.0))
    base = build(Config(seed=11, memory_strength=0.0, receptor_predictability=1.0))
    syn, b = mem.synapses, base.synapses
    ratio = (syn["contact_area_um2"] / b["contact_area_um2"]).to_numpy()
    grown = ratio > 1.0 + 1e-12
    assert grown.sum() > 30
    np.testing.assert_allclose(ratio[grown], (1 + s) ** (1 / 1.5), rtol=1e-12)
    count = (syn["ampa"] * syn["contact_area_um2"]).to_numpy()
    count0 = (b["ampa"] * b["contact_area_um2"]).to_numpy()
    np.testing.assert_allclose(count[grown] / count0[grown], 1 + s, rtol=1e-12)
    assert _r2(mem, "ampa") > 0.999  # densities still a function of (types, size)


def test_save_load_round_trip_is_lossless(tmp_path):
    c = build(Config(seed=3))
    back = Circuit.load(c.save(tmp_path / "org"))
    for t in ("neurons", "synapses", "gap_junctions"):
        pd.testing.assert_frame_equal(getattr(back, t), getattr(c, t), check_exact=True)
    assert back.header() == c.header()
    assert back.provenance.metadata["memory_patterns"] == c.provenance.metadata["memory_patterns"]


def test_bad_configs_raise_one_line_errors():
    with pytest.raises(NeurophantomError, match="fractions must sum to 1"):
        build_source("organoid", options={"pv_fraction": 0.5})
    with pytest.raises(NeurophantomError, match="patterns of 50 cells need more than"):
        build(Config(n_neurons=50, n_patterns=3, pattern_size=50))
    with pytest.raises(NeurophantomError, match="receptor_predictability"):
        build_source("organoid", options={"receptor_predictability": 1.5})
