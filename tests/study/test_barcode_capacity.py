"""Barcode capacity against exact expectations, monotone trends and the combinatorial bound.

Reference: with a bright, background-free readout a serial molecule is decoded exactly
when the rounds in which it has been lost can be corrected. The instrument loses a
molecule from round ``g`` on with ``g ~ Geometric(p)`` (``g >= 1``), so it is dark in
``R - g`` rounds; bounded-distance decoding at distance ``d`` corrects ``s`` erasures when
``s < d``. The expected per-molecule error is therefore ``P(g <= R - d) = 1 - (1 - p)^(R - d)``
(``d = 1``: any lost round is fatal).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from neurophantom.instruments.codebook import combinatorial_bound
from neurophantom.validate.barcode_capacity import BarcodeTrial, barcode_capacity, design_code

BRIGHT = dict(punctum_photons=5000.0, background_photons=0.0, read_noise_e=0.0, signal_loss=0.0, washout=0.0,
              labelling_efficiency=1.0)


@pytest.mark.parametrize("d,p", [(1, 0.05), (3, 0.15)])
def test_serial_error_matches_the_erasure_probability(d, p):
    t = BarcodeTrial(scheme="serial", colors=4, rounds=6, min_distance=d, degradation=p, library_types=50,
                     molecules_per_type=80, **BRIGHT)
    r = barcode_capacity(t, seed=3)
    m = t.library_types * t.molecules_per_type
    expected = 1.0 - (1.0 - p) ** (t.rounds - d)
    se = math.sqrt(expected * (1 - expected) / m)
    assert abs(r["error_rate"] - expected) < 4 * se, (r["error_rate"], expected, se)
    assert r["misidentified_rate"] < 0.002, "bright erasures are flagged, not miscalled"


def _error(seeds=(0, 1), **kw):
    base = dict(scheme="serial", colors=4, rounds=5, min_distance=1, library_types=64, molecules_per_type=40)
    return float(np.mean([barcode_capacity(BarcodeTrial(**{**base, **kw}), seed=s)["error_rate"] for s in seeds]))


def _monotone(values, rising: bool, m: int) -> None:
    """Each step moves the right way, or stays within two binomial standard errors."""
    v = np.asarray(values)
    step = np.diff(v) if rising else -np.diff(v)
    se = np.sqrt(np.maximum(v[:-1] * (1 - v[:-1]), 1e-4) / m + np.maximum(v[1:] * (1 - v[1:]), 1e-4) / m)
    assert np.all(step > -2 * se), values
    assert (v[-1] - v[0]) * (1 if rising else -1) > 0.2, values  # and the trend is large


def test_serial_error_rises_with_round_loss_and_falls_with_photons():
    m = 2 * 64 * 40 * 0.7  # labelled molecules per point (two seeds)
    loss = [_error(degradation=p) for p in (0.0, 0.02, 0.05, 0.1, 0.2)]
    _monotone(loss, rising=True, m=m)
    photons = [_error(punctum_photons=n, degradation=0.0) for n in (10, 20, 40, 80, 300)]
    _monotone(photons, rising=False, m=m)


def test_capacity_never_exceeds_the_combinatorial_bound():
    seen = 0
    for colors, rounds, d in itertools.product((2, 3), (2, 3, 4), (1, 2)):
        if d > rounds:
            continue
        t = BarcodeTrial(scheme="serial", colors=colors, rounds=rounds, min_distance=d, library_types=64,
                         molecules_per_type=15, punctum_photons=1000.0)
        r = barcode_capacity(t, seed=0)
        assert r["combinatorial_bound"] == colors**rounds == combinatorial_bound("serial", rounds=rounds, colors=colors)
        assert r["types_distinguishable"] <= r["types_encoded"] <= r["codewords"] <= r["distance_bound"] <= r["combinatorial_bound"]
        seen += r["codewords"] < t.library_types  # the library outgrows the code: the limit is reached
    for f, k, d in ((5, 2, 2), (6, 3, 4), (8, 3, 2)):
        t = BarcodeTrial(scheme="parallel", fluorophores=f, per_tag=k, min_distance=d, library_types=64, molecules_per_type=15)
        r = barcode_capacity(t, seed=0)
        assert r["combinatorial_bound"] == math.comb(f, k)
        assert r["types_distinguishable"] <= r["types_encoded"] <= r["codewords"] <= r["combinatorial_bound"]
        seen += 1
    assert seen >= 10
    # A code with room for the whole library encodes all of it (real types first).
    book, _, size = design_code(BarcodeTrial(colors=4, rounds=4, library_types=64))
    assert size == 256 and len(book.proteins) == 64 and book.proteins[:2] == ("na", "kdr")
