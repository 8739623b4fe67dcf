"""Whole scans: chunking invariance, determinism, barcode decoding, signal, time, no truth."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.instruments.em import ElectronMicroscope
from neurophantom.instruments.exm import ExpansionLightSheet
from neurophantom.instruments.static import instrument_config, scan
from neurophantom.instruments.synchrotron import Synchrotron
from neurophantom.reconstruct.barcodes import decode_scan_puncta, find_puncta
from neurophantom.types.scan import Scan

SERIAL = {"kind": "serial", "rounds": 4, "colors": 3, "min_distance": 2}
DAMAGED = ({"kind": "sparse", "fraction": 0.03, "radius_nm": 120.0}, {"kind": "misalign", "sigma_nm": 15.0, "section_nm": 300.0})

CONFIGS = {
    "exm-serial": ExpansionLightSheet(barcode=SERIAL, distortion_nm=12.0, distortion_length_nm=1500.0, damage=DAMAGED),
    "exm-parallel": ExpansionLightSheet(expansion=6, barcode={"kind": "parallel", "fluorophores": 5, "per_tag": 2},
                                        damage=({"kind": "slabs", "fraction": 0.2, "section_nm": 200.0},)),
    "synchrotron": Synchrotron(voxel_nm=600.0, expansion=8.0, tags=("p1",), distortion_nm=10.0, damage=DAMAGED),
    "em": ElectronMicroscope(voxel_size_nm_zyx=(8.0, 8.0, 6.0), damage=DAMAGED),
}


@pytest.fixture(scope="module")
def small(make_lattice):
    return make_lattice(3, extent_nm=(480.0, 520.0, 560.0), step_nm=(120.0, 130.0, 140.0), seed=1)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_chunked_equals_unchunked_bit_for_bit(small, name):
    cfg = CONFIGS[name]
    whole = scan(small, cfg, seed=5, chunks=(4096, 4096, 4096))
    a = whole.images.compute()
    assert np.isfinite(a).all() and a.std() > 0
    for chunks in [(32, 32, 32), (24, 40, 20)]:  # tile-aligned and ragged
        b = scan(small, cfg, seed=5, chunks=chunks).images.compute()
        assert np.array_equal(a, b), f"{name}: chunks {chunks} differ"
    if whole.lost_mask is not None:
        m = whole.lost_mask.compute()
        assert whole.lost_fraction == pytest.approx(m.mean())
        assert np.array_equal(m, scan(small, cfg, seed=5, chunks=(24, 40, 20)).lost_mask.compute())


def test_same_seed_same_scan_and_other_seed_differs(small):
    cfg = CONFIGS["exm-serial"]
    s1, s2, s3 = (scan(small, cfg, seed=s) for s in (3, 3, 4))
    assert s1.header() == s2.header()
    assert np.array_equal(s1.images.compute(), s2.images.compute())
    assert not np.array_equal(s1.images.compute(), s3.images.compute())


def _decode_errors(spec, cfg, seed=3):
    s = scan(spec, cfg, seed=seed)
    centres = np.floor(spec.molecule_pos_nm / np.array(s.voxel_size_nm)).astype(int)
    dec = decode_scan_puncta(s, centres)
    return float(np.mean(dec.index != spec.molecule_protein)), dec


def _clean(barcode, **kw):
    return ExpansionLightSheet(barcode=barcode, shot_noise=False, read_noise_e=0.0, background_photons=0.0,
                               labelling_efficiency=1.0, distortion_nm=0.0, **kw)


@pytest.fixture(scope="module")
def dense(make_lattice):
    return make_lattice(4, extent_nm=(1000.0, 800.0, 800.0), step_nm=(150.0, 80.0, 80.0), seed=4)


def test_noise_free_barcodes_decode_every_molecule(dense):
    serial = {"kind": "serial", "rounds": 5, "colors": 3, "degradation": 0.0, "registration_nm": 0.0}
    err, dec = _decode_errors(dense, _clean(serial))
    assert len(dec.index) > 200 and err == 0.0
    # without ground truth: find the puncta in the summed barcode channels, then decode them
    s = scan(dense, _clean(serial), seed=3)
    img = s.images.compute()
    found = find_puncta(img[1:].sum(axis=0), threshold=5.0)
    truth = np.floor(dense.molecule_pos_nm / np.array(s.voxel_size_nm)).astype(int)
    assert len(found) == len(truth)
    nearest = np.argmin(((found[:, None, :] - truth[None, :, :]) ** 2).sum(axis=2), axis=1)
    assert np.abs(found - truth[nearest]).max() <= 1 and len(set(nearest)) == len(truth)
    assert np.array_equal(decode_scan_puncta(s, found).index, dense.molecule_protein[nearest])
    parallel = {"kind": "parallel", "fluorophores": 6, "per_tag": 2, "unmixing_error": 0.0, "brightness_cv": 0.0}
    err, dec = _decode_errors(dense, _clean(parallel))
    assert err == 0.0 and np.all(dec.distance == 0)


SERIAL_NOISY = {"kind": "serial", "rounds": 5, "colors": 3, "degradation": 0.0, "registration_nm": 0.0}
PARALLEL_NOISY = {"kind": "parallel", "fluorophores": 6, "per_tag": 3, "unmixing_error": 0.0}


@pytest.mark.parametrize("barcode,distances", [(SERIAL_NOISY, (1, 3, 5)), (PARALLEL_NOISY, (2, 4, 6))])
def test_error_rate_rises_with_noise_and_falls_with_distance(make_lattice, barcode, distances):
    # Photon budget per molecule falls (noise rises) at the smallest distance; then the
    # distance grows at a fixed budget. Error = not decoded to the right protein.
    spec = make_lattice(2, extent_nm=(1000.0, 600.0, 600.0), step_nm=(150.0, 60.0, 60.0), seed=4)

    def err(d, photons):
        cfg = ExpansionLightSheet(barcode={**barcode, "min_distance": d}, punctum_photons=photons,
                                  labelling_efficiency=1.0, distortion_nm=0.0)
        return _decode_errors(spec, cfg)[0]

    by_photons = [err(distances[0], p) for p in (400, 120, 60, 30)]
    assert by_photons[0] < 0.02 and by_photons[-1] > 0.3, by_photons
    assert all(a < b for a, b in zip(by_photons, by_photons[1:])), by_photons
    by_distance = [by_photons[2]] + [err(d, 60) for d in distances[1:]]
    assert all(a > b for a, b in zip(by_distance, by_distance[1:])), by_distance


def test_blur_and_crosstalk_preserve_total_signal(make_lattice):
    # Noise-free parallel scan: every molecule deposits photons * per_tag over all spectral
    # channels (crosstalk columns sum to one, puncta integrate to their amplitude).
    spec = make_lattice(3, extent_nm=(800.0, 800.0, 800.0), step_nm=(200.0, 200.0, 200.0), seed=0)
    cfg = _clean({"kind": "parallel", "fluorophores": 5, "per_tag": 2, "unmixing_error": 0.05, "brightness_cv": 0.0},
                 punctum_photons=100.0, membrane_photons=0.0)
    s = scan(spec, cfg, seed=0)
    img = s.images.compute()
    assert img[1:].sum() == pytest.approx(100.0 * 2 * len(spec.molecule_pos_nm), rel=1e-5)
    assert img[0].sum() == 0.0


def test_instrument_time_equals_hand_computation(small):
    vol_um3 = 0.48 * 0.52 * 0.56
    exm = scan(small, ExpansionLightSheet(expansion=11, barcode=SERIAL), seed=0)
    assert exm.instrument_seconds == pytest.approx(vol_um3 * 11**3 * 4 / 1e4, rel=1e-12)  # 1e4 um^3/s, 4 rounds
    syn = scan(small, Synchrotron(expansion=8.0), seed=0)
    assert syn.instrument_seconds == pytest.approx(vol_um3 * 8**3 * 1e-9 * 600.0, rel=1e-12)  # 600 s/mm^3
    em = scan(small, ElectronMicroscope(), seed=0)
    em_rate = 1400e12 / (6e5 * 365.25 * 86400)  # 1400 cm^3 in 600k instrument-years
    assert em.instrument_seconds == pytest.approx(vol_um3 / em_rate, rel=1e-12)


def test_region_scan_images_only_the_box(small):
    cfg = ExpansionLightSheet(expansion=10, barcode={"kind": "parallel", "fluorophores": 4, "per_tag": 2, "brightness_cv": 0.0},
                              shot_noise=False, read_noise_e=0.0, background_photons=0.0, distortion_nm=0.0,
                              labelling_efficiency=1.0, punctum_photons=50.0)
    s = scan(small, cfg, seed=0, region=((5, 6, 7), (12, 13, 14)))
    assert s.origin_nm == (200.0, 240.0, 280.0) and s.shape == (14, 28, 28)
    assert s.instrument_seconds == pytest.approx(7 * 7 * 7 * 40.0**3 * 1e-9 * 10**3 / 1e4, rel=1e-12)
    inside = np.all((small.molecule_pos_nm >= [200, 240, 280]) & (small.molecule_pos_nm < [480, 520, 560]), axis=1)
    assert 0 < inside.sum() < len(inside)
    # every molecule inside deposits 50 photons x 2 fluorophores, up to what spills past the box
    total = s.images[1:].sum().compute()
    assert 0.8 * 100.0 * inside.sum() < total <= 100.0 * inside.sum() * (1 + 1e-6)
    with pytest.raises(NeurophantomError, match="not a non-empty box"):
        scan(small, cfg, seed=0, region=((0, 0, 0), (99, 5, 5)))


def test_scan_voxels_and_psf_follow_the_optics(small):
    cfg = ExpansionLightSheet(expansion=10, camera_voxel_nm=(200.0, 100.0, 100.0), na=1.0, wavelength_nm=520.0,
                              refractive_index=1.33, sheet_sigma_nm=None)
    s = scan(small, cfg, seed=0)
    assert s.voxel_size_nm == (20.0, 10.0, 10.0)
    assert s.config["derived"]["psf_sigma_nm"] == pytest.approx([0.66 * 520 * 1.33 / 10, 0.21 * 520 / 10, 0.21 * 520 / 10])
    assert s.shape == (24, 52, 56)
    syn = scan(small, Synchrotron(), seed=0)
    assert syn.voxel_size_nm == (300.0, 300.0, 300.0) and syn.shape == (2, 2, 2)


def test_scan_carries_no_ground_truth(small):
    s = scan(small, CONFIGS["exm-serial"], seed=1)
    fields = {f.name for f in dataclasses.fields(Scan)}
    assert not fields & {"labels", "molecules", "synapses", "neurons", "skeletons"}
    def keys(obj):
        if isinstance(obj, dict):
            return set(obj) | set().union(*(keys(v) for v in obj.values()))
        return set().union(*(keys(v) for v in obj)) if isinstance(obj, list) else set()

    assert not keys(s.header()) & {"labels", "label", "molecules", "synapses", "neurons", "z_nm", "shifts_yx_nm"}
    text = json.dumps(s.header())
    for leak in ("molecule", "neuron", "synapse", "phantom_dir"):
        assert leak not in text, leak
    assert set(s.header()["config"]["derived"]) == {"voxel_size_nm", "psf_sigma_nm", "membrane_contrast"}
    assert {r["kind"] for r in s.lost_regions} <= {"hole", "slab"}  # what was lost, not how it was misaligned


def test_lost_voxels_hold_background_only(small):
    cfg = ExpansionLightSheet(barcode=SERIAL, shot_noise=False, read_noise_e=0.0, background_photons=2.5,
                              distortion_nm=0.0, damage=({"kind": "sparse", "fraction": 0.2, "radius_nm": 100.0},))
    s = scan(small, cfg, seed=2)
    img, lost = s.images.compute(), s.lost_mask.compute()
    assert s.lost_fraction > 0.01
    assert np.all(img[:, lost] == np.float32(2.5))
    assert img[0][~lost].max() > 2.5  # membranes outside the holes


@pytest.mark.parametrize("bad,needle", [
    ({"instrument": "exm", "expansion": 2.0}, "greater than or equal to 4"),
    ({"instrument": "exm", "na": 1.4}, "below the refractive index"),
    ({"instrument": "synchrotron", "tags": ["a", "b", "c"]}, "at most two tags"),
    ({"instrument": "synchrotron", "expansion": 0.5}, "greater than or equal to 1"),
    ({"instrument": "em", "voxel_size_nm_zyx": [10, 8, 8]}, "4 to 8 nm"),
    ({"instrument": "xray"}, "does not match any of the expected tags"),
    ({"instrument": "exm", "damage": [{"kind": "sparse", "fraction": 1.0}]}, "less than 1"),
])
def test_bad_configs_raise_one_line_errors(bad, needle):
    with pytest.raises(NeurophantomError, match=needle) as exc:
        instrument_config(bad)
    assert "\n" not in str(exc.value)


def test_unknown_tag_and_too_many_proteins_are_errors(small):
    with pytest.raises(NeurophantomError, match="tag 'nope' is not a protein"):
        scan(small, Synchrotron(tags=("nope",)), seed=0)
    with pytest.raises(NeurophantomError, match="holds"):
        scan(small, ExpansionLightSheet(barcode={"kind": "serial", "rounds": 2, "colors": 2, "min_distance": 2}), seed=0)
