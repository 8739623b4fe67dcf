"""Pair-based STDP in the engine against the analytic exponential window (Bi & Poo 1998;
Song, Miller & Abbott 2000): realised spike times in, weight change out."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.engine.hidden import STDP, simulate_hidden, stdp_window
from neurophantom.sources.hidden import ModulatorConfig, modulator_pools
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Pulses, Step, Stimulus

RULE = STDP(a_plus=0.01, a_minus=0.0053, tau_plus_ms=16.8, tau_minus_ms=33.7, receptors=("ampa",))
DT_MS = 0.05


@pytest.fixture(scope="module")
def pair_model():
    # A weak synapse 0 -> 1 (its EPSP far below threshold): the pulses alone set both spike times.
    return build_model(hh_cells(2, edges=[(0, 1, "ampa", 5.0)]))


def _pairing(lag_ms: float, n_pairs: int = 3, period_ms: float = 150.0) -> Stimulus:
    t0 = 60.0
    pre = Pulses(targets=(0,), amplitude=4000.0, width_ms=1.0, period_ms=period_ms, start_ms=t0,
                 stop_ms=t0 + n_pairs * period_ms, kind="current")
    post = Pulses(targets=(1,), amplitude=4000.0, width_ms=1.0, period_ms=period_ms, start_ms=t0 + lag_ms,
                  stop_ms=t0 + lag_ms + n_pairs * period_ms, kind="current")
    hold = Step(targets=(0, 1), amplitude_pA=-100.0)  # keeps both cells silent between pulses
    return Stimulus(duration_ms=t0 + (n_pairs + 1) * period_ms, components=(hold, pre, post))


@pytest.mark.parametrize("lag_ms", [-25.0, -8.0, -2.0, 3.0, 10.0, 30.0])
def test_stdp_change_matches_the_pair_window(pair_model, lag_ms):
    run = simulate_hidden(pair_model, _pairing(lag_ms), dt_ms=DT_MS, stdp=RULE)
    rec = run.recording
    t_pre = rec.spike_step_times_ms[rec.spike_neuron_ids == 0]
    t_post = rec.spike_step_times_ms[rec.spike_neuron_ids == 1]
    assert len(t_pre) == 3 and len(t_post) == 3  # one spike per pulse: the protocol is what it says
    # All-to-all pairing: the sum of the window over every pre/post pair of realised times.
    expected = stdp_window(t_post[:, None] - t_pre[None, :], RULE).sum()
    assert abs(expected) > 1e-3  # the protocol does change the synapse
    assert run.count_factor[0] - 1.0 == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # Sign of the window: pre before post potentiates, post before pre depresses.
    assert np.sign(run.count_factor[0] - 1.0) == np.sign(lag_ms)


def test_learned_weight_is_what_the_model_carries(pair_model):
    run = simulate_hidden(pair_model, _pairing(5.0), dt_ms=DT_MS, stdp=RULE)
    w0 = np.asarray(pair_model.params["w_event_nS"])
    assert np.allclose(np.asarray(run.model.params["w_event_nS"]), w0 * run.count_factor, rtol=1e-12)
    assert run.count_factor[0] > 1.0


def test_without_hidden_processes_the_run_is_the_plain_engine(pair_model):
    """No rule and no pools, or a modulator at strength 0: bit-identical to simulate()."""
    stim = _pairing(5.0)
    plain = simulate(pair_model, stim, dt_ms=DT_MS)
    circuit = hh_cells(2, edges=[(0, 1, "ampa", 5.0)])
    off = modulator_pools(circuit, ModulatorConfig(strength_nS=0.0, source_types=("n",)), seed=3)
    assert np.all(off.release > 0)  # the modulator is released; it only has no receptors to act on
    for hidden in (simulate_hidden(pair_model, stim, dt_ms=DT_MS), simulate_hidden(pair_model, stim, dt_ms=DT_MS, pools=off)):
        assert np.array_equal(plain.traces["v"], hidden.recording.traces["v"])
        assert np.array_equal(plain.spike_times_ms, hidden.recording.spike_times_ms)
        assert np.all(hidden.count_factor == 1.0)


def test_bad_rule_or_mask_is_refused(pair_model):
    from neurophantom._errors import NeurophantomError

    with pytest.raises(NeurophantomError, match="lacks"):
        simulate_hidden(pair_model, _pairing(5.0), dt_ms=DT_MS, stdp=STDP(receptors=("nmda",)))
    with pytest.raises(NeurophantomError, match="one flag per event edge"):
        simulate_hidden(pair_model, _pairing(5.0), dt_ms=DT_MS, stdp=RULE, learn=np.ones(3, bool))
