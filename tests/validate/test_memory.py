"""Memory recall: the organoid that stores patterns completes them from half-cues, the
same organoid without the memory does not. The oracle is the ground truth's own knob
(memory_strength), on the protocol that verified the source (tests/sources)."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics.model import build_model
from neurophantom.sources.organoid import Config, build
from neurophantom.validate.memory import RecallProtocol, memory_recall, recall_inputs

SEED = 3


@pytest.fixture(scope="module")
def results():
    out = {}
    for strength in (Config().memory_strength, 0.0):
        c = build(Config(seed=0, memory_strength=strength))
        inp = recall_inputs(c)
        out[strength] = (c, memory_recall(build_model(c), inp.patterns, excitatory_ids=inp.excitatory_ids,
                                          background=inp.background, seed=SEED))
    return out


def test_stored_memory_is_recalled_and_absent_memory_is_not(results):
    strong, none = results[Config().memory_strength][1], results[0.0][1]
    assert Config().memory_strength > 0
    assert all(p.cue_effective for r in (strong, none) for p in r.patterns)  # the cue drives its own half
    # Measured over noise seeds 3-5: the stored memory scores 0.13-0.18 (patterns 0.06-0.24),
    # the memoryless organoid -0.013..0.022 (patterns -0.05..0.07): one trial has ~2 Hz of
    # rate noise on the uncued half over ~35 Hz of cue gain, ~0.05 per pattern. So assert
    # on the mean over patterns, with margins about twice that noise.
    assert strong.score > none.score + 0.08 and strong.score > 3 * abs(none.score), (strong.score, none.score)
    for p in strong.patterns:  # every stored pattern's uncued half rises more than the controls
        assert p.uncued_gain_hz > p.control_gain_hz, p
    assert abs(none.score) < 0.06


def test_result_shape_and_controls(results):
    c, r = results[Config().memory_strength]
    pats = c.provenance.metadata["memory_patterns"]
    assert len(r.patterns) == len(pats)
    assert [p.n_cue for p in r.patterns] == [len(p) // 2 for p in pats]
    n_pyr = int((c.neurons["cell_type"] == "pyramidal").sum())
    assert r.n_control == n_pyr - len({i for p in pats for i in p})
    d = r.to_dict()
    assert d["score"] == r.score and len(d["patterns"]) == len(pats)
    assert d["score"] == pytest.approx(np.mean([p["score"] for p in d["patterns"]]))


def test_bad_inputs_raise():
    c = build(Config(seed=0, n_neurons=40, n_patterns=1, pattern_size=6))
    inp = recall_inputs(c)
    m = build_model(c)
    with pytest.raises(NeurophantomError, match="no memory patterns"):
        memory_recall(m, [], excitatory_ids=inp.excitatory_ids, background=inp.background, seed=0)
    with pytest.raises(NeurophantomError, match="none of the pattern 0 cue"):
        memory_recall(m, [[10_000, 10_001]], excitatory_ids=inp.excitatory_ids, background=inp.background, seed=0)
    with pytest.raises(ValueError, match="cue_start_ms"):
        RecallProtocol(cue_start_ms=700.0)
    with pytest.raises(NeurophantomError, match="memory_patterns"):
        recall_inputs(build(Config(seed=0, n_neurons=40, n_patterns=0)))
