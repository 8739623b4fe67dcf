"""Contracts of ``neurophantom reconstruct`` and ``neurophantom score``: the folders and
the JSON they promise, and bad input ending in exit code 2 with one ``error:`` line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurophantom import Circuit
from neurophantom.cli import main
from neurophantom.io.omezarr import read_ome_zarr
from neurophantom.types.scan import ChannelInfo, Scan

KEYS = {"segmentation": ("voi_split", "voi_merge", "adapted_rand_error"), "synapses": ("precision", "recall"),
        "connectome": ("edge_precision", "edge_recall", "edge_f1"), "molecules": ("type_accuracy",)}


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def folders(tmp_path_factory, kit, organoid12):
    """A saved phantom, a parallel-barcoded noise-free scan of it, and the reconstruction CLI's output."""
    root = tmp_path_factory.mktemp("cli")
    organoid12.save(root / "phantom")
    bc = {"kind": "parallel", "fluorophores": 10, "per_tag": 3, "brightness_cv": 0.0, "unmixing_error": 0.0}
    kit.scanned(organoid12, kit.exm(**kit.NOISE_FREE, labelling_efficiency=1.0, barcode=bc), seed=4).save(root / "scan")
    code = main(["reconstruct", str(root / "scan"), "--out", str(root / "recon"), "--geometry-scale", "0.35",
                 "--chunk", "64", "--set", "morphology.skeletons=false",
                 # Release inferred from sodium-channel density; the cut-off is set above every
                 # neuron's density so that all of them must come out graded.
                 "--set", "release=na_density", "--set", "graded_na_below_per_um2=1e9"])
    assert code == 0
    return root


def test_reconstruct_writes_a_circuit_folder_and_segmentation(folders, capsys):
    out = folders / "recon"
    c = Circuit.load(out)
    seg = read_ome_zarr(out / "segmentation.ome.zarr")
    assert seg.axes == ("z", "y", "x") and seg.voxel_size_nm == (40.0, 40.0, 40.0)
    assert set(np.unique(seg.data.compute())) == {0, *c.neurons["id"].tolist()}
    for name in ("morphology.parquet", "uncertainty.parquet"):
        assert (out / name).is_file()
    assert c.provenance.config["chunk_vox"] == [64, 64, 64] and c.provenance.config["geometry_scale"] == 0.35
    assert c.neurons["channels_observed"].all() and (c.neurons["release"] == "graded").all()
    code, text, _ = run(capsys, "info", out)
    assert code == 0 and "reconstruction" in text


def test_score_json_is_one_object_with_the_promised_keys(folders, capsys):
    code, out, err = run(capsys, "score", folders / "recon", "--truth", folders / "phantom", "--json")
    assert code == 0
    j = json.loads(out)  # exactly one JSON object: anything else on stdout fails to parse
    for section, keys in KEYS.items():
        for k in keys:
            assert k in j[section], f"{section}.{k}"
    assert j["segmentation"]["voi_split"] + j["segmentation"]["voi_merge"] < 0.05
    assert j["connectome"]["edge_f1"] == 1.0 and j["molecules"]["type_accuracy"] == 1.0
    assert json.loads((folders / "recon" / "score" / "score.json").read_text()) == j
    for fig in ("segmentation_overlay.png", "confusion_matrix.png"):
        assert (folders / "recon" / "score" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, table, _ = run(capsys, "score", folders / "recon", "--truth", folders / "phantom", "--out", folders / "s2")
    assert code == 0 and "edge F1" in table and "protein-type accuracy" in table


def _one_error_line(code, out, err, needle):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err


def test_scan_without_membrane_channel_exits_2(capsys, tmp_path):
    img = np.zeros((1, 8, 8, 8), np.float32)
    Scan(images=img, channels=(ChannelInfo("tag_ampa", "tag", protein="ampa"),), voxel_size_nm=(40.0, 40.0, 40.0),
         instrument="synchrotron", config={}, instrument_seconds=1.0).save(tmp_path / "scan")
    _one_error_line(*run(capsys, "reconstruct", tmp_path / "scan", "--out", tmp_path / "r"), "no membrane channel")
    assert not (tmp_path / "r").exists()


def test_mismatched_voxel_sizes_exit_2(capsys, folders, tmp_path, organoid12):
    coarse = organoid12.replace(voxel_size_nm=(50.0, 50.0, 50.0))
    coarse.save(tmp_path / "coarse")
    _one_error_line(*run(capsys, "score", folders / "recon", "--truth", tmp_path / "coarse", "--json"), "mismatched voxel sizes")


@pytest.mark.parametrize("which", ["scan", "recon", "truth"])
def test_missing_folders_exit_2(capsys, folders, tmp_path, which):
    if which == "scan":
        args = ("reconstruct", tmp_path / "nope", "--out", tmp_path / "r")
    elif which == "recon":
        args = ("score", tmp_path / "nope", "--truth", folders / "phantom")
    else:
        args = ("score", folders / "recon", "--truth", tmp_path / "nope")
    _one_error_line(*run(capsys, *args), "not found")


def test_bad_settings_exit_2(capsys, folders, tmp_path):
    _one_error_line(*run(capsys, "reconstruct", folders / "scan", "--out", tmp_path / "r", "--set", "segmentation.threshold=2"),
                    "segmentation.threshold")
    _one_error_line(*run(capsys, "reconstruct", folders / "scan", "--out", tmp_path / "r", "--chunk", "4"), "chunk_vox")
