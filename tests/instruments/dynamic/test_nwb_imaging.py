"""NWB imaging files: pynwb's validator, round trips, and the wall around the ground truth."""

import dataclasses
import shutil

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, validate

from neurophantom import CorruptDataError, NeurophantomError
from neurophantom.instruments.dynamic import ImagingRecording, read_ground_truth, read_imaging, write_imaging


@pytest.fixture(scope="module")
def nwb_file(calcium_run, tmp_path_factory):
    _, _, _, rec, truth = calcium_run
    path = tmp_path_factory.mktemp("nwb") / "recording.nwb"
    write_imaging(path, rec, truth)
    return path


def test_file_passes_pynwb_validation(nwb_file):
    assert validate(path=str(nwb_file)) == []
    assert [p.name for p in nwb_file.parent.iterdir()] == ["recording.nwb"]  # no temporary left behind


def test_ophys_layout(nwb_file, calcium_run):
    _, prot, cfg, rec, _ = calcium_run
    with NWBHDF5IO(str(nwb_file), "r") as io:
        nwb = io.read()
        rois = nwb.processing["ophys"]["ImageSegmentation"]["rois"]
        assert list(rois["neuron_id"].data[:]) == [0, 1, 2]
        assert list(rois["neuron_name"].data[:]) == ["n0", "n1", "n2"]
        for k in range(prot.trials):
            s = nwb.processing["ophys"]["Fluorescence"][f"trial_{k:03d}"]
            assert s.rate == pytest.approx(cfg.frame_rate_hz) and s.data.shape == (12, 3)
            assert s.starting_time == pytest.approx(k * prot.duration_ms / 1000)
            assert s.rois.table is rois
            assert nwb.processing["ophys"]["DfOverF"][f"trial_{k:03d}"].data.shape == (12, 3)
        assert len(nwb.trials) == prot.trials
        assert nwb.units is None and len(nwb.acquisition) == 0  # no spikes or voltage at the top level
        assert nwb.imaging_planes["imaging_volume"].indicator == "gcamp6f"


def test_reader_returns_only_what_the_instrument_recorded(nwb_file, calcium_run):
    _, prot, cfg, rec, _ = calcium_run
    back = read_imaging(nwb_file)
    assert isinstance(back, ImagingRecording)
    assert {f.name for f in dataclasses.fields(back)} == {"trials", "config", "protocol", "stimulated_ids", "roi_positions_um", "seed", "metadata"}
    for tr in back.trials:
        assert set(tr.traces) == {"fluorescence", "dff"} and tr.spike_times_ms.size == 0
    np.testing.assert_array_equal(back.stacked(), rec.stacked())
    np.testing.assert_array_equal(back.stacked("dff"), rec.stacked("dff"))
    np.testing.assert_allclose(back.frame_times_ms, rec.frame_times_ms, atol=1e-9)
    assert back.config == cfg and back.protocol == prot and back.stimulated_ids == rec.stimulated_ids
    assert back.neuron_names == ("n0", "n1", "n2") and back.seed == 7
    np.testing.assert_array_equal(back.roi_positions_um, rec.roi_positions_um)


def test_reader_never_touches_the_ground_truth(nwb_file, tmp_path):
    """Remove processing/ground_truth: the normal reader gives the same recording, and only
    the truth reader notices."""
    cut = tmp_path / "no_truth.nwb"
    shutil.copy(nwb_file, cut)
    with h5py.File(cut, "a") as f:
        del f["processing/ground_truth"]
    np.testing.assert_array_equal(read_imaging(cut).stacked(), read_imaging(nwb_file).stacked())
    with pytest.raises(NeurophantomError, match="holds no ground truth"):
        read_ground_truth(cut)


def test_ground_truth_round_trip(nwb_file, calcium_run):
    _, _, _, _, truth = calcium_run
    back = read_ground_truth(nwb_file)
    assert back.calcium_source == truth.calcium_source
    np.testing.assert_array_equal(back.photons_rest, truth.photons_rest)
    np.testing.assert_array_equal(back.expected_photons, truth.expected_photons)
    for a, b in zip(back.activity, truth.activity):
        assert set(a.traces) == set(b.traces) == {"v", "calcium"}
        for k in a.traces:
            np.testing.assert_array_equal(a.traces[k], b.traces[k])
            assert a.units[k] == b.units[k]
        np.testing.assert_allclose(a.time_ms, b.time_ms, atol=1e-9)
        np.testing.assert_array_equal(a.spike_neuron_ids, b.spike_neuron_ids)
        np.testing.assert_allclose(a.spike_times_ms, b.spike_times_ms, atol=1e-12)


def test_missing_and_corrupt_files(tmp_path, nwb_file):
    with pytest.raises(NeurophantomError, match="imaging recording not found"):
        read_imaging(tmp_path / "nope.nwb")
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(CorruptDataError, match="not a neurophantom imaging NWB file"):
        read_imaging(bad)
    cut = tmp_path / "cut.nwb"
    shutil.copy(nwb_file, cut)
    with h5py.File(cut, "a") as f:
        del f["processing/ophys/Fluorescence/trial_001"]
    with pytest.raises(CorruptDataError, match="trial_001"):
        read_imaging(cut)


def test_failed_write_leaves_nothing(tmp_path, calcium_run, monkeypatch):
    _, _, _, rec, truth = calcium_run
    import pynwb

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_imaging(tmp_path / "r.nwb", rec, truth)
    assert list(tmp_path.iterdir()) == []
