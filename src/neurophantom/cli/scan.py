"""``neurophantom scan``: image a phantom with a static instrument and write a Scan folder."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .._errors import NeurophantomError
from . import app
from ._common import check_seed, console, overwrite_option, prepare_out
from ._common import out as stdout
from ._values import guard_size, parse_sets


def _human_seconds(s: float) -> str:
    for unit, n in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s >= n:
            return f"{s / n:.3g} {unit}"
    return f"{s:.3g} s"


#: ``--barcode`` when none is given for exm: 6 fluorophores, 2 per tag, 15 conjugates at
#: Hamming distance 2 (enough for the organoid's 9 receptor and channel types; 7 channels).
DEFAULT_BARCODE = "parallel:fluorophores=6,per_tag=2"


def build_config(instrument: str, expansion: Optional[float], barcode: Optional[str], damage: list[str],
                 tags: Optional[str], overrides: list[str], *, phantom_voxel_nm: Optional[tuple] = None):
    """The validated instrument config from the CLI options.

    With ``phantom_voxel_nm`` and no ``camera_voxel_nm`` given, the exm camera voxel is the
    phantom's voxel times the expansion, so the scan samples the specimen at the phantom's
    own resolution: a finer camera adds voxels (the light-sheet camera's native
    200 x 100 x 100 nm at 11x is 85 times more) but no information the phantom holds.
    exm scans carry :data:`DEFAULT_BARCODE` unless ``--barcode none``.
    """
    from ..instruments import specs
    from ..instruments.parse import parse_barcode, parse_damage
    from ..instruments.static import instrument_config

    instrument = instrument.strip().lower()
    if instrument not in ("exm", "synchrotron", "em"):
        raise NeurophantomError(f"unknown instrument {instrument!r} (expected exm | synchrotron | em)")
    data: dict = {"instrument": instrument}
    if expansion is not None:
        if not expansion >= 1:
            raise NeurophantomError(f"--expansion must be >= 1, got {expansion:g}")
        if instrument == "em":
            raise NeurophantomError("--expansion does not apply to em")
        data["expansion"] = expansion
    if barcode is None and instrument == "exm":
        barcode = DEFAULT_BARCODE
    if barcode and barcode.strip().lower() != "none":
        if instrument != "exm":
            raise NeurophantomError(f"barcodes need the exm instrument; {instrument} reads no spectral barcodes")
        data["barcode"] = parse_barcode(barcode).model_dump()
    if tags:
        if instrument != "synchrotron":
            raise NeurophantomError("--tags applies to the synchrotron instrument")
        data["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    data["damage"] = [parse_damage(d).model_dump() for d in damage]
    data.update(parse_sets(overrides))
    if instrument == "exm" and phantom_voxel_nm is not None and "camera_voxel_nm" not in data:
        e = float(data.get("expansion", specs.EXM_DEFAULT_EXPANSION))
        data["camera_voxel_nm"] = [float(v) * e for v in phantom_voxel_nm]
    return instrument_config(data)


def output_bytes(config, extent_nm) -> tuple[float, str]:
    """Bytes the scan images will take (float32, before compression) and a description."""
    from ..instruments.exm import SerialBarcode
    from ..instruments.grid import ScanGrid

    grid = ScanGrid.covering(extent_nm, config.voxel_size_nm)
    n = 1
    bc = getattr(config, "barcode", None)
    if bc is not None:
        n += bc.rounds * bc.colors if isinstance(bc, SerialBarcode) else bc.fluorophores
    n += len(getattr(config, "tags", ()) or ())
    detail = (f"{n} channel{'s' if n > 1 else ''} x {'x'.join(map(str, grid.shape))} voxels of "
              f"{'x'.join(f'{v:.3g}' for v in config.voxel_size_nm)} nm")
    return 4.0 * n * grid.n_voxels, detail


def _region(text: Optional[str]):
    """``Z0:Z1,Y0:Y1,X0:X1`` -> ((z0, y0, x0), (z1, y1, x1))."""
    if text is None:
        return None
    try:
        parts = [p.split(":") for p in text.split(",")]
        if len(parts) != 3 or any(len(p) != 2 for p in parts):
            raise ValueError
        lo, hi = zip(*((int(a), int(b)) for a, b in parts))
    except ValueError:
        raise NeurophantomError(f"--region expects Z0:Z1,Y0:Y1,X0:X1 in voxels, got {text!r}") from None
    return lo, hi


def write_preview(scan_store: Path, channels: list[str], path: Path) -> None:
    """A PNG with the middle z slice of every channel, read back from the written store."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_write_bytes
    from ..io.omezarr import read_ome_zarr

    img = read_ome_zarr(scan_store).data
    z = img.shape[1] // 2
    slices = np.asarray(img[:, z:z + 1].compute())[:, 0]  # slices, not ints: the verified reader takes slices
    n = slices.shape[0]
    cols = min(n, 6)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        lo, hi = np.percentile(slices[i], [1, 99.5])
        ax.imshow(slices[i], cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        ax.set_title(channels[i], fontsize=8)
    fig.suptitle(f"z = {z} (middle slice)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def info_scan(path: Path) -> dict:
    """Summary of a Scan folder for ``neurophantom info``."""
    from ..types.scan import Scan

    s = Scan.load(path)
    return {
        "kind": "scan", "path": str(path), "instrument": s.instrument, "shape": list(s.shape),
        "voxel_size_nm": list(s.voxel_size_nm), "channels": [c.name for c in s.channels],
        "instrument_seconds": s.instrument_seconds, "lost_fraction": s.lost_fraction,
        "codebook": None if s.codebook is None else {
            "scheme": s.codebook.scheme, "proteins": len(s.codebook.proteins),
            "min_distance": s.codebook.achieved_min_distance, "capacity": s.codebook.capacity},
        "seed": s.seed,
    }


def _check_size(spec, config, box, chunk: int, out: Path) -> None:
    """Refuse a scan grid that could not be written (free disk) or previewed (memory)."""
    import shutil

    from ..io import check_memory
    from ..io._limits import human_bytes
    from .._errors import ResourceLimitError

    extent = spec.extent_nm if box is None else tuple((b - a) * v for a, b, v in zip(*box, spec.voxel_size_nm))
    shape = [max(1, math.ceil(e / v - 1e-9)) for e, v in zip(extent, config.voxel_size_nm)]
    voxels = math.prod(shape)
    chunks = math.prod(-(-s // chunk) for s in shape)
    if chunks > 10_000_000:
        raise ResourceLimitError(f"a scan grid of {shape} voxels is {chunks:.3g} chunks of {chunk}^3 (at most 10^7)")
    check_memory(4 * shape[1] * shape[2] * 8, f"one z slice of the scan grid ({shape[1]} x {shape[2]} voxels)")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(parent).free
    if 4 * voxels > free:
        raise ResourceLimitError(f"a scan of {shape} voxels needs at least {human_bytes(4 * voxels)} per channel, "
                                 f"more than the {human_bytes(free)} free at {parent}")


@app.command("scan")
def scan_cmd(
    phantom: Path = typer.Argument(..., help="phantom folder (written by `neurophantom tissue`)"),
    out: Path = typer.Option(..., "--out", help="output folder: scan.ome.zarr, scan.json, scan.png"),
    instrument: str = typer.Option(..., "--instrument", help="exm | synchrotron | em"),
    expansion: Optional[float] = typer.Option(None, "--expansion", help="linear expansion factor (exm 4-20, default 11; synchrotron >= 1, default 1)"),
    barcode: Optional[str] = typer.Option(None, "--barcode", help=f"serial:rounds=6,colors=4 | parallel:fluorophores=8,per_tag=3 | none (exm; default {DEFAULT_BARCODE}); add ,min_distance=D"),
    damage: List[str] = typer.Option([], "--damage", help="sparse:FRACTION | slabs:FRACTION | misalign:SIGMA_NM (repeatable; ,radius_nm= ,section_nm=)"),
    tags: Optional[str] = typer.Option(None, "--tags", help="synchrotron: up to two protein names, comma separated"),
    overrides: List[str] = typer.Option([], "--set", help="any instrument field as key=value (e.g. punctum_photons=100, camera_voxel_nm=440,440,440)"),
    seed: int = typer.Option(0, "--seed", help="seed of every random draw of the scan"),
    region: Optional[str] = typer.Option(None, "--region", help="image only specimen voxels Z0:Z1,Y0:Y1,X0:X1"),
    chunk: int = typer.Option(128, "--chunk", help="chunk edge (voxels) for computing and storing; results do not depend on it"),
    overwrite: bool = overwrite_option(),
    yes: bool = typer.Option(False, "--yes", help="write even if the scan is larger than the size limit (16 GB)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the size the scan would write and exit"),
) -> None:
    """Image a phantom and write DIR/scan.ome.zarr, DIR/scan.json and DIR/scan.png."""
    from ..instruments.specimen import Specimen
    from ..instruments.static import scan
    from ..io import atomic_dir
    from ..types.phantom import Phantom

    from ..io.omezarr import verify_ome_zarr

    check_seed(seed)
    if not 8 <= chunk <= 4096:
        raise NeurophantomError(f"--chunk must be in [8, 4096], got {chunk}")
    prepare_out(out, "scan", inputs=[phantom], overwrite=overwrite)
    ph = Phantom.load(phantom)
    config = build_config(instrument, expansion, barcode, damage, tags, overrides, phantom_voxel_nm=ph.voxel_size_nm)
    verify_ome_zarr(phantom / "phantom.ome.zarr")  # every chunk, before any work or output
    spec = Specimen.from_phantom(ph)
    box = _region(region)
    _check_size(spec, config, box, chunk, out)
    extent = spec.extent_nm if box is None else tuple((b - a) * v for a, b, v in zip(*box, spec.voxel_size_nm))
    nbytes, detail = output_bytes(config, extent)
    size = guard_size("scan", nbytes, out, yes=yes, dry_run=dry_run, detail=detail,
                      shrink="image a part with --region, or coarser voxels with --set camera_voxel_nm=Z,Y,X")
    if size is None:
        return
    result = scan(spec, config, seed=seed, chunks=(chunk, chunk, chunk), region=box)
    volume_um3 = spec.volume_um3 if box is None else float(np.prod([(b - a) * v for a, b, v in zip(*box, spec.voxel_size_nm)])) * 1e-9
    console.print(size, highlight=False)
    with atomic_dir(out) as tmp:
        result.write_files(tmp, progress=True)
        write_preview(tmp / "scan.ome.zarr", [c.name for c in result.channels], tmp / "scan.png")
    stdout.print(f"real-instrument time: {result.instrument_seconds:.6g} s ({_human_seconds(result.instrument_seconds)}) "
                 f"for {volume_um3:.6g} um^3 of specimen", soft_wrap=True)
    stdout.print(f"lost fraction: {result.lost_fraction:.4g}" + (
        f"; codebook: {len(result.codebook.proteins)} proteins, min distance {result.codebook.achieved_min_distance}, "
        f"capacity {result.codebook.capacity}" if result.codebook else ""), soft_wrap=True)
    stdout.print(f"-> {out}/scan.ome.zarr, {out}/scan.json, {out}/scan.png", soft_wrap=True)
