"""The Rosetta map: receptor densities from morphology, learned where barcodes were read.

Oracle: the organoid's own generative rule. With ``receptor_predictability`` = 1 a
synapse's receptor densities follow from its cell-type pair and size, so the map applied
to a receptor-blind copy of a *new* specimen must recover them; with 0 they are scrambled
with respect to size and the map can recover only the type-pair means.
"""

import numpy as np
import pandas as pd
import pytest

from neurophantom.identify.rosetta import apply_rosetta, learn_rosetta
from neurophantom.sources import build_source

SOMA = {"pyramidal": 1.4, "pv": 0.8, "sst": 1.0}


def _specimen(seed, predictability):
    c = build_source("organoid", seed=seed, options={"n_neurons": 60, "n_patterns": 0, "receptor_predictability": predictability})
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame({"soma_radius_um": [SOMA[t] * rng.uniform(0.95, 1.05) for t in c.neurons["cell_type"]],
                          "cable_length_um": rng.uniform(80, 120, c.n_neurons)}, index=c.neuron_ids)
    return c, feats


def _blind(c):
    """Shapes and synapse sizes only; the type lists are the library's placeholders."""
    syn, nrn = c.synapses.copy(), c.neurons.copy()
    syn[list(c.receptor_types)] = np.nan
    syn["receptors_observed"] = False
    syn["glucl"] = np.nan
    nrn[list(c.channel_types)] = np.nan
    nrn["channels_observed"] = False
    return c.replace(synapses=syn, neurons=nrn, receptor_types=c.receptor_types + ("glucl",))


@pytest.mark.parametrize("predictability", [1.0, 0.0])
def test_receptors_recovered_from_size_only_when_size_predicts_them(predictability):
    train, tf = _specimen(1, predictability)
    test, sf = _specimen(2, predictability)
    rmap = learn_rosetta([train], [tf], fraction=0.5, seed=0)
    filled = apply_rosetta(rmap, _blind(test), sf)
    assert filled.receptor_types == rmap.receptor_types  # the placeholder types were replaced
    assert not filled.synapses["receptors_observed"].any()  # estimates stay marked as such
    truth = test.synapses.set_index(["synapse_id", "post"])
    est = filled.synapses.set_index(["synapse_id", "post"]).loc[truth.index]
    # Which pairs carry AMPA follows from cell types in both worlds; the amount per
    # synapse is what size predicts or not: compare where the truth has AMPA.
    has = (truth["ampa"] > 0).to_numpy()
    assert (est["ampa"].to_numpy()[~has] == 0).mean() > 0.95
    r = np.corrcoef(np.log(truth["ampa"].to_numpy()[has]), np.log(est["ampa"].to_numpy()[has]))[0, 1]
    if predictability == 1.0:
        assert r > 0.9, r
    else:
        assert r < 0.3, r  # measured about 0 (1.0: about 0.96)


def test_types_from_molecules_and_shape_survive_a_modality_bias():
    """Types are found from what neurons express (channels, released receptors, some
    outputs unsampled), and a new specimen's neurons get them from shape alone even when
    its modality measures every soma 15% smaller (features standardised per
    reconstruction). Oracle: the organoid's true cell types; a type must be pure (all its
    neurons of one true type), and the shape call right for >= 90% of the new neurons."""
    from neurophantom.identify.rosetta import assign_types, molecular_profiles, sample_training

    train, tf = _specimen(1, 1.0)
    test, sf = _specimen(2, 1.0)
    rmap = learn_rosetta([train], [tf], fraction=0.3, seed=0)
    prof = molecular_profiles(train, sample_training(train, 0.3, 0))
    assert prof.filter(like="releases_").isna().any(axis=1).any()  # some outputs unsampled
    truth_train = train.neurons["cell_type"].to_numpy()
    lab = assign_types(rmap, tf.loc[train.neuron_ids])
    for t in np.unique(lab):
        assert len(set(truth_train[lab == t])) == 1, (t, truth_train[lab == t])
    assert rmap.shape_accuracy_loo > 0.9
    biased = sf.assign(soma_radius_um=sf["soma_radius_um"] * 0.85)
    got = assign_types(rmap, biased.loc[test.neuron_ids])
    # Each predicted type stands for one true type (the majority of its training neurons).
    name = {t: pd.Series(truth_train[lab == t]).mode()[0] for t in np.unique(lab)}
    hit = np.mean([name.get(g) == t for g, t in zip(got, test.neurons["cell_type"])])
    assert hit >= 0.9, hit
