"""The signal-propagation atlas: read offline, split, fitted without peeking, scored two-sidedly,
and shipped as the worm's parameters."""

from __future__ import annotations

import socket

import h5py
import numpy as np
import pytest

from neurophantom.identify import atlas as ia
from neurophantom.sources import celegans_atlas as ca
from neurophantom.validate import atlas as va


@pytest.fixture(scope="module")
def atlas():
    orig = socket.socket.connect

    def refuse(*a, **k):
        raise AssertionError("the atlas reader touched the network")

    socket.socket.connect = refuse
    try:
        sp = ca.signal_propagation("wt")
        ca.receptor_expression()
    finally:
        socket.socket.connect = orig
    return sp


def test_reader_matches_the_installed_file(atlas):
    """Independent read of funatlas.h5 with h5py: the issue's counts, the AWC renaming,
    and kernels equal to wormneuroatlas's own ExponentialConvolution_min."""
    from wormneuroatlas import ExponentialConvolution_min

    with h5py.File(ca.data_dir() / "funatlas.h5", "r") as f:
        d = f["wt"]["dFF"][:]
        q = f["wt"]["q"][:]
        raw_k = f["wt"]["kernels"][:]
        ids = [n.decode() for n in f["neuron_ids"][:]]
    off = ~np.eye(len(ids), dtype=bool)
    assert len(atlas.stimulated) == 173
    assert int((np.isfinite(atlas.dff) & off).sum()) == int((np.isfinite(d) & off).sum()) == 23901
    assert int(((atlas.q < 0.05) & off & np.isfinite(atlas.dff)).sum()) == 1150  # the count
    np.testing.assert_array_equal(atlas.dff, d)
    assert atlas.names[ids.index("AWCON")] == "AWCR" and "AWCL" in atlas.names
    i, j = np.argwhere((q < 0.05) & off)[3]
    t = np.linspace(0, 30, 61)
    terms = raw_k[i, j].reshape(-1, 4)
    ref = ExponentialConvolution_min([{"g": a, "factor": b, "power_t": c, "branch": e} for a, b, c, e in terms]).eval(t)
    np.testing.assert_allclose(atlas.kernel(i, j, t), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    for (a, b), v in list(atlas.trials.items())[:500]:
        assert v.mean() == pytest.approx(atlas.dff[a, b])


def test_default_split_and_folds_are_fixed_partitions(atlas):
    stim = atlas.stimulated
    hold = ia.default_holdout(stim)
    assert len(hold) == 35 and hold == ia.default_holdout(list(reversed(stim)))  # fixed: order of input irrelevant
    folds = ia.kfold_holdouts(stim, 5)
    assert sorted(sum(map(list, folds), [])) == sorted(stim) and all(34 <= len(f) <= 35 for f in folds)


def test_the_fit_reads_only_training_columns(atlas):
    """The only data the objective sees (``_targets``) are responses to training neurons."""
    from neurophantom.sources.celegans import Config, build

    cfg = ia.AtlasFitConfig(holdout=("AVAL", "RIML"), stimulated=("AVAL", "RIML", "AVER", "ASHL", "RIAL"))
    train, hold = ia._split(atlas, cfg)
    assert hold == ("AVAL", "RIML") and set(train) == {"AVER", "ASHL", "RIAL"}
    circuit = build(Config(parameters="guessed"))
    tg = ia._targets(atlas, circuit, train)
    names = np.asarray(circuit.neurons["name"])
    assert set(names[tg.stim]) == set(train)
    j = atlas.index(train)
    assert len(tg.dff) == int(sum(np.isfinite(atlas.dff[:, jj]).sum() for jj in j)) - 0  # every measured responder
    with pytest.raises(Exception, match="not among the stimulated"):
        ia._split(atlas, ia.AtlasFitConfig(holdout=("ADAL",), stimulated=("AVAL", "AVER")))


def test_scores_are_two_sided(atlas):
    """The measurement scores itself perfectly on rank and sign; its negation scores -1 and
    the complement of the sign; a random predictor scores near chance."""
    stim = atlas.stimulated
    cols = atlas.index(stim)
    truth = atlas.dff[:, cols]
    hold = ia.default_holdout(stim)
    rel = 0.14
    perfect = va.score(atlas, stim, hold, truth, bootstrap=20, reliability=rel)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["sign_agreement"] == 1.0
    assert perfect["reproducibility_fraction"] == pytest.approx(1.0 / rel)
    neg = va.score(atlas, stim, hold, -truth, bootstrap=20, reliability=rel)
    assert neg["spearman"] == pytest.approx(-1.0) and neg["sign_agreement"] == 0.0
    rnd = va.score(atlas, stim, hold, np.random.default_rng(0).normal(size=truth.shape), bootstrap=200, reliability=rel)
    assert abs(rnd["spearman"]) < 0.05 and abs(rnd["auroc"] - 0.5) < 0.06
    for key in ("spearman", "auroc", "sign_agreement"):
        lo, hi = rnd[f"{key}_ci"]
        assert lo <= rnd[key] <= hi and hi - lo > 0.005  # an interval around the estimate, not a point
    assert perfect["n_pairs"] == rnd["n_pairs"] > 4000 and perfect["n_stimulated"] == 35
