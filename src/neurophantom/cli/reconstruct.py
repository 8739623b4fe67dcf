"""``neurophantom reconstruct SCAN_DIR --out DIR``: recover the annotated hypergraph from a scan.

Writes DIR as a Circuit folder (``circuit.json``, ``neurons/synapses/gap_junctions.parquet``:
every Circuit tool reads it) plus ``segmentation.ome.zarr``, ``morphology.parquet``,
``uncertainty.parquet``, ``puncta.parquet``, ``contacts.parquet`` and ``reconstruction.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import console
from ._common import out as stdout
from ._values import parse_value


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

    data: dict = {}
    if config_file is not None:
        if not config_file.is_file():
            raise NeurophantomError(f"config file not found: {config_file}")
        text = config_file.read_text(encoding="utf-8")
        try:
            if config_file.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = json.loads(text)
        except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
            raise NeurophantomError(f"config file {config_file} is not valid ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise NeurophantomError(f"config file {config_file} must hold a mapping")
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise NeurophantomError(f"--set expects key=value, got {item!r}")
        _set(data, key.strip(), parse_value(value))
    if chunk is not None:
        data["chunk_vox"] = [chunk, chunk, chunk]
    if geometry_scale is not None:
        data["geometry_scale"] = geometry_scale
    try:
        return ReconstructConfig.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError
        err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise NeurophantomError(f"reconstruct config {where}: {err['msg']}") from None


@app.command("reconstruct")
def reconstruct_cmd(
    scan_dir: Path = typer.Argument(..., help="scan folder (written by `neurophantom scan`)"),
    out: Path = typer.Option(..., "--out", help="output folder: a Circuit folder plus segmentation.ome.zarr and tables"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="ReconstructConfig as JSON or YAML"),
    sets: List[str] = typer.Option([], "--set", help="any setting as dotted.key=value (e.g. segmentation.threshold=0.4)"),
    chunk: Optional[int] = typer.Option(None, "--chunk", help="chunk edge in voxels (16-1024; results do not depend on it)"),
    geometry_scale: Optional[float] = typer.Option(None, "--geometry-scale",
                                                   help="specimen length per biological length (phantoms: TissueConfig.geometry_scale, default 0.35 there)"),
) -> None:
    """Reconstruct neurons, synapses and molecule densities from a scan; write a Circuit folder."""
    from ..reconstruct import reconstruct
    from ..reconstruct.membrane import membrane_channel
    from ..types.scan import Scan

    config = build_config(config_file, sets, chunk, geometry_scale)
    scan = Scan.load(scan_dir)
    membrane_channel(scan)  # a scan without a membrane stain fails here, before any output
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
