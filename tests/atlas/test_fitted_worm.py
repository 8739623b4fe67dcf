"""The shipped fitted worm is the model the atlas fit evaluated: applying the packaged
factors to the guessed worm's densities gives, array for array, the fit's own map of its
parameters; and the header says what it was fitted on."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom.biophysics.model import build_model
from neurophantom.identify.atlas import param_map
from neurophantom.identify.atlas_model import model_of
from neurophantom.sources.celegans import Config, build
from neurophantom.sources.celegans_cells import CLASSES, PAIR_CLASSES
from neurophantom.sources.celegans_fitted import load


@pytest.fixture(scope="module")
def fitted():
    return load()


def test_header_names_data_and_split(fitted):
    h = fitted["header"]
    assert h["data"]["package"] == "wormneuroatlas" and h["data"]["file"] == "funatlas.h5" and h["strain"] == "wt"
    assert len(h["holdout"]) == 35 and not set(h["holdout"]) & set(h["train"])
    assert len(h["train"]) + len(h["holdout"]) == 173
    assert set(h["scores"]["heldout"]) >= {"spearman", "auroc", "average_precision", "sign_agreement", "reproducibility_fraction"}


def test_fitted_circuit_is_the_fitted_model(fitted):
    guessed = build(Config(parameters="guessed"))
    worm = build(Config())
    assert worm.provenance.metadata["fitted"]["holdout"] == fitted["header"]["holdout"]
    pm = param_map(guessed)
    p = fitted["parameters"]
    channels = fitted["header"]["channel_order"]
    theta = {
        "receptor": jnp.log(jnp.array([p["receptor_scale"][r] for r in guessed.receptor_types])),
        "gap": jnp.log(jnp.array([p["gap_scale"][c] for c in PAIR_CLASSES])),
        "channel": jnp.log(jnp.array([[p["channel_scale"][c][ch] for ch in channels] for c in CLASSES])),
        "neuron_cal": jnp.log(jnp.array([p["neuron_channel_scale"]["cal"][n] for n in guessed.neurons["name"]])),
        "vhalf": jnp.asarray(p["biophysics_overrides"]["release.graded.vhalf_mV"] + 35.0),
        "depol": jnp.asarray(0.0), "gain": jnp.asarray(0.0),
    }
    expect = model_of(theta, pm).params
    got = build_model(worm).params
    for k in ("w_kinetic_nS", "g_gap_nS", "g_nS", "release_vhalf_mV", "C_pF", "E_syn_mV"):
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(expect[k]), rtol=1e-12, atol=1e-15, err_msg=k)
    assert not np.allclose(np.asarray(got["w_kinetic_nS"]), np.asarray(pm.base.params["w_kinetic_nS"]))  # it did change
