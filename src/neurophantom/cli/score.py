"""``neurophantom score RECON_DIR --truth PHANTOM_DIR [--json]``: a reconstruction against its truth.

Prints a table (or, with ``--json``, exactly one JSON object on stdout) and writes
``score.json`` plus two figures (segmentation overlay slice, protein-type confusion
matrix) into ``--out`` (default ``RECON_DIR/score``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from .._errors import NeurophantomError
from . import app
from ._common import console, overwrite_option, prepare_out
from ._common import out as stdout

ROWS = (
    ("segmentation", "voi_split", "VI split (nats)"), ("segmentation", "voi_merge", "VI merge (nats)"),
    ("segmentation", "adapted_rand_error", "adapted Rand error"), ("segmentation", "matched_neurons", "neurons matched"),
    ("segmentation", "run_fraction", "skeleton run fraction"), ("segmentation", "expected_run_length_um", "expected run length (um)"),
    ("synapses", "precision", "synapse precision"), ("synapses", "recall", "synapse recall"),
    ("synapses", "partner_f1", "partner F1"), ("connectome", "edge_precision", "edge precision"),
    ("connectome", "edge_recall", "edge recall"), ("connectome", "edge_f1", "edge F1"),
    ("connectome", "weight_correlation", "weight correlation"), ("molecules", "type_accuracy", "protein-type accuracy"),
)


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(j: dict) -> Table:
    t = Table(title="reconstruction vs truth", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for section, key, label in ROWS:
        t.add_row(label, _fmt(j[section].get(key)))
    for name in ("receptor_density_relative_error", "channel_density_relative_error"):
        v = j["molecules"].get(name)
        t.add_row(name.replace("_", " ") + " (median)", _fmt(v.get("median") if v else None))
    return t


@app.command("score")
def score_cmd(
    recon_dir: Path = typer.Argument(..., help="reconstruction folder (written by `neurophantom reconstruct`)"),
    truth: Path = typer.Option(..., "--truth", help="the phantom folder the scan was taken of"),
    as_json: bool = typer.Option(False, "--json", help="print exactly one JSON object instead of the table"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for score.json and figures (default RECON_DIR/score)"),
    tolerance_nm: float = typer.Option(250.0, "--tolerance-nm", help="synapse position tolerance (specimen nm)"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Score a reconstruction against the ground-truth phantom: segmentation, synapses, connectome, molecules."""
    from ..io import atomic_write_json
    from ..validate.scores import ScoreConfig, load_and_score, write_figures

    if not recon_dir.is_dir():
        raise NeurophantomError(f"reconstruction folder not found: {recon_dir}")
    if not truth.is_dir():
        raise NeurophantomError(f"phantom folder not found: {truth}")
    if not (tolerance_nm > 0 and tolerance_nm < 1e9):
        raise NeurophantomError(f"--tolerance-nm must be > 0 (and below 1e9), got {tolerance_nm}")
    from ..io import atomic_dir
    from ..io.omezarr import verify_ome_zarr

    folder = out if out is not None else recon_dir / "score"
    prepare_out(folder, "score", inputs=[recon_dir, truth], overwrite=overwrite or out is None)
    for store in (recon_dir / "segmentation.ome.zarr", truth / "phantom.ome.zarr"):
        if store.exists():
            verify_ome_zarr(store)  # every chunk, before any work or output
    result, recon, phantom = load_and_score(recon_dir, truth, ScoreConfig(synapse_tolerance_nm=tolerance_nm))
    j = result.to_json()
    with atomic_dir(folder) as tmp:
        atomic_write_json(tmp / "score.json", j)
        write_figures(result, recon, phantom, tmp)
    if as_json:
        print(json.dumps(j, allow_nan=False))
        return
    stdout.print(_table(j))
    console.print(f"-> {folder}/score.json, segmentation_overlay.png, confusion_matrix.png")
