"""Oracle: the CLI contract of issue 3. ``neurophantom tissue CIRCUIT --out DIR`` writes
phantom.ome.zarr (label image at the root multiscale), synapses.parquet, molecules.parquet
and phantom.json (voxel size per axis, axis order, seed); bad input exits 2 with one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from neurophantom.cli import main

pytestmark = pytest.mark.xdist_group("tissue-io")


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory, small_circuit):
    return small_circuit.save(tmp_path_factory.mktemp("c") / "circuit")


def test_tissue_writes_the_contract(tmp_path, circuit_dir, capsys):
    out = tmp_path / "ph"
    rc = main(["tissue", str(circuit_dir), "--out", str(out), "--seed", "3", "--voxel-size-nm", "40,40,40", "--check"])
    assert rc == 0, capsys.readouterr().err
    for name in ("phantom.ome.zarr", "synapses.parquet", "molecules.parquet", "phantom.json", "slice.png"):
        assert (out / name).exists(), name
    head = json.loads((out / "phantom.json").read_text())
    assert head["voxel_size_nm"] == [40.0, 40.0, 40.0] and head["axes"] == ["z", "y", "x"] and head["seed"] == 3
    root = json.loads((out / "phantom.ome.zarr" / "zarr.json").read_text())
    assert root["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] == "0"
    assert (out / "slice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_parquet(out / "synapses.parquet")) == 54
    assert "check: exact" in capsys.readouterr().out
    rc = main(["info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0 and info["kind"] == "phantom" and info["counts"]["synapse_partners"] == 54


@pytest.mark.parametrize("args, message", [
    (["tissue", "no-such-circuit", "--out", "{out}"], "no circuit folder or source"),
    (["tissue", "{circuit}", "--out", "{out}", "--voxel-size-nm", "40,0,40"], "--voxel-size-nm"),
    (["tissue", "{circuit}", "--out", "{out}", "--scale", "-1"], "geometry_scale"),
    (["tissue", "{circuit}", "--out", "{out}", "--set", "no_such_knob=1"], "no_such_knob"),
    (["tissue", "{circuit}", "--out", "{out}", "--chunk", "4"], "chunk_shape"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, circuit_dir, capsys, args, message):
    argv = [a.format(out=tmp_path / "o", circuit=circuit_dir) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not (tmp_path / "o").exists()
