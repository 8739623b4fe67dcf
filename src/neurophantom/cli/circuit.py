"""``neurophantom circuit``: build a ground-truth Circuit and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from ._values import parse_sets  # noqa: F401  (re-exported: tissue and run import it from here)
from ._common import out as stdout


@app.command("circuit")
def circuit_cmd(
    source: str = typer.Option(..., "--source", help="ground-truth source: celegans, organoid, cobahh, ..."),
    out: Path = typer.Option(..., "--out", help="output folder (Parquet tables + circuit.json)"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="dataset name (celegans: a cect reader, e.g. Cook2019Herm)"),
    task: Optional[str] = typer.Option(None, "--task", help="task name (pretty-printer source)"),
    set_: list[str] = typer.Option([], "--set", help="source option NAME=VALUE (repeatable)"),
) -> None:
    """Build a ground-truth circuit and write it as a Circuit folder."""
    from ..sources import build_source

    options = parse_sets(set_)
    if dataset is not None:
        options["dataset"] = dataset
    if task is not None:
        options["task"] = task
    circuit = build_source(source, seed=seed, options=options)
    circuit.save(out)
    s = circuit.summary()
    stdout.print(
        f"[bold]{source}[/bold]: {s['neurons']} neurons, {s['synapses']} synapses "
        f"({s['synapse_partners']} partner rows), {s['gap_junctions']} gap junctions -> {out}"
    )
