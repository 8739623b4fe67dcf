"""Study files: bad ones fail in one line with exit 2; every built-in study is valid."""

from __future__ import annotations

import pytest
import yaml

from neurophantom.cli import main
from neurophantom.study import builtin_studies, load_study, prepare

TINY = {"name": "t", "kind": "barcode", "base": {"molecules_per_type": 5}, "grid": {"degradation": [0.0, 0.1]}}


def _study(tmp_path, **changes):
    data = {**TINY, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


BAD = [
    ({"gird": {"degradation": [0.0]}}, "gird: unknown field"),
    ({"grid": {"degradation": []}}, "grid key 'degradation' has no values"),
    ({"grid": {}}, "empty grid"),
    ({"grid": {"degradation": [0.0, 0.0]}}, "repeats a value"),
    ({"grid": {"photons_per_molecule": [1, 2]}}, "barcode setting photons_per_molecule: unknown key"),
    ({"grid": {"rounds": ["many", 3]}}, "barcode setting rounds: Input should be a valid integer"),
    ({"grid": {"degradation": [0.0, 1.5]}}, "barcode setting degradation"),
    ({"seeds": 0}, "seeds must be a positive count"),
    ({"kind": "nope"}, "unknown study kind 'nope'"),
    ({"figures": [{"x": "degradation", "y": ["no_such_metric"]}]}, "unknown metric 'no_such_metric'"),
    ({"figures": [{"x": "rounds", "y": ["error_rate"]}]}, "x 'rounds' is not a varied key"),
    ({"kind": "pipeline", "base": {}, "options": {"metrics": ["truth"]}, "grid": {"world.bogus": [1, 2]}},
     "run config world.bogus"),
    ({"kind": "pipeline", "base": {}, "options": {"metrics": ["truth"]}, "grid": {"world.n_neurons": ["many", 30]}},
     "run config world.n_neurons"),
    ({"kind": "pipeline", "base": {}, "options": {"metrics": ["truth"]}, "grid": {"scan.tissue.bogus": [1, 2]}},
     "run config"),
    ({"kind": "pipeline", "base": {}, "options": {"metrics": ["nope"]}}, "unknown metric group 'nope'"),
    ({"kind": "pipeline", "base": {}, "options": {}}, "pipeline studies need options.metrics"),
]


@pytest.mark.parametrize("changes,needle", BAD)
def test_bad_study_file_is_one_line_and_exit_2(tmp_path, capsys, changes, needle):
    code = main(["study", str(_study(tmp_path, **changes)), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid study"


@pytest.mark.parametrize("text,needle", [("name: [unclosed", "not valid YAML"), ("- a\n- b\n", "must be a YAML mapping")])
def test_unreadable_study_file(tmp_path, capsys, text, needle):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    assert main(["study", str(p), "--out", str(tmp_path / "o")]) == 2
    assert needle in capsys.readouterr().err


def test_unknown_study_name_and_missing_out(tmp_path, capsys):
    assert main(["study", "no-such-study", "--out", str(tmp_path / "o")]) == 2
    assert "no built-in study 'no-such-study'" in capsys.readouterr().err
    assert main(["study", "barcode-capacity"]) == 2
    assert "study needs --out" in capsys.readouterr().err


def test_out_that_holds_something_else_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    assert main(["study", str(_study(tmp_path)), "--out", str(out)]) == 2
    assert "not empty and holds no study" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "x"


def test_study_list_prints_one_builtin_per_line(capsys):
    assert main(["study", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == sorted(builtin_studies())
    names = lines
    assert {"barcode-capacity", "synapse-size-enough", "rosetta-fraction", "tissue-loss", "modalities"} <= set(names)


@pytest.mark.parametrize("name", sorted(builtin_studies()))
def test_every_builtin_study_and_its_quick_variant_validate(name):
    spec = load_study(name)
    assert spec.name == name
    full, quick = prepare(spec, False), prepare(spec, True)
    assert 0 < len(quick.points) <= len(full.points)
    if spec.kind == "pipeline" and name != "modalities":
        assert len({p.seed for p in full.points}) >= 5, "the full variant answers with at least 5 seeds"
