"""``neurophantom reconstruct SCAN_DIR --out DIR``: recover the annotated hypergraph from a scan.

Writes DIR as a Circuit folder (``circuit.json``, ``neurons/synapses/gap_junctions.parquet``:
every Circuit tool reads it) plus ``segmentation.ome.zarr``, ``morphology.parquet``,
``uncertainty.parquet``, ``puncta.parquet``, ``contacts.parquet`` and ``reconstruction.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import console, overwrite_option, parse_sets, prepare_out
from ._common import out as stdout


def _set(data: dict, key: str, value) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        data = data.setdefault(p, {})
        if not isinstance(data, dict):
            raise NeurophantomError(f"--set {key}: {p!r} is not a group of settings")
    data[parts[-1]] = value


def build_config(config_file: Optional[Path], sets: list[str], chunk: Optional[int], geometry_scale: Optional[float]):
    """The validated ReconstructConfig from a JSON/YAML file, ``--set`` items and options."""
    from ..reconstruct import ReconstructConfig

    from ..io import read_config_file

    data: dict = read_config_file(config_file, "reconstruct config file") if config_file is not None else {}
    for key, parsed in parse_sets(sets).items():
        _set(data, key, parsed)
    if chunk is not None:
        data["chunk_vox"] = [chunk, chunk, chunk]
    if geometry_scale is not None:
        data["geometry_scale"] = geometry_scale
    try:
        return ReconstructConfig.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError
        err = exc.errors()[0] if callable(getattr(exc, "errors", None)) else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise NeurophantomError(f"reconstruct config {where}: {err['msg']}") from None


def _check_scratch(shape) -> None:
    """The memory-mapped scratch volumes (labels, distances, masks: ~16 bytes a voxel)
    must fit on the disk of the temporary folder."""
    import math
    import shutil
    import tempfile

    from .._errors import ResourceLimitError
    from ..io._limits import human_bytes

    need = 16 * math.prod(int(s) for s in shape)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if need > free:
        raise ResourceLimitError(f"reconstructing {list(shape)} voxels needs about {human_bytes(need)} of scratch space, "
                                 f"more than the {human_bytes(free)} free in {tempfile.gettempdir()}")


@app.command("reconstruct")
def reconstruct_cmd(
    scan_dir: Path = typer.Argument(..., help="scan folder (written by `neurophantom scan`)"),
    out: Path = typer.Option(..., "--out", help="output folder: a Circuit folder plus segmentation.ome.zarr and tables"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="ReconstructConfig as JSON or YAML"),
    sets: List[str] = typer.Option([], "--set", help="any setting as dotted.key=value (e.g. segmentation.threshold=0.4)"),
    chunk: Optional[int] = typer.Option(None, "--chunk", help="chunk edge in voxels (16-1024; results do not depend on it)"),
    geometry_scale: Optional[float] = typer.Option(None, "--geometry-scale",
                                                   help="specimen length per biological length (phantoms: TissueConfig.geometry_scale, default 0.35 there)"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Reconstruct neurons, synapses and molecule densities from a scan; write a Circuit folder."""
    from ..reconstruct import reconstruct
    from ..reconstruct.membrane import membrane_channel
    from ..types.scan import Scan

    from ..io.omezarr import verify_ome_zarr

    prepare_out(out, "reconstruct", inputs=[scan_dir, config_file], overwrite=overwrite)
    config = build_config(config_file, sets, chunk, geometry_scale)
    scan = Scan.load(scan_dir)
    membrane_channel(scan)  # a scan without a membrane stain fails here, before any output
    _check_scratch(scan.shape)
    for store in ("scan.ome.zarr", "lost_mask.ome.zarr"):  # every chunk, before any work or output
        if (scan_dir / store).exists():
            verify_ome_zarr(scan_dir / store)
    console.print(f"reconstructing {scan.instrument} scan {list(scan.shape)} voxels of "
                  f"{', '.join(f'{v:.3g}' for v in scan.voxel_size_nm)} nm")
    result = reconstruct(scan, config)
    result.save(out, progress=True)
    c = result.circuit
    rec = result.record
    stdout.print(f"neurons: {c.n_neurons} (lumens {rec['segmentation']['lumens']}, fragments "
                 f"{rec['segmentation']['orphan_fragments']}); synapses: {c.n_synapses} release sites, "
                 f"{c.n_synapse_partners} partners; gap junctions: {len(c.gap_junctions)}", soft_wrap=True)
    dec = rec.get("decoding")
    stdout.print("molecules: " + ("unknown (no barcodes)" if not dec else
                                  f"{dec['puncta']} puncta of {len(dec['proteins'])} protein types ({dec['scheme']})"), soft_wrap=True)
    stdout.print(f"-> {out} (circuit, segmentation.ome.zarr, morphology.parquet, uncertainty.parquet)", soft_wrap=True)
