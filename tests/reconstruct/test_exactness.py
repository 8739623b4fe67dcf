"""Oracle: the ground truth itself. A noise-free, undamaged ExM scan of a small organoid
gives back its circuit: neurons, synapses with their partners, and molecules by type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurophantom import Circuit
from neurophantom.validate.scores import map_neurons


def test_segmentation_matches_the_phantom(clean_score, clean_recon, organoid20):
    s = clean_score.segmentation
    assert s["voi_split"] + s["voi_merge"] < 0.05
    assert s["adapted_rand_error"] < 0.01
    assert s["split_neurons"] == 0 and s["merged_segments"] == 0
    # Every truth neuron gets its own recovered neuron (the one-to-one map used later to
    # compare activity neuron by neuron).
    assert sorted(clean_score.neuron_map.values()) == sorted(organoid20.neurons["neuron_id"].tolist())
    assert map_neurons(clean_recon, organoid20) == clean_score.neuron_map
    assert s["run_fraction"] > 0.99


def test_connectome_and_synapses_are_exact(clean_score):
    c, syn = clean_score.connectome, clean_score.synapses
    assert c["edge_precision"] == 1.0 and c["edge_recall"] == 1.0
    assert syn["precision"] == 1.0 and syn["recall"] == 1.0
    assert syn["pre_correct"] == 1.0 and syn["post_correct"] == 1.0
    assert c["weight_correlation"] > 0.95
    assert syn["polyadic_sites_truth"] > 0 and syn["partner_f1"] > 0.95


def test_molecule_types_and_densities(clean_score, clean_recon, organoid20):
    m = clean_score.molecules
    assert m["observed"] and m["type_accuracy"] == 1.0
    conf = np.asarray(m["confusion"]["matrix"])
    # Every receptor and channel molecule of the matched sites is on the diagonal.
    assert conf[:-1, :-1].sum() == np.trace(conf) and conf[-1].sum() == 0 and conf[:, -1].sum() == 0
    assert m["receptor_density_relative_error"]["median"] < 1e-3
    # Rounded counts equal the truth's molecule counts synapse by synapse.
    unc = clean_recon.uncertainty
    rec = unc[unc["kind"] == "receptor"]["count"].sum()
    mol = organoid20.molecules
    assert round(rec) == int((mol["kind"].astype(str) == "receptor").sum())


def test_recovered_circuit_is_a_circuit_folder(clean_recon, tmp_path):
    out = clean_recon.save(tmp_path / "recon")
    back = Circuit.load(out)
    assert back.n_neurons == clean_recon.circuit.n_neurons
    assert list(back.neurons["name"]) == [f"seg{i:06d}" for i in back.neurons["id"]]
    assert set(back.neurons["release"]) == {"spike"} and set(back.neurons["cell_type"]) == {"unknown"}
    files = back.provenance.metadata["reconstruction"]["files"]
    for name in ("segmentation.ome.zarr", "morphology.parquet", "uncertainty.parquet"):
        assert name in files.values() and (out / name).exists()
    morph = pd.read_parquet(out / "morphology.parquet")
    assert set(morph["id"]) == set(back.neurons["id"])
    assert (morph["cable_length_um"] > 0).all() and (morph["soma_radius_um"] > 0).all()
    # The soma is the deepest point: its radius is the phantom's soma radius (0.49 um drawn,
    # 1.4 um biological at geometry_scale 0.35) within a voxel.
    assert np.median(morph["soma_radius_um"]) == pytest.approx(1.4, abs=0.04 / 0.35)


def test_cell_types_by_clustering_morphology(clean_recon):
    from neurophantom.reconstruct.morphology import cluster_cell_types

    m = clean_recon.morphology
    a, b = cluster_cell_types(m, 3, seed=0), cluster_cell_types(m, 3, seed=0)
    assert list(a) == list(b)  # seeded
    assert set(a) <= {"cluster0", "cluster1", "cluster2"} and len(set(a)) >= 2
    counts = [list(a).count(f"cluster{k}") for k in range(3)]
    assert counts == sorted(counts, reverse=True)  # named by size
    assert set(cluster_cell_types(m, 0, seed=0)) == {"unknown"}
