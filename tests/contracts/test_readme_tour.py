"""The README's tour runs verbatim (every line exits 0 and writes what it says), and the
defaults a newcomer meets are sane: one value syntax, a size guard, one default step."""

from __future__ import annotations

import json

import pytest

from neurophantom import NeurophantomError
from neurophantom.cli import main

pytestmark = pytest.mark.xdist_group("tour")


def _result(tour, *words):
    hits = [r for r in tour.results if r.args[1:1 + len(words)] == list(words)]
    assert hits, words
    return hits[-1]


def test_every_tour_line_exits_0(tour):
    failed = [(" ".join(r.args), r.code, r.stderr.strip().splitlines()[-1:]) for r in tour.results if r.code != 0]
    assert not failed, failed
    assert len(tour.results) >= 15
    print({" ".join(r.args[1:3]): (round(r.seconds, 1), round(r.cpu_seconds, 1)) for r in tour.results})


def test_tour_outputs(tour):
    from importlib.metadata import version

    f = tour.folder
    assert _result(tour, "--version").stdout.strip() == f"neurophantom {version('neurophantom')}"
    for path in ("gt/circuit.json", "sim/recording.nwb", "phantom/phantom.ome.zarr", "exm/scan.ome.zarr",
                 "exm/lost_mask.ome.zarr", "rec/recording.nwb", "recon/segmentation.ome.zarr", "recon/score/score.json",
                 "pp/circuit.json", "gt_brian2/model.py"):
        assert (f / path).exists(), path
    dry = _result(tour, "scan", "phantom/", "--instrument", "exm", "--dry-run")
    assert "dry run: scan: about" in dry.stdout and "7 channels" in dry.stdout and "40x40x40 nm" in dry.stdout
    assert "stages" in _result(tour, "run").stdout and not (f / "runs").exists()  # --dry-run ran nothing
    score = json.loads((f / "recon/score/score.json").read_text())
    assert score["synapses"]["recall"] > 0.5 and score["segmentation"]["matched_neurons"] >= 10, score["synapses"]
    task = json.loads(_result(tour, "task-score").stdout)
    assert task["task"] == "flipflop" and task["score"] > 0.9  # the compiled circuit performs its task
    head = json.loads((f / "exm/scan.json").read_text())
    assert head["codebook"] is not None and 0 < head["lost_fraction"] < 0.1  # barcoded by default, damage as asked


def test_size_guard_stops_before_writing(tour, capsys, monkeypatch):
    """At the light-sheet camera's native voxel (200 x 100 x 100 nm at 11x) the scan of
    this small phantom is 7 channels of float32 on a grid 4.4 x 4.4 x 2.2 times finer than
    the phantom's (gigabytes). With the limit set below that, the scan stops with the
    estimate and how to go on, and writes nothing; a dry run prints the same estimate."""
    import math

    from neurophantom.cli import _values

    phantom_shape = json.loads((tour.folder / "phantom/phantom.json").read_text())["counts"]["shape"]
    shape = [math.ceil(n * 40.0 / v - 1e-9) for n, v in zip(phantom_shape, (200 / 11, 100 / 11, 100 / 11))]
    expected = 7 * math.prod(shape) * 4
    assert expected > 1e9
    monkeypatch.setattr(_values, "MAX_OUTPUT_BYTES", expected / 2)
    out = tour.folder / "native"
    code = main(["scan", str(tour.folder / "phantom"), "--instrument", "exm", "--set", "camera_voxel_nm=200,100,100",
                 "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: scan: about "), err
    assert f"about {_values.human_bytes(expected)} to write" in err[0] and "--yes" in err[0] and "--region" in err[0]
    assert not out.exists()
    code = main(["scan", str(tour.folder / "phantom"), "--instrument", "exm", "--set", "camera_voxel_nm=[200, 100, 100]",
                 "--dry-run", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and f"about {_values.human_bytes(expected)} to write" in text and "x".join(map(str, shape)) in text
    assert not out.exists()


def test_one_value_syntax():
    from neurophantom.cli._values import parse_sets, parse_value

    assert parse_value("440,440,440") == [440, 440, 440] == parse_value("[440, 440, 440]")
    assert parse_value("0.5, 1e3") == [0.5, 1000.0] and parse_value("12") == 12 and parse_value("true") is True
    assert parse_value("parallel") == "parallel" and parse_value("a,b") == "a,b"
    assert parse_sets(["x=1", "y=1,2,3", "x=2"]) == {"x": 2, "y": [1, 2, 3]}
    with pytest.raises(NeurophantomError, match="NAME=VALUE"):
        parse_sets(["novalue"])


def test_simulate_record_and_brian2_export_share_the_default_step():
    from neurophantom.cli import app
    from neurophantom.cli._values import DEFAULT_DT_MS

    import typer.main

    cmd = typer.main.get_command(app)
    defaults = {name: next(p.default for p in cmd.commands[name].params if p.name == "dt_ms")
                for name in ("simulate", "record", "export")}
    assert defaults == {"simulate": DEFAULT_DT_MS, "record": DEFAULT_DT_MS, "export": DEFAULT_DT_MS}, defaults


def test_missing_celegans_extra_is_named(monkeypatch):
    """Without cect (the ``celegans`` extra) the worm source says which extra to install."""
    import sys

    from neurophantom.sources import source_module

    monkeypatch.setitem(sys.modules, "cect", None)  # import cect -> ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "neurophantom.sources.celegans", raising=False)
    for mod in [m for m in sys.modules if m.startswith("cect.")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(NeurophantomError, match=r"pip install 'neurophantom\[celegans\]'"):
        source_module("celegans")
    assert source_module("organoid").__name__ == "neurophantom.sources.organoid"
