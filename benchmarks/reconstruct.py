"""Benchmark: reconstruction throughput (segmentation and barcode decoding) in voxels per second.

A synthetic scan of SIZE^3 voxels (default 512, 40 nm voxels) is written to disk as a
Scan folder (OME-Zarr): cuboid cells about 40 voxels across, separated by one voxel of
extracellular space along x and touching along y and z (so there are contacts), each
outlined by a bright one-voxel membrane (the stain the instruments draw:
``find_boundaries(mode="inner")``); 200k molecules of 8 protein types on cell surfaces,
read out by a serial barcode of 4 rounds x 4 colours (17 channels in all). It is then
reconstructed (skeletons off: this measures segmentation and decoding) with the local
threaded scheduler.

Reported: voxels per second of the segmentation stage and of the decoding stage, the time
of connected-components-3d alone on the same volume's dark (non-membrane) mask (one
in-memory call, the library's floor for the labelling step) and their ratio, every
stage's time, and memory: the peak resident set (``resource.getrusage``; it includes the
pages of the memory-mapped scratch volumes the operating system kept resident) and the
peak anonymous memory (heap: ``RssAnon`` of ``/proc/self/status``, sampled every 0.1 s).

Usage: ``python benchmarks/reconstruct.py [--size 512] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import dask.array as da  # noqa: E402

from neurophantom.instruments.codebook import design_serial_codebook  # noqa: E402
from neurophantom.instruments.serial import SerialBarcode, serial_amplitudes, serial_channels  # noqa: E402
from neurophantom.reconstruct import ReconstructConfig, reconstruct  # noqa: E402
from neurophantom.types.scan import ChannelInfo, Scan  # noqa: E402

CHUNK = 128
VOXEL_NM = 40.0
PROTEINS = ("ampa", "gaba_a", "gaba_b", "kca", "kdr", "leak", "na", "nmda")
BARCODE = SerialBarcode(rounds=4, colors=4, min_distance=3, degradation=0.0, registration_nm=0.0)
PHOTONS, MEMBRANE, BACKGROUND = 300.0, 200.0, 5.0


def _cuts(size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.unique(np.concatenate([[0], np.cumsum(rng.integers(28, 52, size=size // 28 + 2))])) for _ in range(3)]


def _labels(cuts, lo, hi) -> np.ndarray:
    """Cell labels of voxels lo..hi (any bounds; outside the volume 0): a cuboid tessellation
    whose cells leave their last voxel along x empty (extracellular space)."""
    idx = [np.searchsorted(c, np.arange(a, b), side="right") for c, a, b in zip(cuts, lo, hi)]
    n = [len(c) + 1 for c in cuts]
    lab = ((idx[0][:, None, None] * n[1] + idx[1][None, :, None]) * n[2] + idx[2][None, None, :]).astype(np.uint32)
    x = np.arange(lo[2], hi[2])
    gap = np.isin(x + 1, cuts[2])  # the last voxel of each cell along x
    lab[:, :, gap] = 0
    return lab


def _membrane(cuts, size, block_info=None) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    loc = block_info[None]["array-location"][1:]  # (z, y, x) after the channel axis
    lo = [a - 1 for a, _ in loc]
    hi = [b + 1 for _, b in loc]
    lab = _labels(cuts, lo, hi)
    for a in range(3):  # the volume's cut faces are not membranes: repeat the edge voxel
        if lo[a] < 0:
            lab[(slice(None),) * a + (0,)] = lab[(slice(None),) * a + (1,)]
        if hi[a] > size:
            lab[(slice(None),) * a + (-1,)] = lab[(slice(None),) * a + (-2,)]
    m = find_boundaries(lab, connectivity=1, mode="inner") & (lab > 0)
    return (BACKGROUND + MEMBRANE * m[1:-1, 1:-1, 1:-1]).astype(np.float32)[None]


def _molecules(cuts, size: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` molecule voxels on cell surfaces (a face voxel of a random cell) and their types."""
    rng = np.random.default_rng(seed + 1)
    pos = rng.integers(1, size - 1, size=(n, 3))
    axis = rng.integers(0, 3, size=n)
    for a in range(3):  # move each molecule onto the low face of its cell along one axis
        start = cuts[a][np.searchsorted(cuts[a], pos[:, a], side="right") - 1]
        pos[axis == a, a] = start[axis == a]
    ok = ~np.isin(pos[:, 2] + 1, cuts[2])
    return pos[ok], rng.integers(0, len(PROTEINS), size=int(ok.sum()))


def _barcode(pos, amp, channel: int, block_info=None) -> np.ndarray:
    loc = block_info[None]["array-location"]
    lo = np.array([a for a, _ in loc[1:]])
    hi = np.array([b for _, b in loc[1:]])
    out = np.full(tuple(hi - lo), BACKGROUND, dtype=np.float64)
    sel = np.all((pos >= lo) & (pos < hi), axis=1)
    np.add.at(out, tuple((pos[sel] - lo).T), amp[sel, channel])
    return out.astype(np.float32)[None]


