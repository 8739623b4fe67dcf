"""Scan folders: round trip, OME-Zarr validation, corrupt and missing chunks; the scan CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import ome_zarr_models
import pytest

from neurophantom import CorruptDataError
from neurophantom.cli import main
from neurophantom.instruments.exm import ExpansionLightSheet
from neurophantom.instruments.static import scan
from neurophantom.io.omezarr import chunk_key, verify_ome_zarr
from neurophantom.types.scan import Scan


@pytest.fixture(scope="module")
def saved(make_lattice, tmp_path_factory):
    spec = make_lattice(3, extent_nm=(480.0, 520.0, 560.0), step_nm=(120.0, 130.0, 140.0), seed=1)
    cfg = ExpansionLightSheet(barcode={"kind": "parallel", "fluorophores": 4, "per_tag": 2},
                              damage=({"kind": "sparse", "fraction": 0.1, "radius_nm": 100.0},))
    s = scan(spec, cfg, seed=0, chunks=(32, 32, 32))
    path = tmp_path_factory.mktemp("scan") / "scan"
    s.save(path)
    return s, path


def test_round_trip_and_ngff_validation(saved):
    s, path = saved
    back = Scan.load(path)
    assert back.header() == s.header()
    a = s.images.compute()
    assert np.array_equal(back.images.compute(), a)
    assert np.array_equal(back.images[2, 5].compute(), a[2, 5])  # integer indexing reads whole chunks
    assert np.array_equal(back.lost_mask.compute(), s.lost_mask.compute())
    assert back.codebook.proteins == s.codebook.proteins
    # NGFF 0.5 metadata validated by ome-zarr-models; every chunk matches its manifest
    img = ome_zarr_models.open_ome_zarr(path / "scan.ome.zarr")
    ms = img.attributes.ome.multiscales[0]
    assert [a.name for a in ms.axes] == ["c", "z", "y", "x"]
    assert list(ms.datasets[0].coordinateTransformations[0].scale) == [1.0, *s.voxel_size_nm]
    assert verify_ome_zarr(path / "scan.ome.zarr") == 5 * 1 * 2 * 2  # 5 channels x (27, 58, 62) / 32
    ome_zarr_models.open_ome_zarr(path / "lost_mask.ome.zarr")
    head = json.loads((path / "scan.json").read_text())
    for key in ("instrument", "voxel_size_nm", "instrument_seconds", "lost_fraction", "codebook"):
        assert key in head
    assert head["codebook"]["scheme"] == "parallel"


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_corrupt_or_missing_chunk_is_a_clear_error(saved, tmp_path, damage):
    _, src = saved
    path = tmp_path / "scan"
    shutil.copytree(src, path)
    chunk = path / "scan.ome.zarr" / "0" / chunk_key((2, 0, 1, 0))
    if damage == "flip":
        raw = bytearray(chunk.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        chunk.write_bytes(bytes(raw))
    else:
        chunk.unlink()
    back = Scan.load(path)  # metadata is fine; the bad chunk fails when read
    back.images[0].compute()  # other chunks still read
    with pytest.raises(CorruptDataError, match="c/2/0/1/0") as exc:
        back.images.compute()
    assert ("missing" if damage == "delete" else "corrupt") in str(exc.value)


def test_bad_header_is_corrupt_data(saved, tmp_path):
    _, src = saved
    path = tmp_path / "scan"
    shutil.copytree(src, path)
    head = json.loads((path / "scan.json").read_text())
    head["voxel_size_nm"] = [1.0, 1.0, 1.0]
    (path / "scan.json").write_text(json.dumps(head))
    with pytest.raises(CorruptDataError, match="voxel size"):
        Scan.load(path)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scan_writes_the_contract(capsys, phantom_dir, tmp_path):
    out = tmp_path / "exm"
    code, stdout, err = run(capsys, "scan", phantom_dir, "--instrument", "exm", "--expansion", "6",
                            "--barcode", "serial:rounds=3,colors=3,min_distance=2", "--damage", "sparse:0.05,radius_nm=150",
                            "--set", "camera_voxel_nm=200,100,100",
                            "--damage", "misalign:10", "--seed", "3", "--out", out)
    assert code == 0, err
    for f in ("scan.ome.zarr", "scan.json", "scan.png", "lost_mask.ome.zarr"):
        assert (out / f).exists(), f
    head = json.loads((out / "scan.json").read_text())
    assert head["instrument"] == "exm" and head["seed"] == 3
    vol_um3 = 0.8 * 0.96 * 0.96
    assert head["instrument_seconds"] == pytest.approx(vol_um3 * 6**3 * 3 / 1e4, rel=1e-12)
    assert head["voxel_size_nm"] == pytest.approx([200 / 6, 100 / 6, 100 / 6])
    assert head["codebook"]["proteins"] == ["p0", "p1", "p2"] and head["codebook"]["min_distance"] == 2
    assert 0 < head["lost_fraction"] < 0.5
    assert "real-instrument time" in stdout and f"{head['instrument_seconds']:.6g} s" in stdout
    verify_ome_zarr(out / "scan.ome.zarr")
    code, stdout, err = run(capsys, "info", out, "--json")
    assert code == 0 and json.loads(stdout)["kind"] == "scan"
    # synchrotron with one tag, and EM
    for args in (["--instrument", "synchrotron", "--expansion", "8", "--tags", "p1"],
                 ["--instrument", "em", "--chunk", "32", "--region", "2:12,0:24,3:20"]):
        o = tmp_path / args[1]
        code, stdout, err = run(capsys, "scan", phantom_dir, *args, "--out", o)
        assert code == 0, err
        assert Scan.load(o).instrument == args[1]


@pytest.mark.parametrize("args,needle", [
    (["--instrument", "xray"], "unknown instrument 'xray'"),
    (["--instrument", "exm", "--barcode", "serial:rounds=six"], "is not a number"),
    (["--instrument", "exm", "--barcode", "spiral:rounds=3"], "unknown kind 'spiral'"),
    (["--instrument", "exm", "--barcode", "parallel:fluorophores=4,per_tag=4"], "per_tag 4 must be < fluorophores 4"),
    (["--instrument", "exm", "--expansion", "0.5"], "--expansion must be >= 1"),
    (["--instrument", "synchrotron", "--expansion", "0.9"], "--expansion must be >= 1"),
    (["--instrument", "exm", "--expansion", "2"], "greater than or equal to 4"),
    (["--instrument", "exm", "--damage", "sparse:1.5"], "less than 1"),
    (["--instrument", "exm", "--damage", "slabs:-0.1"], "greater than or equal to 0"),
    (["--instrument", "exm", "--damage", "holes:0.1"], "unknown kind 'holes'"),
    (["--instrument", "em", "--barcode", "serial:rounds=3,colors=3"], "barcodes need the exm instrument"),
    (["--instrument", "synchrotron", "--tags", "p0,p1,p2"], "at most two tags"),
    (["--instrument", "exm", "--set", "bogus=1"], "bogus"),
    (["--instrument", "em", "--region", "0:5,0:5"], "--region expects"),
    (["--instrument", "em", "--region", "0:5,0:5,5:2"], "not a non-empty box"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, phantom_dir, tmp_path, args, needle):
    code, out, err = run(capsys, "scan", phantom_dir, *args, "--out", tmp_path / "out")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_missing_phantom_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, "scan", tmp_path / "nope", "--instrument", "em", "--out", tmp_path / "o")
    assert code == 2 and "phantom folder not found" in err
