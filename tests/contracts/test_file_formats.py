"""Every file the tour writes passes the field's own validators: nwbinspector (DANDI
configuration: no CRITICAL, no BEST_PRACTICE_VIOLATION) on each kind of NWB, and
ome-zarr-models on each kind of OME-Zarr (image, pyramid, labels). Each validator is
first shown to reject a file with the faults these files used to have, so that a pass
means something; the content the metadata claims is checked against the data."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurophantom.io._parse import _nonfinite_text

pytestmark = pytest.mark.xdist_group("tour")

NWB_KINDS = {"simulate": "sim/recording.nwb", "record (ophys + ground truth)": "rec/recording.nwb"}
ZARR_KINDS = {"phantom": ("phantom/phantom.ome.zarr", "neurons"), "scan": ("exm/scan.ome.zarr", "lost_mask"),
              "lost mask": ("exm/lost_mask.ome.zarr", "lost_mask"), "segmentation": ("recon/segmentation.ome.zarr", "segmentation")}


def _inspect(path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    msgs = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    return [m for m in msgs if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION, Importance.ERROR)]


@pytest.mark.parametrize("kind", NWB_KINDS)
def test_nwb_passes_nwbinspector(tour, kind):
    bad = _inspect(tour.folder / NWB_KINDS[kind])
    assert not bad, [(m.importance.name, m.check_function_name, m.message[:120]) for m in bad]


def test_nwbinspector_rejects_the_old_faults(tmp_path):
    """No Subject (CRITICAL), metadata as a JSON dictionary string (violation)."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="s", identifier="neurophantom-recording",
                  session_start_time=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    mod = nwb.create_processing_module("misc", "m")
    mod.add(DynamicTable(name="metadata", description="d", columns=[
        VectorData(name="json", description="j", data=[json.dumps({"dt_ms": 0.05}), json.dumps({"a": 1})])]))
    with NWBHDF5IO(str(tmp_path / "old.nwb"), "w") as io:
        io.write(nwb)
    names = {m.check_function_name for m in _inspect(tmp_path / "old.nwb")}
    assert {"check_subject_exists", "check_table_values_for_dict"} <= names, names


def test_nwb_content(tour):
    """Real start times and unique identifiers; the specimen as Subject; the stimulus as
    given on the tour's command line; spikes as Units with a resolution; metadata as
    fields that read back."""
    from pynwb import NWBHDF5IO

    from neurophantom.io.nwb import read_recording
    from neurophantom.io.nwb_ophys import read_ground_truth, read_imaging

    ids, now = set(), dt.datetime.now(dt.timezone.utc)
    gt = json.loads((tour.folder / "gt/circuit.json").read_text())
    for kind, rel in NWB_KINDS.items():
        with NWBHDF5IO(str(tour.folder / rel), "r") as io:
            nwb = io.read()
            ids.add(nwb.identifier)
            assert abs((now - nwb.session_start_time).total_seconds()) < 3 * 3600, nwb.session_start_time
            assert nwb.subject.species == "Homo sapiens" and nwb.subject.subject_id == f"organoid-seed{gt['seed']}"
            stim = nwb.intervals["stimulation"].to_dataframe()
            steps = stim[stim["kind"] == "step"]
            assert len(steps) == 1 and steps["amplitude"].iloc[0] == 800.0 and steps["amplitude_unit"].iloc[0] == "pA"
            assert steps["start_time"].iloc[0] == pytest.approx(0.1) and steps["stop_time"].iloc[0] == pytest.approx(0.4)
            units = nwb.units if kind == "simulate" else nwb.processing["ground_truth"]["spikes"]
            assert units.resolution == pytest.approx(0.05 / 1000.0) and len(units) == gt["counts"]["neurons"]
            if kind == "simulate":
                assert list(steps["targets"].iloc[0]) == [0]  # on=pyramidal000: neuron id 0
            else:
                assert len(steps["targets"].iloc[0]) == 4  # on=random:4
    assert len(ids) == 2
    rec = read_recording(tour.folder / NWB_KINDS["simulate"])
    assert rec.dt_ms == 0.05 and rec.metadata["duration_ms"] == 500.0 and rec.spike_times_ms.size > 0
    img, truth = read_imaging(tour.folder / "rec/recording.nwb"), read_ground_truth(tour.folder / "rec/recording.nwb")
    assert img.protocol.stimulations[0].amplitude == 800.0 and len(img.stimulated_ids[0]) == 4
    spikes = truth.activity[0].spike_times_ms
    assert spikes.size > 0 and np.all(np.diff(spikes) >= 0)


