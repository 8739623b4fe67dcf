"""Barcode puncta: find them, decode each, count molecules of each protein type.

What one labelled molecule of protein ``t`` adds to the barcode channels is known from
the scan's own record (the instrument's settings, not the specimen): its *signature*
``S[:, t]`` (:class:`SignatureModel`):

- serial barcodes: in round ``r`` the molecule shows its codeword's colour with the
  expected brightness ``a_r = punctum_photons (1 - signal_loss)^r (1 - degradation)^r``,
  plus ``washout`` of what it showed in the round before;
- parallel barcodes: ``punctum_photons`` per fluorophore of its conjugate, spread over
  the spectral channels by the calibrated crosstalk matrix;
- direct tags (synchrotron): ``tag_photons`` in the tag's own channel.

Per chunk (with a halo that holds every punctum's spread), the background-subtracted
channels are summed; puncta are the local maxima of the sum above ``threshold_sd``
background standard deviations (``skimage.feature.peak_local_max``) and every bright
voxel, and every voxel within ``basin_dilation_vox`` of one (a punctum's dim edge), is
given to one punctum by a watershed of the sum (``skimage.segmentation``), so each photon
is counted once and none is left out for being faint. A punctum's photons divided by one molecule's photons give
its molecule number ``n``. Every punctum's counts are the non-negative least-squares
solution ``S c = v`` (Lawson & Hanson 1974): photons are conserved, a noise-free mixture
(a crowded synapse) is solved exactly whenever the signatures are linearly independent,
and under noise it is a soft-decision decoder. A punctum with ``n < single_max`` is also
decoded as one molecule with the code's own decoder (:mod:`.barcodes`: serial colour calls
and the nearest codeword within the code's correcting radius, parallel NNLS unmixing and
the nearest conjugate); its call is recorded, and when the call is ambiguous ("unknown")
its molecules are counted as undecided rather than typed.

References
----------
Lawson CL, Hanson RJ (1974) Solving Least Squares Problems. Prentice-Hall.
Chen KH et al. (2015) Spatially resolved, highly multiplexed RNA profiling in single
cells. Science 348:aaa6090 (codeword decoding of puncta).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation, generate_binary_structure
from scipy.optimize import nnls
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from .._errors import NeurophantomError
from ..types.scan import Scan
from .barcodes import UNKNOWN, decode_parallel, decode_serial
from .chunks import Box, Grid, WorkStore, read_box, run_tasks
from .config import DecodeConfig

MIXTURE = -2


@dataclasses.dataclass(frozen=True)
class SignatureModel:
    """Expected photons ``signatures[d, t]`` of one labelled molecule of ``proteins[t]`` in
    barcode channel ``channels[d]``, the background and noise of each channel, and the
    scan's labelling efficiency."""

    scheme: str  # "serial" | "parallel" | "tag"
    proteins: tuple[str, ...]
    channels: tuple[int, ...]
    signatures: np.ndarray
    background: np.ndarray
    noise_sd: np.ndarray
    efficiency: float
    round_brightness: np.ndarray | None = None
    crosstalk: np.ndarray | None = None
    codebook: object = None

    @property
    def photons_per_molecule(self) -> np.ndarray:
        return self.signatures.sum(axis=0)

    @property
    def identifiable(self) -> bool:
        """Whether mixtures have one solution (signatures linearly independent)."""
        return int(np.linalg.matrix_rank(self.signatures)) == self.signatures.shape[1]


def _cfg(scan: Scan, key: str, default):
    v = scan.config.get(key, default)
    return default if v is None else v


