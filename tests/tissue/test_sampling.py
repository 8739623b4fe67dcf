"""Contracts of the per-type channel sampling (water-filling of the molecule budget)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neurophantom.tissue.assemble import channel_sampling_fractions

counts = st.lists(st.floats(0.0, 1e7, allow_nan=False), min_size=1, max_size=7)


@settings(max_examples=200, deadline=None)
@given(expected=counts, budget=st.integers(0, 10**6))
def test_water_filling_fills_budget_and_favours_rare_types(expected, budget):
    e = np.asarray(expected)
    f = channel_sampling_fractions(e, budget)
    kept = f * e
    assert np.all((f > 0) | (e > 0)) and np.all(f <= 1.0 + 1e-12)
    if e.sum() <= budget:
        assert np.all(f == 1.0)
    else:
        # The budget is used exactly, no type keeps more than the level, thinned types
        # all keep the same number (the level), whole types are those below it.
        assert abs(kept.sum() - budget) <= 1e-6 * max(1.0, budget)
        thinned = f < 1.0
        level = kept[thinned].max()
        np.testing.assert_allclose(kept[thinned], level, rtol=1e-9)
        assert np.all(e[~thinned] <= level * (1 + 1e-9))
    # A rarer type is never thinned more than a more abundant one.
    order = np.argsort(e)
    assert np.all(np.diff(f[order]) <= 1e-12)


def test_rare_type_keeps_its_molecules_where_one_fraction_would_drop_it():
    # Na-like, Kdr-like and a Ca-like type 10^4 times rarer, 20 000 molecules to spend.
    e = np.array([2.2e7, 1.4e7, 2.2e3])
    f = channel_sampling_fractions(e, 20_000)
    np.testing.assert_allclose(f * e, [8900.0, 8900.0, 2200.0])
    assert 2.2e3 * 20_000 / e.sum() < 2  # a single fraction would leave ~1 molecule
