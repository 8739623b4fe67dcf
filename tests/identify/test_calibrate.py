"""Membrane calibration from molecule counts (identify/calibrate.py).

Oracle: hand arithmetic. The median neuron takes the typical area and the typical channel
totals; every other neuron scales with its own marker and channel counts; synapses are
untouched; bad input is a clear error.
"""

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.identify.calibrate import calibrate_membrane
from neurophantom.sources import build_source

TYPICAL = {"na": 50.0, "kdr": 40.0, "leak": 0.6, "cal": 0.03, "kca": 0.5}


@pytest.fixture(scope="module")
def scanned():
    """An organoid whose scan saw 1% of each cell's membrane area (a cut volume) and 5%
    of its channel molecules."""
    c = build_source("organoid", seed=1, options={"n_neurons": 21, "n_patterns": 0})
    nrn = c.neurons.copy()
    seen = nrn["area_um2"] * 0.01
    for ch in c.channel_types:
        nrn[ch] = nrn[ch] * nrn["area_um2"] * 0.05 / seen
    nrn["area_um2"] = seen
    return c, c.replace(neurons=nrn)


def test_median_neuron_gets_typical_values_and_others_scale_with_counts(scanned):
    truth, seen = scanned
    out = calibrate_membrane(seen, 8000.0, TYPICAL)
    true_leak = (truth.neurons["leak"] * truth.neurons["area_um2"]).to_numpy()
    expect_area = 8000.0 * true_leak / np.median(true_leak)
    np.testing.assert_allclose(out.neurons["area_um2"], np.maximum(expect_area, 800.0), rtol=1e-12)
    for ch in ("na", "kdr", "leak"):
        tot_true = (truth.neurons[ch] * truth.neurons["area_um2"]).to_numpy()
        tot = (out.neurons[ch] * out.neurons["area_um2"]).to_numpy()
        np.testing.assert_allclose(tot, TYPICAL[ch] * 8000.0 * tot_true / np.median(tot_true), rtol=1e-12)
    assert out.synapses.equals(seen.synapses)


def test_capacitance_tracks_true_area_in_proportion_to_marker_density(scanned):
    """The calibrated area is the true area times the neuron's marker density over a
    shared constant, however little of the membrane the scan held."""
    truth, seen = scanned
    out = calibrate_membrane(seen, 8000.0, TYPICAL, min_area_fraction=0.0)
    ratio = out.neurons["area_um2"].to_numpy() / truth.neurons["area_um2"].to_numpy()
    k = ratio / truth.neurons["leak"].to_numpy()
    assert np.ptp(k) / k.mean() < 1e-9


def test_bad_input_is_a_clear_error(scanned):
    _, seen = scanned
    with pytest.raises(NeurophantomError, match="marker channel 'hcn'"):
        calibrate_membrane(seen, 8000.0, TYPICAL, marker="hcn")
    with pytest.raises(NeurophantomError, match="no typical density for channel 'kca'"):
        calibrate_membrane(seen, 8000.0, {k: v for k, v in TYPICAL.items() if k != "kca"})
    nrn = seen.neurons.copy()
    nrn["leak"] = 0.0
    with pytest.raises(NeurophantomError, match="holds no 'leak' molecules"):
        calibrate_membrane(seen.replace(neurons=nrn), 8000.0, TYPICAL)
