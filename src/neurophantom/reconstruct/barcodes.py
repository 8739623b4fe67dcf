"""Barcode decoding: from per-punctum intensity vectors to protein types.

Pure functions over what a scan shows (intensity vectors and the codebook stored in the
Scan); no ground truth.

Serial barcodes (:func:`decode_serial`): in each round the brightest colour is called
(an erasure when the round is darker than ``min_signal``); the call word is compared with
every codeword in the rounds that were called, and the nearest codeword is accepted when
it is unique and within the error-correcting radius of the code: ``2 e + s < d`` for
``e`` errors and ``s`` erasures at minimum distance ``d`` (bounded-distance decoding,
MacWilliams & Sloane 1977, ch. 1; the MERFISH decoder of Chen et al. 2015 corrects one
bit with d = 4 in the same way). Otherwise the punctum is "unknown".

Parallel barcodes (:func:`decode_parallel`): the spectral vector is unmixed into
fluorophore abundances by non-negative least squares (``scipy.optimize.nnls``) with the
calibrated crosstalk matrix (linear unmixing, Zimmermann et al. 2003), and the nearest
conjugate is the codeword whose unit vector is closest to the unit abundance vector,
i.e. the conjugate holding the largest abundance sum. It is "unknown" when the runner-up
scores within ``margin`` (relative) of the best, or when the punctum is darker than
``min_signal``.

References
----------
MacWilliams FJ, Sloane NJA (1977) The Theory of Error-Correcting Codes. North-Holland.
Chen KH et al. (2015) Spatially resolved, highly multiplexed RNA profiling in single
cells. Science 348:aaa6090.
Zimmermann T, Rietdorf J, Pepperkok R (2003) Spectral imaging and its applications in
live cell microscopy. FEBS Lett 546:87-92.
Lawson CL, Hanson RJ (1974) Solving Least Squares Problems. Prentice-Hall (NNLS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from skimage.feature import peak_local_max

from .._errors import NeurophantomError
from ..types.scan import Codebook, Scan

UNKNOWN = -1
_BATCH = 4096


@dataclass(frozen=True)
class Decoded:
    """Decoded puncta: codebook row per punctum (``UNKNOWN`` = -1) and its distance or score."""

    index: np.ndarray
    distance: np.ndarray
    proteins: tuple[str, ...]

    @property
    def names(self) -> np.ndarray:
        """Protein name per punctum, ``"unknown"`` where undecided."""
        lut = np.array(list(self.proteins) + ["unknown"], dtype=object)
        return lut[np.where(self.index >= 0, self.index, len(self.proteins))]

    @property
    def unknown_fraction(self) -> float:
        return float(np.mean(self.index == UNKNOWN)) if self.index.size else 0.0


def _as_rounds(vectors: np.ndarray, book: Codebook) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == book.rounds * book.colors:
        v = v.reshape(-1, book.rounds, book.colors)
    if v.ndim != 3 or v.shape[1:] != (book.rounds, book.colors):
        raise NeurophantomError(
            f"serial vectors must be (N, rounds*colors={book.rounds * book.colors}) or (N, {book.rounds}, {book.colors}), got {v.shape}")
    return v


def call_colors(vectors: np.ndarray, min_signal: float = 0.0) -> np.ndarray:
    """Per-round colour calls (N, R): the brightest colour, or -1 (erasure) below ``min_signal``."""
    v = np.asarray(vectors, dtype=np.float64)
    calls = np.argmax(v, axis=2)
    calls[np.max(v, axis=2) <= min_signal] = -1
    return calls


def decode_serial(vectors: np.ndarray, codebook: Codebook, *, min_signal: float = 0.0) -> Decoded:
    """Decode serial barcodes from per-punctum vectors (N, R*C) in round-major channel order.

    Returns the nearest codeword when it is unique and ``2 * errors + erasures < d``.
    """
    if codebook.scheme != "serial":
        raise NeurophantomError(f"decode_serial needs a serial codebook, got {codebook.scheme!r}")
    calls = call_colors(_as_rounds(vectors, codebook), min_signal)
    d = codebook.achieved_min_distance
    cw = codebook.codewords
    index = np.full(calls.shape[0], UNKNOWN, dtype=np.int64)
    dist = np.zeros(calls.shape[0], dtype=np.int64)
    for s in range(0, calls.shape[0], _BATCH):
        c = calls[s:s + _BATCH]
        erased = c < 0
        mism = np.count_nonzero((c[:, None, :] != cw[None, :, :]) & ~erased[:, None, :], axis=2)  # (n, K)
        best = np.argmin(mism, axis=1)
        bd = mism[np.arange(c.shape[0]), best]
        unique = np.count_nonzero(mism == bd[:, None], axis=1) == 1
        ok = unique & (2 * bd + erased.sum(axis=1) < d)
        index[s:s + _BATCH] = np.where(ok, best, UNKNOWN)
        dist[s:s + _BATCH] = bd
    return Decoded(index, dist, codebook.proteins)


def unmix(vectors: np.ndarray, crosstalk: np.ndarray) -> np.ndarray:
    """Fluorophore abundances (N, F) >= 0 from spectral vectors (N, D) by NNLS per punctum."""
    x = np.asarray(crosstalk, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or x.ndim != 2 or v.shape[1] != x.shape[0]:
        raise NeurophantomError(f"unmix: vectors {v.shape} do not match crosstalk matrix {x.shape}")
    return np.stack([nnls(x, row)[0] for row in v]) if v.shape[0] else np.zeros((0, x.shape[1]))


def decode_parallel(vectors: np.ndarray, codebook: Codebook, crosstalk: np.ndarray, *,
                    margin: float = 0.1, min_signal: float = 0.0) -> Decoded:
    """Decode parallel barcodes: NNLS unmixing, then the nearest conjugate.

    Parameters
    ----------
    vectors : (N, F) array
        Background-subtracted intensity of each punctum in each spectral channel.
    codebook : Codebook
        A parallel codebook.
    crosstalk : (F, F) array
        Calibrated crosstalk matrix (the Scan's ``config["derived"]["crosstalk_matrix"]``).
    margin : float
        Unknown when the runner-up conjugate's abundance sum is within this relative margin.
    min_signal : float
        Unknown when the total abundance is at most this.

    Returns
    -------
    Decoded
        ``distance`` is the binary Hamming distance between the top-``per_tag``
        fluorophores and the chosen conjugate.
    """
    if codebook.scheme != "parallel":
        raise NeurophantomError(f"decode_parallel needs a parallel codebook, got {codebook.scheme!r}")
    a = unmix(vectors, crosstalk)
    cw = codebook.codewords.astype(np.float64)
    score = a @ cw.T  # abundance held by each conjugate, (N, K)
    order = np.argsort(-score, axis=1, kind="stable")
    best = order[:, 0]
    top = score[np.arange(a.shape[0]), best]
    second = score[np.arange(a.shape[0]), order[:, 1]] if cw.shape[0] > 1 else np.zeros(a.shape[0])
    ok = (a.sum(axis=1) > min_signal) & (top > 0) & (second < (1.0 - margin) * top)
    k = codebook.per_tag
    top_k = np.zeros_like(a, dtype=np.int64)
    np.put_along_axis(top_k, np.argsort(-a, axis=1, kind="stable")[:, :k], 1, axis=1)
    dist = np.count_nonzero(top_k != codebook.codewords[best], axis=1)
    return Decoded(np.where(ok, best, UNKNOWN), dist, codebook.proteins)


def find_puncta(image: np.ndarray, *, threshold: float, min_distance_vox: int = 2) -> np.ndarray:
    """Punctum centres (N, 3) voxel indices: local maxima above ``threshold``
    (``skimage.feature.peak_local_max``), in lexicographic order."""
    peaks = peak_local_max(np.asarray(image, dtype=np.float64), min_distance=int(min_distance_vox),
                           threshold_abs=float(threshold), exclude_border=False)
    return peaks[np.lexsort(peaks.T[::-1])] if peaks.size else np.zeros((0, 3), dtype=np.int64)


def punctum_vectors(images: np.ndarray, centres_vox: np.ndarray, *, radius_vox: int = 1,
                    background: np.ndarray | float = 0.0) -> np.ndarray:
    """Summed intensity (N, C) of each channel in a cube of ``2 r + 1`` voxels around each
    centre (clipped at the volume's edge), minus ``background`` per voxel and channel."""
    img = np.asarray(images, dtype=np.float64)
    if img.ndim != 4:
        raise NeurophantomError(f"punctum_vectors needs images (c, z, y, x), got {img.shape}")
    centres = np.asarray(centres_vox, dtype=np.int64).reshape(-1, 3)
    bg = np.broadcast_to(np.asarray(background, dtype=np.float64), (img.shape[0],))
    out = np.zeros((centres.shape[0], img.shape[0]))
    for i, (z, y, x) in enumerate(centres):
        lo = [max(0, v - radius_vox) for v in (z, y, x)]
        hi = [min(n, v + radius_vox + 1) for v, n in zip((z, y, x), img.shape[1:])]
        win = img[:, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        out[i] = win.sum(axis=(1, 2, 3)) - bg * win[0].size
    return out


def decode_scan_puncta(scan: Scan, centres_vox: np.ndarray, *, radius_vox: int = 1, **kwargs) -> Decoded:
    """Decode puncta of a barcoded Scan at ``centres_vox``: picks the scheme, channels,
    background and crosstalk matrix from the Scan's own record."""
    book = scan.codebook
    if book is None:
        raise NeurophantomError(f"this {scan.instrument} scan has no barcodes to decode")
    idx = [i for i, c in enumerate(scan.channels) if c.kind == "barcode"]
    centres = np.asarray(centres_vox, dtype=np.int64).reshape(-1, 3)
    lo = np.maximum(centres.min(axis=0) - radius_vox, 0) if centres.size else np.zeros(3, dtype=np.int64)
    hi = np.minimum(centres.max(axis=0) + radius_vox + 1, scan.shape) if centres.size else np.zeros(3, dtype=np.int64)
    img = np.asarray(scan.images[idx, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].compute())
    bg = float(scan.config.get("background_photons", 0.0))
    vec = punctum_vectors(img, centres - lo, radius_vox=radius_vox, background=bg)
    if book.scheme == "serial":
        return decode_serial(vec, book, **kwargs)
    x = np.asarray(scan.config["derived"]["crosstalk_matrix"], dtype=np.float64)
    return decode_parallel(vec, book, x, **kwargs)
