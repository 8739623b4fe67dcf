"""``neurophantom tissue``: fold a Circuit into a 3D phantom and write it."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .._errors import NeurophantomError
from . import app
from ._common import check_seed, load_circuit_arg, overwrite_option, prepare_out
from ._common import out as stdout


def _parse_triple(text: str, name: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise NeurophantomError(f"{name} must be 1 or 3 comma-separated numbers (z,y,x), got {text!r}") from None
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3 or not all(np.isfinite(v) and v > 0 for v in vals):
        raise NeurophantomError(f"{name} must be 1 or 3 positive numbers (z,y,x), got {text!r}")
    return tuple(vals)


def tissue_config(seed: int, voxel: Optional[str], scale: Optional[float], chunk: Optional[str], sets: list[str]):
    """The validated TissueConfig from the CLI options (one-line error on bad values)."""
    from ..tissue import TissueConfig
    from .circuit import parse_sets

    data = parse_sets(sets)
    data["seed"] = seed
    if voxel is not None:
        data["voxel_size_nm"] = _parse_triple(voxel, "--voxel-size-nm")
    if scale is not None:
        data["geometry_scale"] = scale
    if chunk is not None:
        data["chunk_shape"] = tuple(int(v) for v in _parse_triple(chunk, "--chunk"))
    try:
        return TissueConfig(**data)
    except NeurophantomError:
        raise
    except Exception as exc:  # pydantic.ValidationError
        errs = getattr(exc, "errors", None)
        if callable(errs):
            e = errs()[0]
            loc = ".".join(str(x) for x in e.get("loc", ()))
            raise NeurophantomError(f"bad tissue option {loc or '?'}: {e.get('msg')}") from None
        raise NeurophantomError(f"bad tissue options: {exc}") from None


def _check_volume(n_neurons: int, config) -> None:
    """Refuse a phantom whose label volume could not be held: every soma is a ball of the
    scaled soma radius, so the volume holds at least ``n`` such balls' bounding cubes."""
    from ..io import check_memory

    r_vox = config.soma_radius_um * config.geometry_scale * 1e3 / min(config.voxel_size_nm)
    voxels = n_neurons * (2 * r_vox + 1) ** 3
    check_memory(int(4 * voxels), f"the phantom's label volume (at least {voxels:.3g} voxels of "
                                  f"{'x'.join(f'{v:g}' for v in config.voxel_size_nm)} nm for {n_neurons} somata)")


def slice_png(phantom, path: Path) -> Path:
    """A PNG of two z slices: through the soma sheet and through the middle of the
    neuropil (labels in random colours, extracellular space black)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_write_bytes

    meta = phantom.metadata
    pitch = meta.get("lattice_pitch_vox", [1, 1, 1])[0]
    lo, hi = meta.get("neuropil_cells_z", [0, phantom.shape[0] // max(pitch, 1)])
    b = meta.get("soma_cells", 1)
    planes = {"soma sheet": (lo - b + b // 2) * pitch + pitch // 2, "neuropil": ((lo + hi) // 2) * pitch + pitch // 2}
    vs = phantom.voxel_size_nm
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.25, 1.0, (len(phantom.neurons) + 2, 3))
    colours[0] = 0.0
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4), dpi=100)
    for ax, (name, z) in zip(axes, planes.items()):
        z = int(np.clip(z, 0, phantom.shape[0] - 1))
        img = np.asarray(phantom.labels[z].compute()).astype(np.int64)
        img = np.where(img < len(colours), img, len(colours) - 1)
        ax.imshow(colours[img], extent=(0, img.shape[1] * vs[2] / 1000, img.shape[0] * vs[1] / 1000, 0),
                  interpolation="nearest")
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        ax.set_title(f"{name}, z = {z * vs[0] / 1000:.2f} um")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def info_phantom(path: Path) -> dict:
    """Summary of a phantom folder for ``neurophantom info``."""
    from ..types.phantom import Phantom

    p = Phantom.load(path)
    h = p.header()
    return {"kind": "phantom", "path": str(path), "voxel_size_nm": h["voxel_size_nm"], "axes": h["axes"],
            "seed": h["seed"], "counts": h["counts"], "source": h["provenance"].get("source"),
            "geometry_scale": h["metadata"].get("geometry_scale")}


@app.command("tissue")
def tissue_cmd(
    circuit: str = typer.Argument(..., help="Circuit folder (or a source name, built with defaults)"),
    out: Path = typer.Option(..., "--out", help="output folder: phantom.ome.zarr, *.parquet, phantom.json, slice.png"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    voxel_size_nm: Optional[str] = typer.Option(None, "--voxel-size-nm", help="voxel size in nm: Z,Y,X or one number (default 40)"),
    scale: Optional[float] = typer.Option(None, "--scale", help="geometry scale (phantom length per biological length; default 0.35, 1 = real scale)"),
    chunk: Optional[str] = typer.Option(None, "--chunk", help="chunk shape in voxels: Z,Y,X or one number (default 128)"),
    set_: List[str] = typer.Option([], "--set", help="other TissueConfig field NAME=VALUE (repeatable)"),
    check: bool = typer.Option(False, "--check", help="read the circuit back from the geometry and compare (slow on big volumes)"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Fold a Circuit into a 3D phantom: labels (OME-Zarr), synapses, molecules, slice PNG."""
    from ..io import atomic_dir
    from ..tissue import grow_tissue

    check_seed(seed)
    prepare_out(out, "tissue", inputs=[circuit], overwrite=overwrite)
    config = tissue_config(seed, voxel_size_nm, scale, chunk, set_)
    c = load_circuit_arg(circuit)
    _check_volume(c.n_neurons, config)
    t0 = time.perf_counter()
    phantom = grow_tissue(c, config, progress=True)
    with atomic_dir(out) as tmp:  # the folder appears whole, slice included
        phantom.save(tmp / "phantom", progress=True)
        for f in (tmp / "phantom").iterdir():
            f.rename(tmp / f.name)
        (tmp / "phantom").rmdir()
        slice_png(phantom, tmp / "slice.png")
    s = phantom.summary()
    stdout.print(
        f"[bold]phantom[/bold]: {s['neurons']} neurons, {s['synapses']} synapses ({s['synapse_partners']} partners), "
        f"{s['gap_junctions']} gap junctions, {sum(s['molecules'].values())} molecules; "
        f"{'x'.join(map(str, s['shape']))} voxels of {'x'.join(f'{v:g}' for v in phantom.voxel_size_nm)} nm "
        f"in {time.perf_counter() - t0:.1f} s -> {out}"
    )
    if check:
        from ..validate.phantom_check import check_phantom

        result = check_phantom(phantom, c)
        if not result.ok:
            raise NeurophantomError(f"phantom check failed: {result.problems[0]} ({result.numbers['problems']} problems)")
        stdout.print(f"check: exact ({result.numbers['synapse_partners_checked']} synapse partners, "
                     f"{result.numbers['gap_junctions_checked']} gap junctions, no stray contacts)")
