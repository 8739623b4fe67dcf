"""The H.M. test in miniature, and the STDP fit against a known window."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom._errors import NeurophantomError
from neurophantom.engine.hidden import STDP, stdp_window
from neurophantom.identify.plasticity import fit_stdp
from neurophantom.validate.hm import HMTrial, run_hm


def test_fit_recovers_a_known_window():
    rule = STDP(a_plus=0.02, a_minus=0.011, tau_plus_ms=15.0, tau_minus_ms=30.0)
    lags = np.array([-40.0, -20.0, -10.0, -5.0, 5.0, 10.0, 20.0, 40.0])
    got = fit_stdp(lags, stdp_window(lags, rule))
    for k in ("a_plus", "a_minus", "tau_plus_ms", "tau_minus_ms"):
        assert getattr(got, k) == pytest.approx(getattr(rule, k), rel=1e-9)


def test_fit_refuses_a_window_that_does_not_decay():
    with pytest.raises(NeurophantomError):
        fit_stdp([-10.0, -5.0, 5.0, 10.0], [-0.01, -0.02, 0.01, 0.02])


@pytest.fixture(scope="module")
def hm():
    # 35 pairings (the study point uses 60): truth gain 4.4x (needs 3x), static old ratio 1.10, new 0.0.
    return run_hm(HMTrial(recall_trials=2, n_pairings=35), seed=0, plastic=False)


def test_truth_learns_the_new_association(hm):
    assert hm["before"]["new_hz"] > 0
    assert hm["after"]["truth"]["new_hz"] >= 3.0 * hm["before"]["new_hz"]


def test_static_emulation_recalls_the_old_pattern_but_learns_nothing(hm):
    assert hm["after"]["truth"]["old_hz"] > 5.0  # the truth still recalls: the ratio means something
    assert hm["static"]["old_recall_ratio"] >= 0.7
    assert hm["static"]["new_learning_ratio"] < 0.3