def make_scan(folder: str, size: int, seed: int = 0, n_molecules: int = 200_000) -> Scan:
    """Write the synthetic Scan folder and open it."""
    cuts = _cuts(size, seed)
    chunks = ((1,), *((CHUNK,) * (size // CHUNK) + ((size % CHUNK,) if size % CHUNK else ()),) * 3)
    memb = da.map_blocks(_membrane, cuts, size, chunks=chunks, dtype=np.float32, meta=np.empty((0,) * 4, np.float32))
    book = design_serial_codebook(PROTEINS, BARCODE.rounds, BARCODE.colors, BARCODE.min_distance)
    pos, prot = _molecules(cuts, size, n_molecules, seed)
    amp = serial_amplitudes(book.codewords[prot], np.full(len(prot), PHOTONS), BARCODE, np.random.default_rng(seed))
    codes = [da.map_blocks(_barcode, pos, amp, c, chunks=chunks, dtype=np.float32, meta=np.empty((0,) * 4, np.float32))
             for c in range(amp.shape[1])]
    images = da.concatenate([memb, *codes], axis=0)
    config = {"instrument": "exm", "punctum_photons": PHOTONS, "background_photons": BACKGROUND, "shot_noise": False,
              "read_noise_e": 0.0, "labelling_efficiency": 1.0, "barcode": BARCODE.model_dump(mode="json"),
              "derived": {"membrane_contrast": "bright", "psf_sigma_nm": [0.0, 0.0, 0.0]}}
    channels = (ChannelInfo("membrane", "membrane"), *serial_channels(BARCODE))
    Scan(images=images, channels=channels, voxel_size_nm=(VOXEL_NM,) * 3, instrument="exm", config=config,
         instrument_seconds=0.0, codebook=book).save(folder)
    return Scan.load(folder)


def _cc3d_seconds(scan: Scan, threshold: float) -> float:
    import cc3d

    dark = np.asarray(scan.images[0].compute()) <= threshold
    t = time.perf_counter()
    cc3d.connected_components(dark, connectivity=6)
    return time.perf_counter() - t


class _AnonPeak:
    """Peak of ``RssAnon`` (MB) sampled in a thread (Linux; 0 elsewhere)."""

    def __init__(self):
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                with open("/proc/self/status") as fh:
                    for line in fh:
                        if line.startswith("RssAnon:"):
                            self.peak = max(self.peak, float(line.split()[1]) / 1024.0)
            except OSError:
                return
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(size: int = 512, seed: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="np-bench-recon-") as tmp, _AnonPeak() as anon:
        t = time.perf_counter()
        scan = make_scan(os.path.join(tmp, "scan"), size, seed)
        t_make = time.perf_counter() - t
        t = time.perf_counter()
        rec = reconstruct(scan, ReconstructConfig(morphology={"skeletons": False}), workdir=os.path.join(tmp, "work"))
        t_total = time.perf_counter() - t
        tim = rec.record["timings"]
        thr = rec.record["segmentation"]["membrane"]["threshold"]
        t_cc3d = _cc3d_seconds(scan, thr)
        n = size ** 3
        out = {
            "size": size, "voxels": n, "channels": len(scan.channels), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "make_scan_s": t_make, "reconstruct_s": t_total, "timings": tim,
            "segmentation_voxels_per_s": n / tim["segment_s"], "decoding_voxels_per_s": n / tim["decode_s"],
            "cc3d_s": t_cc3d, "cc3d_voxels_per_s": n / t_cc3d, "segmentation_over_cc3d": tim["segment_s"] / t_cc3d,
            "neurons": rec.circuit.n_neurons, "synapse_partners": rec.circuit.n_synapse_partners,
            "puncta": int(len(rec.puncta)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "peak_anon_mb": anon.peak,
        }
        del rec
    return out


def report(r: dict) -> str:
    t = r["timings"]
    return "\n".join([
        f"reconstruct {r['size']}^3 voxels x {r['channels']} channels on {r['cores']} cores: {r['reconstruct_s']:.1f} s "
        f"({r['neurons']} neurons, {r['synapse_partners']} synapse partners, {r['puncta']} puncta)",
        f"  stages (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items()),
        f"reconstruct segmentation_voxels_per_s={r['segmentation_voxels_per_s']:.3g}",
        f"reconstruct decoding_voxels_per_s={r['decoding_voxels_per_s']:.3g}",
        f"reconstruct cc3d_alone_voxels_per_s={r['cc3d_voxels_per_s']:.3g} "
        f"segmentation_time_over_cc3d={r['segmentation_over_cc3d']:.1f}",
        f"reconstruct peak_rss_mb={r['peak_rss_mb']:.0f} peak_anon_mb={r['peak_anon_mb']:.0f} "
        f"(scan volume {r['voxels'] * 4 * r['channels'] / 2**20:.0f} MB as float32)",
    ])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--json", type=str, default=None)
    a = p.parse_args(argv)
    res = run(a.size)
    print(report(res), flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()