def codebook_signature_model(book, channels: tuple[int, ...], *, punctum_photons: float, background_photons: float,
                             read_noise_e: float, shot_noise: bool, efficiency: float, barcode: Mapping[str, Any],
                             crosstalk: np.ndarray | None) -> SignatureModel:
    """The signature model of a barcode codebook from the instrument's settings (what a
    scan's record holds): serial losses from ``barcode`` (``signal_loss``,
    ``degradation``, ``washout``), parallel spectra from the calibrated ``crosstalk``."""
    bg = np.full(len(channels), float(background_photons))
    photons = float(punctum_photons)
    if book.scheme == "serial":
        r_n, c_n = book.rounds, book.colors
        rounds = np.arange(r_n)
        a = photons * (1.0 - float(barcode.get("signal_loss", 0.0))) ** rounds * (1.0 - float(barcode.get("degradation", 0.0))) ** rounds
        w = float(barcode.get("washout", 0.0))
        sig = np.zeros((r_n, c_n, len(book.proteins)))
        for t, word in enumerate(book.codewords):
            shown = np.zeros(c_n)
            for r in range(r_n):
                fresh = np.zeros(c_n)
                fresh[word[r]] = a[r]
                shown = fresh + w * shown
                sig[r, :, t] = shown
        sig = sig.reshape(r_n * c_n, -1)
        x = None
    else:
        x = np.asarray(crosstalk, dtype=np.float64)
        sig = photons * x @ book.codewords.T.astype(np.float64)
        a = None
    noise = np.sqrt((bg if shot_noise else 0.0) + float(read_noise_e) ** 2)
    return SignatureModel(book.scheme, book.proteins, tuple(channels), sig, bg, noise, float(efficiency), a, x, book)


def signature_model(scan: Scan) -> SignatureModel | None:
    """The signature model of a scan's barcodes or tags (None when it has neither)."""
    shot = bool(_cfg(scan, "shot_noise", True))
    read = float(_cfg(scan, "read_noise_e", 0.0))
    eff = float(_cfg(scan, "labelling_efficiency", 1.0))
    book = scan.codebook
    if book is not None:
        x = scan.config["derived"]["crosstalk_matrix"] if book.scheme == "parallel" else None
        return codebook_signature_model(
            book, tuple(i for i, c in enumerate(scan.channels) if c.kind == "barcode"),
            punctum_photons=float(_cfg(scan, "punctum_photons", 1.0)), background_photons=float(_cfg(scan, "background_photons", 0.0)),
            read_noise_e=read, shot_noise=shot, efficiency=eff, barcode=scan.config.get("barcode", {}) or {}, crosstalk=x)
    tags = [(i, c.protein) for i, c in enumerate(scan.channels) if c.kind == "tag"]
    if not tags:
        return None
    photons = float(_cfg(scan, "tag_photons", 1.0))
    bg = np.full(len(tags), float(_cfg(scan, "tag_background", 0.0)))
    noise = np.sqrt((bg if shot else 0.0) + read ** 2)
    return SignatureModel("tag", tuple(p for _, p in tags), tuple(i for i, _ in tags), photons * np.eye(len(tags)),
                          bg, noise, eff)


