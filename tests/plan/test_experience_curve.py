"""Oracle: Wright's law summed term by term (numpy), and its closed forms."""

import numpy as np
import pytest

from neurophantom.plan import wright_sum
from neurophantom.plan.model import last_unit_fraction


@pytest.mark.parametrize("p", [0.05, 0.5, 0.7, 0.8, 0.9, 0.999, 1.0])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 31, 32, 33, 40, 1000, 54_321])
def test_sum_matches_direct_summation(p, n):
    direct = float(np.sum(np.arange(1, n + 1, dtype=float) ** np.log2(p)))
    assert float(wright_sum(n, p)) == pytest.approx(direct, rel=1e-9, abs=0.0)


def test_vectorised_over_mixed_counts_and_ratios():
    rng = np.random.default_rng(3)
    n = rng.integers(0, 5000, 400).astype(float)
    p = rng.uniform(0.6, 1.0, 400)
    got = wright_sum(n, p)
    want = [np.sum(np.arange(1, k + 1) ** np.log2(q)) for k, q in zip(n, p)]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_no_learning_costs_n_units_and_doubling_rule():
    assert float(wright_sum(123456, 1.0)) == 123456.0
    # each doubling of cumulative units multiplies the unit cost by the progress ratio
    for n in (1, 5, 1000, 600_000):
        assert float(last_unit_fraction(2 * n, 0.8)) == pytest.approx(0.8 * float(last_unit_fraction(n, 0.8)))
    # large-n asymptote: sum ~ n^(1+b) / (1+b)
    b = np.log2(0.8)
    n = 1e7
    assert float(wright_sum(n, 0.8)) == pytest.approx(n ** (1 + b) / (1 + b), rel=2e-3)
