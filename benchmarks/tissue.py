"""Benchmark: tissue phantom rendering in voxels per second.

The default organoid (200 neurons, about 9,500 contacts) is grown with the default
TissueConfig (a volume of about 3.6e8 voxels, more than 512^3), then its label volume is
rendered chunk by chunk (128^3 chunks)

- with the local threaded scheduler (reduced to a sum, so nothing is stored),
- written to OME-Zarr (render + zstd + crc32c + chunk manifest) with the same scheduler,
- and rendered again through a ``dask.distributed`` LocalCluster with 2 single-threaded
  worker processes (the render plan travels once as a graph node).

The reference is a numpy memory copy of a 512^3 uint32 array in the same run (the
physical floor of touching the data once), reported as a ratio. Growing (routing the
neurites, placing molecules) is timed separately: it does not scale with voxels.

Usage: ``python benchmarks/tissue.py [--neurons 200] [--json out.json]``
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

from neurophantom.sources import build_source  # noqa: E402
from neurophantom.tissue import TissueConfig, grow_tissue  # noqa: E402

REF_SIZE = 512


def _memcopy_vox_per_s(size: int = REF_SIZE, repeats: int = 3) -> float:
    src = np.random.default_rng(0).integers(0, 2**31, (size,) * 3, dtype=np.uint32)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return src.size / best


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(neurons: int = 200, seed: int = 0) -> dict:
    options = {} if neurons == 200 else {"n_neurons": neurons}
    circuit = build_source("organoid", seed=seed, options=options)
    t0 = time.perf_counter()
    phantom = grow_tissue(circuit, TissueConfig(seed=seed))
    t_grow = time.perf_counter() - t0
    n = phantom.n_voxels
    if n < REF_SIZE ** 3:
        raise SystemExit(f"phantom of {n} voxels is smaller than {REF_SIZE}^3: use more neurons")
    print(f"  grow: {t_grow:.1f} s, volume {phantom.shape}", file=sys.stderr, flush=True)
    labels = phantom.labels
    t_threads = _time(lambda: labels.sum(dtype=np.uint64).compute())
    print(f"  render (threads): {t_threads:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t_write = _time(lambda: phantom.save(os.path.join(tmp, "ph")))
    print(f"  render + write OME-Zarr (threads): {t_write:.1f} s", file=sys.stderr, flush=True)
    from distributed import Client, LocalCluster

    warnings.filterwarnings("ignore", message="Sending large graph")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("neurophantom.tissue.render"))
        t_dist = _time(lambda: labels.sum(dtype=np.uint64).compute())
    print(f"  render (2 workers): {t_dist:.1f} s", file=sys.stderr, flush=True)
    ref = _memcopy_vox_per_s()
    rows = {
        "render (threads)": t_threads,
        "render + write OME-Zarr (threads)": t_write,
        "render (distributed, 2 workers)": t_dist,
    }
    return {
        "neurons": circuit.n_neurons, "contacts": int(len(circuit.synapses) + len(circuit.gap_junctions)),
        "shape": list(phantom.shape), "voxels": n, "grow_seconds": t_grow, "memcopy_vox_per_s": ref,
        "rows": {k: {"seconds": t, "vox_per_s": n / t, "over_memcopy": n / t / ref} for k, t in rows.items()},
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    }


def report(res: dict) -> str:
    lines = [f"tissue phantom: organoid of {res['neurons']} neurons, {res['contacts']} contacts, "
             f"{'x'.join(map(str, res['shape']))} = {res['voxels'] / 1e6:.0f} Mvox ({res['cpus']} CPUs); "
             f"grow {res['grow_seconds']:.1f} s; numpy memory copy {res['memcopy_vox_per_s'] / 1e6:.0f} Mvox/s",
             f"{'stage':<36} {'seconds':>8} {'Mvox/s':>9} {'vs memcopy':>11}"]
    for name, r in res["rows"].items():
        lines.append(f"{name:<36} {r['seconds']:>8.1f} {r['vox_per_s'] / 1e6:>9.1f} {r['over_memcopy']:>11.4f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=200)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = run(args.neurons)
    print(report(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()