def decode_vectors(vectors: np.ndarray, model: SignatureModel, cfg: DecodeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Molecule counts (N, K) of each punctum, its call (type index, ``UNKNOWN`` = -1 or
    ``MIXTURE`` = -2) and its undecided molecules (N,), from summed vectors (N, D).

    Counts are the non-negative least-squares solution of ``S c = v`` for every punctum
    (photons conserved; exact for noise-free data when the signatures are independent,
    and a soft-decision decoder under noise). A punctum of fewer than ``single_max``
    molecules is also decoded as one molecule by the code's own decoder; when that call
    is ambiguous (unknown), its molecules are counted as undecided instead of typed.
    """
    v = np.asarray(vectors, dtype=np.float64).reshape(-1, len(model.channels))
    n_pts, k = v.shape[0], len(model.proteins)
    counts = np.zeros((n_pts, k))
    call = np.full(n_pts, MIXTURE, dtype=np.int64)
    unknown = np.zeros(n_pts)
    if n_pts == 0:
        return counts, call, unknown
    if model.scheme == "tag":
        counts = np.clip(v / model.photons_per_molecule[None, :], 0.0, None)
        return counts, np.argmax(v, axis=1), unknown
    for i in range(n_pts):
        counts[i] = nnls(model.signatures, v[i])[0]
    n_hat = np.clip(v.sum(axis=1), 0.0, None) / float(model.photons_per_molecule.mean())
    single = n_hat < cfg.single_max
    if single.any():
        vs = v[single]
        if model.scheme == "serial":
            book = model.codebook
            # A basin whose light sums to nothing (a noise peak among darker voxels) has no
            # molecule to normalise by; its rounds read as erasures.
            per = np.where(n_hat[single] > 0, n_hat[single], 1.0)
            norm = vs.reshape(-1, book.rounds, book.colors) / (model.round_brightness[None, :, None] * per[:, None, None])
            dec = decode_serial(norm.reshape(vs.shape[0], -1), book, min_signal=cfg.erasure_fraction)
        else:
            dec = decode_parallel(vs, model.codebook, model.crosstalk, margin=cfg.margin, min_signal=0.0)
        rows = np.flatnonzero(single)
        call[rows] = dec.index
        undecided = rows[dec.index == UNKNOWN]
        unknown[undecided] = n_hat[undecided]
        counts[undecided] = 0.0
    return counts, call, unknown


def _halo(scan: Scan) -> tuple[int, int, int]:
    """Voxels a punctum spreads from its molecule (the instrument's 4-sigma PSF radius) plus two."""
    sigma = scan.config.get("derived", {}).get("psf_sigma_nm", (0.0, 0.0, 0.0))
    return tuple(int(math.ceil(4.0 * float(s) / v)) + 2 for s, v in zip(sigma, scan.voxel_size_nm))


def _channel(scan: Scan, model: SignatureModel, d: int, box: Box) -> np.ndarray:
    """Background-subtracted barcode channel ``d`` (z, y, x) of one chunk."""
    img = read_box(scan.images[model.channels[d]], box.lo, box.hi)
    return img.astype(np.float64) - model.background[d]


def _chunk_total(box: Box, scan: Scan, store: WorkStore, model: SignatureModel) -> None:
    sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
    total = np.zeros(box.shape)
    for d in range(len(model.channels)):
        total += _channel(scan, model, d, box)
    total[np.asarray(store["lost"][sl]) > 0] = 0.0
    store["barcode_total"][sl] = total.astype(np.float32)


def _chunk_basins(box: Box, grid: Grid, store: WorkStore, tau: float, halo, dilation: int = 0) -> int:
    """Watershed basins of the summed signal; a basin's id is 1 + its peak's global raster
    index. Basins cover the voxels above ``tau`` grown by ``dilation`` voxels, whatever
    their value: a punctum's dim edge (below the threshold, above the background) is
    counted, and the noise of the added voxels averages out (zero mean after background
    subtraction) instead of being selected for its sign."""
    lo = tuple(a - h for a, h in zip(box.lo, halo))
    hi = tuple(b + h for b, h in zip(box.hi, halo))
    total = read_box(store["barcode_total"], lo, hi).astype(np.float64)
    peaks = peak_local_max(total, min_distance=1, threshold_abs=tau, exclude_border=False)
    sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
    if peaks.size == 0:
        store["basins"][sl] = 0
        return 0
    markers = np.zeros(total.shape, dtype=np.int64)
    gpk = peaks + np.asarray(lo)
    markers[tuple(peaks.T)] = grid.flat_index(*gpk.T) + 1
    mask = total > tau
    if dilation:
        mask = binary_dilation(mask, structure=generate_binary_structure(3, 1), iterations=int(dilation))
    basins = watershed(-total, markers=markers, mask=mask, connectivity=1)
    store["basins"][sl] = basins[tuple(slice(h, h + s) for h, s in zip(halo, box.shape))]
    inside = np.all((gpk >= np.asarray(box.lo)) & (gpk < np.asarray(box.hi)), axis=1)
    return int(inside.sum())


def _chunk_sums(box: Box, scan: Scan, store: WorkStore, model: SignatureModel) -> pd.DataFrame:
    """Per basin met in this chunk: summed channels, light-weighted coordinate sums, light per segment."""
    sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
    bas = np.asarray(store["basins"][sl]).ravel()
    sel = bas > 0
    if not sel.any():
        return pd.DataFrame()
    ids, lab = np.unique(bas[sel], return_inverse=True)
    w = np.clip(np.asarray(store["barcode_total"][sl], dtype=np.float64).ravel()[sel], 0.0, None)
    pos = np.nonzero(sel.reshape(box.shape))
    out = {"basin": ids, "w": np.bincount(lab, weights=w)}
    for a, name in enumerate("zyx"):
        out[name] = np.bincount(lab, weights=w * (pos[a] + box.lo[a]))
    for d in range(len(model.channels)):
        out[f"c{d}"] = np.bincount(lab, weights=_channel(scan, model, d, box).ravel()[sel])
    seg = np.asarray(store["segmentation"][sl]).ravel()[sel].astype(np.int64)
    pair = pd.DataFrame({"basin": ids[lab], "segment": seg, "w": w}).groupby(["basin", "segment"], sort=False)["w"].sum()
    return pd.DataFrame(out), pair.reset_index()


def find_and_decode(scan: Scan, grid: Grid, store: WorkStore, cfg: DecodeConfig) -> tuple[SignatureModel | None, pd.DataFrame]:
    """Every punctum of the scan (one row each, global voxel coordinates) with its counts.

    Three passes over the chunks, each reading a scan chunk without halo: the summed
    barcode signal; watershed basins of that sum (with a halo from the stored sum, basin
    ids are the peaks' global positions, so neighbouring chunks agree); per-basin sums of
    every channel, reduced over chunks, then decoded (:func:`decode_vectors`).
    """
    model = signature_model(scan)
    if model is None:
        return None, pd.DataFrame()
    if np.any(model.photons_per_molecule <= 0):
        raise NeurophantomError("barcode decoding: the scan's record gives molecules no photons (punctum_photons = 0)")
    store.array("barcode_total", np.float32)
    store.array("basins", np.int64)
    run_tasks(lambda b: _chunk_total(b, scan, store, model), grid.boxes)
    sd = float(np.sqrt(np.sum(model.noise_sd ** 2)))
    tau = max(cfg.threshold_sd * sd, cfg.min_molecule_fraction * float(model.photons_per_molecule.min()))
    halo = _halo(scan)
    run_tasks(lambda b: _chunk_basins(b, grid, store, tau, halo, cfg.basin_dilation_vox), grid.boxes)
    parts = [p for p in run_tasks(lambda b: _chunk_sums(b, scan, store, model), grid.boxes) if len(p)]
    cols = ["z", "y", "x", "peak_z", "peak_y", "peak_x", "segment", "photons", "call", "unknown", *model.proteins]
    if not parts:
        return model, pd.DataFrame({c: np.zeros(0) for c in cols})
    sums = pd.concat([p[0] for p in parts], ignore_index=True).groupby("basin", sort=True).sum()
    pairs = pd.concat([p[1] for p in parts], ignore_index=True).groupby(["basin", "segment"], sort=True)["w"].sum().reset_index()
    pairs = pairs[pairs["segment"] > 0].sort_values(["basin", "w"], ascending=[True, False], kind="stable").drop_duplicates("basin")
    owner = pd.Series(pairs["segment"].to_numpy(), index=pairs["basin"].to_numpy()).reindex(sums.index, fill_value=0)
    vec = sums[[f"c{d}" for d in range(len(model.channels))]].to_numpy()
    counts, call, unknown = decode_vectors(vec, model, cfg)
    w = np.maximum(sums["w"].to_numpy(), 1e-300)
    peak = np.stack(np.unravel_index(sums.index.to_numpy() - 1, grid.shape), axis=1)
    df = pd.DataFrame({"z": sums["z"].to_numpy() / w, "y": sums["y"].to_numpy() / w, "x": sums["x"].to_numpy() / w,
                       "peak_z": peak[:, 0], "peak_y": peak[:, 1], "peak_x": peak[:, 2],
                       "segment": owner.to_numpy(dtype=np.int64), "photons": vec.sum(axis=1), "call": call, "unknown": unknown})
    for t, p in enumerate(model.proteins):
        df[p] = counts[:, t]
    return model, df.reset_index(drop=True)
