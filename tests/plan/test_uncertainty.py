"""Oracles: scipy's log-normal and uniform quantiles, the analytic spread of a product of
log-normals, and convergence of Monte Carlo medians to the point estimate."""

import time
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from neurophantom import NeurophantomError
from neurophantom.plan import build_inputs, evaluate, make_scenario, monte_carlo, parse_dist, summarise, tornado
from neurophantom.plan.distributions import Z95, around
from neurophantom.plan.uncertainty import central_values, sample_inputs


@pytest.fixture(scope="module")
def default():
    inputs, layout, *_ = build_inputs(make_scenario(engine_benchmark="none"))
    return inputs, layout


def test_lognormal_by_90_interval_matches_scipy():
    d = parse_dist("lognormal:2,50")
    sigma = np.log(25) / (2 * Z95)
    ref = stats.lognorm(s=sigma, scale=np.sqrt(100))
    q = np.array([0.05, 0.25, 0.5, 0.95])
    np.testing.assert_allclose(d.quantile(q), ref.ppf(q), rtol=1e-12)
    x = d.sample(np.random.default_rng(0), 200_000)
    np.testing.assert_allclose(np.percentile(x, [5, 50, 95]), [2, 10, 50], rtol=0.02)


def test_uniform_and_fixed():
    u = parse_dist({"uniform": [1, 3]})
    x = u.sample(np.random.default_rng(1), 100_000)
    assert x.min() >= 1 and x.max() <= 3 and u.central == 2
    np.testing.assert_allclose(np.percentile(x, [5, 95]), stats.uniform(1, 2).ppf([0.05, 0.95]), rtol=0.01)
    f = parse_dist("7.5")
    assert f.kind == "fixed" and not f.has_spread and np.all(f.sample(np.random.default_rng(0), 4) == 7.5)


@pytest.mark.parametrize("bad", ["lognormal:5", "lognormal:-1,2", "lognormal:3,1", "uniform:a,b", "gauss:1,2",
                                 "", {"lognormal": [1]}, {"a": 1, "b": 2}, True, "nan"])
def test_malformed_distributions_raise(bad):
    with pytest.raises(NeurophantomError):
        parse_dist(bad, "x")


def _narrow(inputs, factor):
    return {k: replace(i, dist=around(i.central, factor)) if i.dist.has_spread else i for k, i in inputs.items()}


def test_medians_converge_to_point_for_narrow_inputs(default):
    inputs, layout = default
    point = {k: float(v[0]) for k, v in evaluate(central_values(inputs), layout).items()}
    errors = []
    for factor in (1.1, 1.02, 1.001):
        med = summarise(monte_carlo(_narrow(inputs, factor), layout, 20_000, 0))
        errors.append(max(abs(med[k]["median"] / point[k] - 1) for k in point))
    assert errors[-1] < 2e-3
    assert errors[0] > 3 * errors[2]


def test_product_of_lognormals_has_the_analytic_spread(default):
    # instrument_seconds = V e^3 / (rate * speedup): log is normal, sigma^2 adds up
    inputs, layout = default
    sig = {k: np.log(inputs[k].dist.hi / inputs[k].dist.lo) / (2 * Z95)
           for k in ("volume_cm3", "synchrotron.rate_um3_per_s", "synchrotron.speedup")}
    s = np.sqrt(sum(v**2 for v in sig.values()))
    out = summarise(monte_carlo(inputs, layout, 100_000, 1))["instrument_seconds"]
    assert out["p95"] / out["median"] == pytest.approx(np.exp(Z95 * s), rel=0.03)
    assert out["median"] / out["p05"] == pytest.approx(np.exp(Z95 * s), rel=0.03)


def test_1e5_samples_vectorised_well_under_a_second(default):
    inputs, layout = default
    monte_carlo(inputs, layout, 1000, 0)
    best = np.inf
    for _ in range(2):
        t = time.perf_counter()
        res = monte_carlo(inputs, layout, 100_000, 0)
        summarise(res)
        best = min(best, time.perf_counter() - t)
    assert all(v.shape == (100_000,) for v in res.values())
    assert best < 1.0, f"1e5 samples took {best:.2f} s"


def test_draws_are_seeded_and_per_input(default):
    inputs, _ = default
    a, b = sample_inputs(inputs, 500, 7), sample_inputs(inputs, 500, 7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = sample_inputs(inputs, 500, 8)
    assert not np.array_equal(a["volume_cm3"], c["volume_cm3"])
    fixed_rate = dict(inputs, **{"synchrotron.rate_um3_per_s": replace(inputs["synchrotron.rate_um3_per_s"],
                                                                       dist=parse_dist(600))})
    d = sample_inputs(fixed_rate, 500, 7)
    assert np.array_equal(a["volume_cm3"], d["volume_cm3"])  # other inputs keep their draws


def test_tornado_ranks_zero_spread_input_last(default):
    inputs, layout = default
    names = ["volume_cm3", "synchrotron.rate_um3_per_s", "synchrotron.unit_cost_usd", "synchrotron.speedup"]
    fixed = dict(inputs, **{"synchrotron.speedup": replace(inputs["synchrotron.speedup"], dist=parse_dist(10))})
    bars = tornado(fixed, layout, "capex_usd", names)
    assert bars[-1].input == "synchrotron.speedup" and bars[-1].swing == 0
    assert all(b.swing > 0 for b in bars[:-1])
    full = tornado(fixed, layout, "capex_usd")
    no_spread = [b.input for b in full if not fixed[b.input].dist.has_spread]
    assert "synchrotron.speedup" in no_spread
    assert [b.input for b in full[-len(no_spread):]] == no_spread  # all inputs without spread come last
    assert all(b.swing == 0 for b in full[-len(no_spread):])
    # with its spread back, the speed-up is the top driver (90% interval 10x wide)
    assert tornado(inputs, layout, "capex_usd", names)[0].input == "synchrotron.speedup"


def test_tornado_bars_are_analytic(default):
    inputs, layout = default
    bar = {b.input: b for b in tornado(inputs, layout, "instrument_seconds")}["synchrotron.rate_um3_per_s"]
    base = float(evaluate(central_values(inputs), layout)["instrument_seconds"][0])
    d = inputs["synchrotron.rate_um3_per_s"].dist
    assert bar.output_at_low == pytest.approx(base * d.central / d.lo, rel=1e-12)
    assert bar.output_at_high == pytest.approx(base * d.central / d.hi, rel=1e-12)
