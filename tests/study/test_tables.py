"""Summary intervals: the bootstrap interval covers the true mean at about its level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurophantom.study.tables import bootstrap_ci, results_table, summarise


def test_bootstrap_interval_covers_the_true_mean():
    # 400 studies of 10 seeds from a skewed distribution with a known mean (exponential,
    # mean 2): a 95% percentile-bootstrap interval of the mean covers it about 90-95% of
    # the time at n = 10 (it is known to run a little narrow for small n).
    rng = np.random.default_rng(7)
    hits = [lo <= 2.0 <= hi for lo, hi in (bootstrap_ci(rng.exponential(2.0, 10), seed=i) for i in range(400))]
    coverage = float(np.mean(hits))
    assert 0.85 <= coverage <= 0.99, coverage
    lo, hi = bootstrap_ci(np.array([1.0]), seed=0)
    assert np.isnan(lo) and np.isnan(hi), "one seed has no interval"
    assert bootstrap_ci(np.array([3.0, 3.0, np.nan]), seed=0) == (3.0, 3.0)


def test_table_and_summary_follow_the_point_order_not_completion():
    rows = [{"id": f"p{i}", "seed": s, "axes": {"a": a, "b": [a, 1]}, "metrics": {"m": float(a + s), "k": 1}}
            for i, (a, s) in enumerate([(1, 0), (1, 1), (2, 0), (2, 1)])]
    df = results_table(rows, ["a", "b"])
    assert list(df.columns) == ["point", "a", "b", "seed", "m", "k"] and df["b"].tolist()[0] == "[1, 1]"
    assert results_table(rows[::-1], ["a", "b"]).iloc[::-1].reset_index(drop=True).equals(df)
    s = summarise(df, ["a", "b"], ["m", "k"])
    assert s["n_seeds"].tolist() == [2, 2] and s["m_mean"].tolist() == [1.5, 2.5]
    assert (s["m_ci_low"] <= s["m_mean"]).all() and (s["m_mean"] <= s["m_ci_high"]).all()
    assert isinstance(s, pd.DataFrame) and s["k_ci_low"].tolist() == [1.0, 1.0]


def test_a_metric_named_like_a_varied_key_gets_its_own_column():
    rows = [{"id": f"p{i}", "seed": 0, "axes": {"n": n}, "metrics": {"n": n + 1, "m": 1.0}} for i, n in enumerate((1, 2))]
    df = results_table(rows, ["n"])
    assert list(df.columns) == ["point", "n", "seed", "n_metric", "m"] and df["n_metric"].tolist() == [2, 3]
