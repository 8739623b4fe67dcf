"""Task definitions: trial semantics, split separation and what the scores mean.

Oracles: the task's own definition re-derived independently from the inputs (last pulse
sign for the flip-flop, sign of the relevant stream's realised mean for the decision task),
and exact scores of known answers (the target scores 1, its negation 0, coin flips ~0.5).
"""

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.sources.tasks import get_task, make_trials

pytestmark = pytest.mark.xdist_group("pretty_printer")


def test_splits_are_deterministic_and_disjoint():
    a = make_trials("flipflop", "train", 4, seed=3)
    b = make_trials("flipflop", "train", 4, seed=3)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    for other in (make_trials("flipflop", "heldout", 4, seed=3), make_trials("flipflop", "train", 4, seed=4)):
        assert not np.array_equal(a.inputs, other.inputs)


def test_flipflop_target_is_the_last_pulse_sign():
    task = get_task("flipflop")
    tr = make_trials(task, "heldout", 6, seed=0)
    for b in range(tr.n_trials):
        for c in range(task.n_bits):
            x = tr.inputs[b, :, c]
            held = 0.0
            for t in range(tr.n_steps):
                if x[t] != 0:
                    held = x[t]
                assert tr.targets[b, t, c] == held
            onsets = np.flatnonzero((x != 0) & (np.r_[0, x[:-1]] == 0))
            assert onsets.size >= 1 and onsets[0] >= task.settle_ms / task.dt_ms
            for t0 in onsets:  # no score in the response window after a pulse
                assert not tr.mask[b, t0 : t0 + int(task.grace_ms), c].any()
            assert not tr.mask[b, : onsets[0], c].any()


def test_context_decision_answer_is_the_relevant_realised_evidence():
    task = get_task("context_decision")
    tr = make_trials(task, "heldout", 64, seed=0)
    s0, s1, r0, r1 = task._windows()
    ctx = np.argmax(tr.inputs[:, 0, 2:4], axis=1)
    mean = tr.inputs[:, s0:s1, :2].mean(axis=1)
    expected = np.where(mean[np.arange(64), ctx] >= 0, 1.0, -1.0)
    np.testing.assert_array_equal(tr.answer[:, 0], expected)
    assert np.all(tr.inputs[:, :r0, 4] == 1) and np.all(tr.inputs[:, r0:, 4] == 0)  # go cue
    # The irrelevant stream disagrees with the answer on a good share of trials: the
    # context matters.
    other = np.where(mean[np.arange(64), 1 - ctx] >= 0, 1.0, -1.0)
    assert 0.25 < np.mean(other != expected) < 0.75


@pytest.mark.parametrize("name", ["flipflop", "context_decision"])
def test_scores_mean_fraction_correct(name):
    task = get_task(name)
    tr = make_trials(task, "heldout", 64, seed=1)
    assert task.score(tr.targets, tr) == 1.0
    assert task.score(-tr.targets, tr) == 0.0
    rng = np.random.default_rng(0)
    coin = rng.choice([-1.0, 1.0], size=tr.targets.shape[:1] + (1, tr.targets.shape[2])) * np.ones_like(tr.targets)
    assert abs(task.score(coin, tr) - 0.5) < 0.15
    with pytest.raises(NeurophantomError, match="shape"):
        task.score(tr.targets[:, :10], tr)


def test_context_decision_ideal_observer_scores_one_and_wrong_context_half():
    task = get_task("context_decision")
    tr = make_trials(task, "heldout", 128, seed=2)
    s0, s1, r0, r1 = task._windows()
    ctx = np.argmax(tr.inputs[:, 0, 2:4], axis=1)
    integral = np.cumsum(tr.inputs[:, :, :2], axis=1)  # an ideal integrator of each stream

    def respond(which):
        y = np.zeros_like(tr.targets)
        y[:, r0:r1, 0] = np.sign(integral[np.arange(128), s1 - 1, which])[:, None]
        return y

    assert task.score(respond(ctx), tr) == 1.0
    assert 0.3 < task.score(respond(1 - ctx), tr) < 0.7


@pytest.mark.parametrize("args,needle", [
    (("nope", "train", 2), "unknown task"),
    (("flipflop", "test", 2), "unknown split"),
    (("flipflop", "train", 0), "positive integer"),
])
def test_bad_arguments_raise_one_line_errors(args, needle):
    with pytest.raises(NeurophantomError, match=needle):
        make_trials(*args)
