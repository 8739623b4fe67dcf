"""Pipeline studies of the task world (option ``preset: pretty-printer``): the points build
the task graph, the metric groups that do not apply are refused, and the ``task`` group's
kept share is the above-chance ratio (checked against the arithmetic)."""

from __future__ import annotations

import json

import pytest

from neurophantom._errors import NeurophantomError
from neurophantom.pipeline.runner import MARKER
from neurophantom.study.kinds import pipeline as kind


def test_task_preset_points_build_the_task_graph():
    opts = kind.check_options({"metrics": ["task", "computation"], "preset": "pretty-printer"})
    assert opts == {"metrics": ["task", "computation"], "preset": "pretty-printer"}
    kind.check_settings({"world.task": "context_decision"}, opts)
    names = {s.name for s in kind.stages({"world.task": "context_decision"}, 1, opts)}
    assert {"function", "computation", "emulate"} <= names
    assert set(kind.targets(opts)) == {"function", "computation"}
    # The organoid default is unchanged, and a point's id only carries the preset when given.
    assert kind.check_options({"metrics": ["function"]}) == {"metrics": ["function"]}


@pytest.mark.parametrize("options, needle", [
    ({"metrics": ["task"]}, "does not apply to preset 'organoid'"),
    ({"metrics": ["function"], "preset": "pretty-printer"}, "does not apply to preset 'pretty-printer'"),
    ({"metrics": ["task"], "preset": "worm"}, "unknown pipeline option preset 'worm'"),
    ({"metrics": ["computation"], "preset": "celegans"}, "does not apply to preset 'celegans'"),
])
def test_groups_that_do_not_apply_are_refused(options, needle):
    with pytest.raises(NeurophantomError, match=needle):
        kind.check_options(options)


def test_task_group_reads_scores_and_above_chance_shares(tmp_path):
    fn = tmp_path / "function"
    fn.mkdir()
    result = {"task": "flipflop", "chance": 0.5, "truth": {"score": 0.95}, "emulation": {"score": 0.86},
              "rosetta": {"score": 0.50}, "control": {"score": 0.41}}
    (fn / MARKER).write_text(json.dumps({"result": result}))
    m = kind.metrics({}, 0, {"metrics": ["task"], "preset": "pretty-printer"}, {"function": fn})
    assert m["truth_task_score"] == 0.95 and m["shuffled_task_score"] == 0.41
    assert m["exm_task_kept"] == pytest.approx((0.86 - 0.5) / (0.95 - 0.5))
    assert m["rosetta_task_kept"] == pytest.approx(0.0)
    assert m["shuffled_task_kept"] == pytest.approx(-0.09 / 0.45)
