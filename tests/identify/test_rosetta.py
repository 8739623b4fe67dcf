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
