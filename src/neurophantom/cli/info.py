"""``neurophantom info``: summarise any artifact (Circuit folder, NWB recording, ...)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .._errors import NeurophantomError
from . import app
from ._common import out as stdout


def _info_circuit(path: Path) -> dict:
    from ..types import Circuit

    c = Circuit.load(path)
    h = c.header()
    return {"kind": "circuit", "path": str(path), **{k: h[k] for k in ("source", "dataset", "seed", "counts", "channel_types", "receptor_types")}}


def _info_recording(path: Path) -> dict:
    from ..io.nwb import read_recording

    r = read_recording(path)
    return {
        "kind": "recording",
        "path": str(path),
        "neurons": int(r.neuron_ids.size),
        "samples": int(r.time_ms.size),
        "sample_dt_ms": r.sample_dt_ms,
        "traces": {k: r.units[k] for k in r.traces},
        "spikes": int(r.spike_times_ms.size),
    }


#: Artifact detectors: (predicate on path, summariser). Later stages append theirs.
DETECTORS = [
    (lambda p: p.is_dir() and (p / "circuit.json").is_file(), _info_circuit),
    (lambda p: p.is_file() and p.suffix == ".nwb", _info_recording),
    (lambda p: p.is_dir() and (p / "recording.nwb").is_file(), lambda p: _info_recording(p / "recording.nwb")),
    (lambda p: p.is_dir() and (p / "scan.json").is_file(), lambda p: __import__("neurophantom.cli.scan", fromlist=["info_scan"]).info_scan(p)),
    (lambda p: p.is_dir() and (p / "phantom.json").is_file(), lambda p: __import__("neurophantom.cli.tissue", fromlist=["info_phantom"]).info_phantom(p)),
]


@app.command("info")
def info_cmd(
    path: Path = typer.Argument(..., help="an artifact: Circuit folder, recording.nwb, ..."),
    as_json: bool = typer.Option(False, "--json", help="print JSON only"),
) -> None:
    """Summarise an artifact written by neurophantom."""
    if not path.exists():
        raise NeurophantomError(f"path not found: {path}")
    for pred, fn in DETECTORS:
        if pred(path):
            info = fn(path)
            break
    else:
        raise NeurophantomError(f"not a neurophantom artifact: {path}")
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            stdout.print(f"[bold]{k}[/bold]: {v}")
