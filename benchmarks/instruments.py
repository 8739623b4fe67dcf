"""Benchmark: static instruments (light-sheet and synchrotron scans) in voxels per second.

A specimen of SIZE^3 voxels (default 512) is stored as a zarr label volume on disk (a
tessellation of jittered cuboid cells) with 200k molecules of two protein types. It is
scanned by

- the expansion light-sheet (11x; membrane + 2 serial colour channels; the specimen voxel is
  the light-sheet's specimen voxel, so the scan is SIZE^3 per channel), and
- the synchrotron (300 nm voxels at 11x expansion: 27 nm, reading all SIZE^3 specimen voxels),

with the local threaded scheduler, then again through a ``dask.distributed`` LocalCluster
with 2 single-threaded worker processes. The reference is a numpy memory copy of one
SIZE^3 float32 channel in the same run (the physical floor of touching the data once).

Usage: ``python benchmarks/instruments.py [--size 512] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from neurophantom.instruments import specs  # noqa: E402
from neurophantom.instruments.exm import ExpansionLightSheet  # noqa: E402
from neurophantom.instruments.specimen import Specimen  # noqa: E402
from neurophantom.instruments.static import scan  # noqa: E402
from neurophantom.instruments.synchrotron import Synchrotron  # noqa: E402

CHUNK = 128


def _labels(path: str, size: int, seed: int):
    """A SIZE^3 uint32 zarr volume: jittered cuboid cells about 40 voxels across."""
    import zarr

    rng = np.random.default_rng(seed)
    cuts = [np.unique(np.concatenate([[0], np.cumsum(rng.integers(24, 56, size=size // 24 + 2))])) for _ in range(3)]
    z = zarr.create_array(store=path, shape=(size,) * 3, chunks=(CHUNK,) * 3, dtype=np.uint32, fill_value=0)
    n = [len(c) for c in cuts]
    for i in range(0, size, CHUNK):
        idx = [np.searchsorted(c, np.arange(a, min(size, a + CHUNK)), side="right") for c, a in zip(cuts, (i, 0, 0))]
        iz = idx[0][:, None, None]
        for j in range(0, size, CHUNK):
            iy = np.searchsorted(cuts[1], np.arange(j, min(size, j + CHUNK)), side="right")[None, :, None]
            ix = np.searchsorted(cuts[2], np.arange(size), side="right")[None, None, :]
            z[i:i + CHUNK, j:j + CHUNK, :] = ((iz * n[1] + iy) * n[2] + ix).astype(np.uint32)
    return zarr.open_array(store=path, mode="r")


def _memcopy_vox_per_s(size: int, repeats: int = 3) -> float:
    src = np.random.default_rng(0).random((size,) * 3, dtype=np.float32)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return src.size / best


def _warm_up() -> None:
    import neurophantom.instruments.static  # noqa: F401


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(size: int = 512, seed: int = 0) -> dict:
    exm = ExpansionLightSheet(barcode={"kind": "serial", "rounds": 1, "colors": 2})
    syn = Synchrotron(expansion=specs.EXM_DEFAULT_EXPANSION)
    with tempfile.TemporaryDirectory() as tmp:
        labels = _labels(os.path.join(tmp, "labels.zarr"), size, seed)
        vox = exm.voxel_size_nm
        rng = np.random.default_rng(seed + 1)
        pos = rng.uniform(0, 1, size=(200_000, 3)) * np.array(vox) * size
        spec = Specimen(labels, vox, pos, rng.integers(0, 2, len(pos)), ("a", "b"))
        jobs = {"light-sheet": scan(spec, exm, seed=seed, chunks=(CHUNK,) * 3),
                "synchrotron": scan(spec, syn, seed=seed, chunks=(CHUNK,) * 3)}
        ref = _memcopy_vox_per_s(size)
        rows = {}
        for name, s in jobs.items():
            t = _time(lambda: s.images.sum().compute())
            print(f"  {name}: threads {t:.1f} s", file=sys.stderr, flush=True)
            rows[name] = {"scan_shape": [int(v) for v in s.images.shape], "seconds_threads": t,
                          "specimen_vox_per_s": size**3 / t, "scan_vox_per_s": s.images.size / t}
        from distributed import Client, LocalCluster

        # the plan (molecule table) travels once with the graph; dask warns above 10 MiB
        warnings.filterwarnings("ignore", message="Sending large graph")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(_warm_up)  # imports in the workers are not part of the scan's time
            for name, s in jobs.items():
                t = _time(lambda: s.images.sum().compute())
                print(f"  {name}: 2 workers {t:.1f} s", file=sys.stderr, flush=True)
                rows[name]["seconds_distributed"] = t
    for r in rows.values():
        r["scan_over_memcopy"] = r["scan_vox_per_s"] / ref
    return {"size": size, "memcopy_vox_per_s": ref, "rows": rows, "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine()}


def report(res: dict) -> str:
    lines = [f"static instruments on a {res['size']}^3 specimen ({res['cpus']} CPUs); "
             f"numpy memory copy {res['memcopy_vox_per_s'] / 1e6:.0f} Mvox/s",
             f"{'scan':<12} {'scan shape (c,z,y,x)':<24} {'threads s':>10} {'specimen Mvox/s':>16} "
             f"{'scan Mvox/s':>12} {'vs memcopy':>11} {'2 workers s':>12}"]
    for name, r in res["rows"].items():
        lines.append(f"{name:<12} {str(tuple(r['scan_shape'])):<24} {r['seconds_threads']:>10.1f} "
                     f"{r['specimen_vox_per_s'] / 1e6:>16.2f} {r['scan_vox_per_s'] / 1e6:>12.2f} "
                     f"{r['scan_over_memcopy']:>11.4f} {r['seconds_distributed']:>12.1f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = run(args.size)
    print(report(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()