# Text that a lax number parser reads as NaN or infinity ("INF", " nan") is refused in any
# file by design (io._parse._nonfinite_text), so the round trip is over the other strings.
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=5).filter(lambda t: not _nonfinite_text(t)), st.lists(st.integers(-5, 5), max_size=3))
_keys = st.text(min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(st.recursive(st.dictionaries(_keys, _json_leaf, min_size=1, max_size=3),
                    lambda inner: st.dictionaries(_keys, st.one_of(inner, st.lists(inner, min_size=1, max_size=2)),
                                                  min_size=1, max_size=3), max_leaves=10))
def test_parameter_rows_round_trip(obj):
    """Metadata stored one field per row reads back as the same mapping (any keys, dots included)."""
    from neurophantom.io._nwb_common import flatten, unflatten

    assert unflatten(flatten(obj)) == json.loads(json.dumps(obj))


def _open(path):
    import zarr
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.exceptions import ValidationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ValidationWarning)
        return open_ome_zarr(zarr.open_group(str(path), mode="r"))


@pytest.mark.parametrize("kind", ZARR_KINDS)
def test_ome_zarr_passes_ome_zarr_models(tour, kind):
    """Valid NGFF 0.5 image with a pyramid, and its label volume listed under labels/ as
    an image-label of integer type (the validator checks the label group and dtype)."""
    import zarr

    rel, label = ZARR_KINDS[kind]
    model = _open(tour.folder / rel)
    datasets = model.attributes.ome.multiscales[0].datasets
    assert len(datasets) >= 3, [d.path for d in datasets]
    assert model.labels is not None and model.labels.attributes.ome.labels == [label]
    meta = json.loads((tour.folder / rel / "labels" / label / "zarr.json").read_text())["attributes"]["ome"]
    assert meta["image-label"]["source"]["image"] == "../../"
    # Each level halves the spatial axes (rounding up) and scales its voxel by 2.
    root = zarr.open_group(str(tour.folder / rel), mode="r")
    shapes = [root[d.path].shape for d in datasets]
    for a, b in zip(shapes, shapes[1:]):
        assert b[-3:] == tuple(-(-n // 2) for n in a[-3:])
    scales = [next(t for t in d.coordinateTransformations if t.type == "scale").scale for d in datasets]
    assert np.allclose(np.asarray(scales[1])[-3:], 2 * np.asarray(scales[0])[-3:])


def test_pyramid_levels_are_the_stated_downsampling(tour):
    """Level 1 of a label volume is every other voxel of level 0; level 1 of the scan is
    the 2x2x2 mean of level 0 (checked here with numpy on a block)."""
    import zarr

    lab = zarr.open_group(str(tour.folder / "phantom/phantom.ome.zarr"), mode="r")
    l0, l1 = np.asarray(lab["0"][:32, :32, :32]), np.asarray(lab["1"][:16, :16, :16])
    assert np.array_equal(l1, l0[::2, ::2, ::2]) and set(np.unique(l1)) <= set(np.unique(np.asarray(lab["0"])))
    img = zarr.open_group(str(tour.folder / "exm/scan.ome.zarr"), mode="r")
    s0, s1 = np.asarray(img["0"][:, :32, :32, :32], np.float64), np.asarray(img["1"][:, :16, :16, :16], np.float64)
    mean = s0.reshape(s0.shape[0], 16, 2, 16, 2, 16, 2).mean(axis=(2, 4, 6))
    np.testing.assert_allclose(s1, mean, rtol=1e-5)


def test_scan_channel_names_in_omero(tour):
    from ome_zarr_models.common.omero import Omero

    head = json.loads((tour.folder / "exm/scan.json").read_text())
    ome = json.loads((tour.folder / "exm/scan.ome.zarr/zarr.json").read_text())["attributes"]["ome"]
    omero = Omero.model_validate(ome["omero"])
    names = [c["name"] for c in head["channels"]]
    assert [c.label for c in omero.channels] == names and names[0] == "membrane" and len(names) == 7
    assert all(c.window.start < c.window.end for c in omero.channels)


def test_readers_keep_reading_level_0(tour):
    """The reconstruction and the phantom read level 0 (the full grid), not a pyramid level."""
    from neurophantom.reconstruct import Reconstruction
    from neurophantom.types.phantom import Phantom

    ph = Phantom.load(tour.folder / "phantom")
    assert ph.shape == tuple(json.loads((tour.folder / "phantom/phantom.json").read_text())["counts"]["shape"])
    rec = Reconstruction.load(tour.folder / "recon")
    assert tuple(rec.segmentation.shape) == tuple(json.loads((tour.folder / "exm/scan.json").read_text())["shape"])


def test_ome_zarr_models_rejects_a_broken_label_list(tmp_path):
    """The validator is not a rubber stamp: a labels group naming a label that is not there fails."""
    from neurophantom.io.omezarr import write_ome_zarr

    path = write_ome_zarr(tmp_path / "x.ome.zarr", np.arange(8 * 16 * 16, dtype=np.uint32).reshape(8, 16, 16),
                          scale=(40.0, 40.0, 40.0), label="cells")
    _open(path)  # valid as written
    meta = json.loads((path / "labels/zarr.json").read_text())
    meta["attributes"]["ome"]["labels"] = ["cells", "ghost"]
    (path / "labels/zarr.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="ghost"):
        _open(path)
