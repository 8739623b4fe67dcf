"""CLI contract: ``circuit --source pretty-printer`` and ``task-score``."""

import json

import pytest

from neurophantom.cli import main
from neurophantom.types import Circuit

pytestmark = pytest.mark.xdist_group("pretty_printer")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pp") / "ff"
    assert main(["circuit", "--source", "pretty-printer", "--task", "flipflop", "--out", str(out)]) == 0
    return out


def test_circuit_command_writes_scores_in_the_header(circuit_dir):
    head = json.loads((circuit_dir / "circuit.json").read_text())
    assert head["task"] == "flipflop" and head["source"] == "pretty-printer"
    for key in ("rate_network_score", "compiled_circuit_score"):
        assert isinstance(head[key], float) and 0.5 < head[key] <= 1.0
    assert head["compiled_circuit_score"] >= 0.9 * head["rate_network_score"]
    c = Circuit.load(circuit_dir)
    assert c.n_neurons > 20 and set(c.receptor_types) == {"ampa", "gaba_a"}


def test_task_score_prints_exactly_task_and_score(capsys, circuit_dir):
    code, out, err = run(capsys, "task-score", circuit_dir, "--task", "flipflop", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == ["task", "score"] and doc["task"] == "flipflop"
    head = json.loads((circuit_dir / "circuit.json").read_text())
    # Same held-out trials as the header's score (one trial's worth of engine tolerance).
    assert doc["score"] == pytest.approx(head["compiled_circuit_score"], abs=1.0 / head["score_trials"])


@pytest.mark.parametrize("args,needle", [
    (["circuit", "--source", "pretty-printer", "--task", "nope", "--out", "{tmp}/x"], "unknown task 'nope'"),
    (["task-score", "{c}", "--task", "context_decision", "--json"], "compiled for task 'flipflop'"),
    (["task-score", "{c}", "--task", "nope"], "unknown task 'nope'"),
    (["task-score", "{c}", "--task", "flipflop", "--trials", "0"], "--trials must be >= 1"),
    (["task-score", "{tmp}/missing", "--task", "flipflop"], "circuit folder not found"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, circuit_dir, args, needle):
    args = [a.replace("{c}", str(circuit_dir)).replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not (tmp_path / "x").exists()
