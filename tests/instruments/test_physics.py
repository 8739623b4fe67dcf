"""Instrument physics against analytic references: PSF, blur, puncta, noise, labelling,
resampling, membranes, distortion and damage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import curve_fit
from scipy.special import j1

from neurophantom.instruments.camera import NOISE_TILE, detect
from neurophantom.instruments.damage import MisalignDamage, SlabDamage, SparseDamage, draw_damage
from neurophantom.instruments.distortion import Distortion
from neurophantom.instruments.grid import ScanGrid, resample_axis
from neurophantom.instruments.labelling import label_molecules
from neurophantom.instruments.membrane import membrane_fraction, membrane_mask
from neurophantom.instruments.psf import blur, gaussian_psf_sigma_nm, render_points


def test_lateral_psf_width_matches_gaussian_fit_of_airy_pattern():
    # Independent reference: least-squares fit (over the image plane) of a Gaussian to the
    # Airy intensity (2 J1(v) / v)^2, v = 2 pi NA r / lambda. Zhang et al. 2007: 0.21 lambda/NA.
    lam, na = 520.0, 1.0
    r = np.linspace(1e-6, 1500.0, 4000)
    v = 2 * np.pi * na * r / lam
    airy = (2 * j1(v) / v) ** 2
    (s_fit,), _ = curve_fit(lambda r, s: np.exp(-r**2 / (2 * s**2)), r, airy, p0=[100.0], sigma=1 / np.sqrt(r))
    axial, lat_y, lat_x = gaussian_psf_sigma_nm(lam, na, 1.33)
    assert lat_y == lat_x
    assert abs(lat_y - s_fit) / s_fit < 0.01
    assert axial == pytest.approx(0.66 * lam * 1.33 / na**2)
    # a light sheet narrows the axial width: 1/s^2 adds
    ax_sheet = gaussian_psf_sigma_nm(lam, na, 1.33, sheet_sigma_nm=400.0)[0]
    assert ax_sheet == pytest.approx((axial**-2 + 400.0**-2) ** -0.5)


def test_blur_preserves_total_signal():
    rng = np.random.default_rng(0)
    img = np.zeros((40, 50, 60))
    img[12:28, 12:38, 12:48] = rng.random((16, 26, 36))  # margin > 4 sigma everywhere
    out = blur(img, (2.0, 1.0, 0.5))
    assert out.sum() == pytest.approx(img.sum(), rel=1e-12)
    assert out.max() < img.max()  # it did blur


def test_punctum_deposits_its_amplitude_with_gaussian_moments():
    # Each punctum integrates to its amplitude; its per-axis variance is sigma^2 + v^2/12
    # (a Gaussian binned into voxels: Sheppard's correction).
    vox = (30.0, 20.0, 20.0)
    sigma = (45.0, 30.0, 24.0)
    pos = np.array([[611.0, 402.3, 397.9], [1203.7, 1010.0, 805.5]])
    amp = np.array([1000.0, 250.0])
    img = render_points(pos, amp, sigma, vox, (0, 0, 0), (60, 80, 80))
    assert img.sum() == pytest.approx(amp.sum(), rel=1e-12)
    one = render_points(pos[:1], amp[:1], sigma, vox, (0, 0, 0), (60, 80, 80))
    grids = np.meshgrid(*[(np.arange(n) + 0.5) * v for n, v in zip(one.shape, vox)], indexing="ij")
    w = one / one.sum()
    for a in range(3):
        mean = (w * grids[a]).sum()
        var = (w * (grids[a] - mean) ** 2).sum()
        assert mean == pytest.approx(pos[0, a], abs=0.02 * vox[a])
        assert var == pytest.approx(sigma[a] ** 2 + vox[a] ** 2 / 12, rel=0.01)


def test_render_points_is_blocking_invariant():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 1200, size=(500, 3))
    amp = rng.uniform(1, 5, size=500)
    sig, vox = (30.0, 20.0, 20.0), (25.0, 25.0, 25.0)
    whole = render_points(pos, amp, sig, vox, (0, 0, 0), (48, 48, 48))
    part = render_points(pos, amp, sig, vox, (16, 8, 30), (20, 17, 18), batch_ids=np.arange(500))
    assert np.array_equal(part, whole[16:36, 8:25, 30:48])


@pytest.mark.parametrize("read_noise", [0.0, 3.0])
@pytest.mark.parametrize("table", [False, True], ids=["numpy-sampler", "table-inversion"])
def test_flat_field_noise_is_poisson_plus_read_noise(read_noise, table):
    lam = 7.5
    n = 2 * NOISE_TILE
    out = detect(np.full((n, n, n), lam), (0, 0, 0), seed=11, channel=0, shot_noise=True, read_noise_e=read_noise,
                 background=lam if table else None)
    m = out.size
    mean, var = out.mean(), out.var(ddof=1)
    expect_var = lam + read_noise**2
    assert abs(mean - lam) < 4 * np.sqrt(expect_var / m)
    # sampling SD of the variance: sqrt((mu4 - var^2 (m-3)/(m-1)) / m); Poisson mu4 = lam + 3 lam^2
    mu4 = lam + 3 * lam**2 + 6 * lam * read_noise**2 + 3 * read_noise**4
    assert abs(var - expect_var) < 4 * np.sqrt((mu4 - expect_var**2) / m)
    if read_noise == 0:
        counts = np.bincount(out.astype(np.int64).ravel())
        k = np.arange(counts.size)
        expected = stats.poisson.pmf(k, lam) * m
        keep = expected > 20
        obs = np.append(counts[keep], m - counts[keep].sum())
        exp = np.append(expected[keep], m - expected[keep].sum())
        assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_noise_free_detector_returns_expected_values():
    lam = np.random.default_rng(0).random((32, 32, 40)) * 9
    assert np.array_equal(detect(lam, (0, 0, 0), seed=0, channel=0, shot_noise=False, read_noise_e=0.0), lam)


@pytest.mark.parametrize("eff", [0.1, 0.5, 0.93])
def test_labelling_keeps_a_binomial_fraction(eff):
    m = 20000
    for seed in range(5):
        kept = int(label_molecules(m, eff, np.random.default_rng(seed)).sum())
        lo, hi = stats.binom.interval(0.999, m, eff)
        assert lo <= kept <= hi


def test_resampling_conserves_mass_and_is_blockwise_exact():
    rng = np.random.default_rng(3)
    src = rng.random((37, 29, 41))
    v_in, v_out = (40.0, 40.0, 40.0), (300.0 / 11 * 2, 17.3, 61.0)
    grid = ScanGrid.covering([n * v for n, v in zip(src.shape, v_in)], v_out)
    out = src
    for a in range(3):
        out = resample_axis(out, a, 0, src.shape[a], 0, grid.shape[a], v_in[a], v_out[a])
    assert out.sum() * np.prod(v_out) == pytest.approx(src.sum() * np.prod(v_in), rel=1e-12)
    # one output block from the inputs it needs only
    from neurophantom.instruments.grid import source_range

    lo_o, hi_o = (3, 5, 2), (9, 30, 11)
    rng_in = [source_range(lo_o[a], hi_o[a], v_in[a], v_out[a], src.shape[a]) for a in range(3)]
    blk = src[tuple(slice(a, b) for a, b in rng_in)]
    for a in range(3):
        blk = resample_axis(blk, a, rng_in[a][0], src.shape[a], lo_o[a], hi_o[a], v_in[a], v_out[a])
    assert np.array_equal(blk, out[tuple(slice(a, b) for a, b in zip(lo_o, hi_o))])


def _brute_membrane(lab: np.ndarray) -> np.ndarray:
    pad = np.pad(lab, 1, mode="edge")
    core = pad[1:-1, 1:-1, 1:-1]
    out = np.zeros(lab.shape, dtype=bool)
    for a in range(3):
        for s in (-1, 1):
            out |= np.roll(pad, s, axis=a)[1:-1, 1:-1, 1:-1] != core
    return out & (lab != 0)


def test_membrane_mask_matches_brute_force_and_fraction_is_blockwise_exact():
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 4, size=(6, 7, 8)).repeat(3, 0).repeat(3, 1).repeat(3, 2).astype(np.uint32)
    assert np.array_equal(membrane_mask(lab), _brute_membrane(lab))
    vox = (40.0, 40.0, 40.0)
    grid = ScanGrid.covering([n * v for n, v in zip(lab.shape, vox)], (25.0, 33.0, 18.0))
    whole = membrane_fraction(lab, lab.shape, vox, grid, (0, 0, 0), grid.shape)
    assert whole.min() >= 0 and whole.max() <= 1 + 1e-12
    # total stained volume is conserved by the resampling
    assert whole.sum() * np.prod(grid.voxel_size_nm) == pytest.approx(_brute_membrane(lab).sum() * 40.0**3, rel=1e-12)
    blk = membrane_fraction(lab, lab.shape, vox, grid, (5, 3, 20), (17, 20, 41))
    assert np.array_equal(blk, whole[5:17, 3:20, 20:41])


def test_distortion_field_rms_bound_and_grid_agree():
    d = Distortion.random(25.0, 2000.0, np.random.default_rng(4))
    pts = np.random.default_rng(5).uniform(0, 200_000, size=(20000, 3))  # many correlation lengths
    u = d.at_points(pts)
    assert np.all(np.abs(u) <= d.max_nm)
    assert np.sqrt((u**2).mean(axis=0)) == pytest.approx([25.0] * 3, rel=0.15)
    c = [np.linspace(0, 3000, 7), np.linspace(100, 900, 5), np.linspace(0, 5000, 9)]
    grid = d.on_grid(c)
    zz, yy, xx = np.meshgrid(*c, indexing="ij")
    ref = d.at_points(np.stack([zz.ravel(), yy.ravel(), xx.ravel()], 1))
    assert np.allclose(grid.reshape(3, -1).T, ref, atol=1e-9)
    # smooth: a step of 1% of the correlation length moves the field by ~1% of its range
    step = d.at_points(pts[:100] + 20.0) - u[:100]
    assert np.abs(step).max() < 0.05 * d.max_nm


def test_sparse_damage_loses_the_requested_fraction():
    grid = ScanGrid((64, 64, 64), (50.0, 50.0, 50.0))
    fr = []
    for seed in range(6):
        model = draw_damage([SparseDamage(fraction=0.05, radius_nm=150.0)], grid.extent_nm, seed)
        fr.append(model.lost_mask(grid, (0, 0, 0), grid.shape).mean())
    assert np.mean(fr) == pytest.approx(0.05, abs=0.01)
    assert len(set(fr)) == 6  # seeds differ


def test_slab_damage_loses_whole_sections_and_misalign_shifts_each_section():
    grid = ScanGrid((80, 16, 16), (25.0, 50.0, 50.0))  # 2000 nm deep
    model = draw_damage([SlabDamage(fraction=0.25, section_nm=250.0),
                         MisalignDamage(sigma_nm=40.0, section_nm=250.0)], grid.extent_nm, 7)
    mask = model.lost_mask(grid, (0, 0, 0), grid.shape)
    per_plane = mask.mean(axis=(1, 2))
    assert set(np.unique(per_plane)) == {0.0, 1.0}  # whole planes
    assert mask.mean() == pytest.approx(2 / 8)  # round(0.25 * 8 sections)
    assert len(model.slabs_nm) == 2 and np.all(np.diff(model.slabs_nm, axis=1) == 250.0)
    shifts = model.shift_at_z(grid.centres_nm(0, 0, 80))
    assert shifts.shape == (80, 2)
    assert len(np.unique(shifts[:, 0])) == 8  # one shift per section
    assert np.all(shifts[:10] == shifts[0])
