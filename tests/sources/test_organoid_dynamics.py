"""The organoid under the engine: sane asynchronous activity with event and kinetic
transmission, and recall: cueing half of each stored pattern recruits the other half."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from neurophantom.biophysics.model import build_model
from neurophantom.engine import simulate
from neurophantom.sources.organoid import Config, background_stimulus, build
from neurophantom.types.stimulus import Step

DURATION_MS, CUE_MS, CUE_PA = 800.0, 400.0, 500.0


def _rate(rec, ids, t0, t1) -> float:
    hit = np.isin(rec.spike_neuron_ids, ids) & (rec.spike_times_ms >= t0) & (rec.spike_times_ms < t1)
    return hit.sum() / len(ids) / ((t1 - t0) * 1e-3)


def _cued_run(memory_strength: float):
    c = build(Config(seed=0, memory_strength=memory_strength))
    patterns = c.provenance.metadata["memory_patterns"]
    cue = [i for p in patterns for i in p[: len(p) // 2]]
    stim = background_stimulus(c, DURATION_MS, extra=(Step(targets=tuple(cue), amplitude_pA=CUE_PA, start_ms=CUE_MS),))
    rec = simulate(build_model(c), stim, dt_ms=0.1, key=jax.random.key(7))
    return c, patterns, rec


@pytest.fixture(scope="module")
def runs():
    return {s: _cued_run(s) for s in (Config().memory_strength, 0.0)}


def _check_sane(c, rec, t0, t1):
    for ctype, lo, hi in (("pyramidal", 2.0, 40.0), ("pv", 5.0, 100.0), ("sst", 2.0, 40.0)):
        ids = c.neurons["id"][c.neurons["cell_type"] == ctype].to_numpy()
        assert lo < _rate(rec, ids, t0, t1) < hi, ctype
    rates = np.array([_rate(rec, [i], t0, t1) for i in c.neurons["id"]])
    assert rates.max() < 250.0 and (rates == 0).mean() < 0.2
    # Asynchronous, no runaway: the population rate in 25 ms bins stays within a factor 3 of its mean.
    counts, _ = np.histogram(rec.spike_times_ms, bins=np.arange(t0, t1 + 1e-9, 25.0))
    assert counts.max() < 3 * counts.mean() and counts.min() > counts.mean() / 3


def test_event_transmission_gives_sane_activity(runs):
    c, _, rec = runs[Config().memory_strength]
    assert Config().memory_strength > 0
    _check_sane(c, rec, 100.0, CUE_MS)


def test_kinetic_transmission_gives_sane_activity():
    c = build(Config(seed=0))
    rec = simulate(build_model(c, transmission="kinetic"), background_stimulus(c, 400.0), dt_ms=0.1, key=jax.random.key(3))
    _check_sane(c, rec, 100.0, 400.0)


def test_cueing_part_of_a_pattern_recalls_the_rest(runs):
    gains = {}
    for strength, (c, patterns, rec) in runs.items():
        rest = [i for p in patterns for i in p[len(p) // 2:]]
        pyr = c.neurons["id"][c.neurons["cell_type"] == "pyramidal"].to_numpy()
        others = np.setdiff1d(pyr, [i for p in patterns for i in p])
        change = lambda ids: _rate(rec, ids, CUE_MS + 50, DURATION_MS) - _rate(rec, ids, 100.0, CUE_MS)  # noqa: E731
        cue = [i for p in patterns for i in p[: len(p) // 2]]
        assert change(cue) > 20.0  # the cue works
        gains[strength] = change(rest) - change(others)
    strong, none = gains[Config().memory_strength], gains[0.0]
    assert strong > 3.0, gains  # the uncued half of the patterns is recruited ...
    assert strong > 3 * abs(none), gains  # ... because of the stored memory, not the wiring
