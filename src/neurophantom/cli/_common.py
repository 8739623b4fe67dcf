"""Helpers shared by CLI subcommands: loading a Circuit from a folder or a source name,
``--set`` values, and the rules for ``--out``.

``--out`` never destroys what a user has (:func:`prepare_out`, called by every command
before any work):

- an existing file given where a folder is written is refused (and a folder where a file
  is written);
- an existing non-empty folder is refused unless ``--overwrite`` is given, and
  ``--overwrite`` replaces only that same command's earlier output: every entry of the
  folder must be a file that command writes (a user's ``precious.txt`` is never removed);
  the replacement is atomic (the new folder is built aside and swapped in);
- an output may never be, or contain, one of the command's inputs (``simulate gt --out
  gt`` would replace the circuit it reads).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

from rich.console import Console

from .._errors import NeurophantomError

console = Console(stderr=True)
out = Console()

_CIRCUIT = ("circuit.json", "neurons.parquet", "synapses.parquet", "gap_junctions.parquet")
#: What each command writes into its ``--out`` folder; the first name is its header.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "circuit": _CIRCUIT,
    "simulate": ("recording.nwb", "recording.png"),
    "record": ("recording.nwb", "recording.png"),
    "tissue": ("phantom.json", "phantom.ome.zarr", "neurons.parquet", "synapses.parquet", "gap_junctions.parquet",
               "molecules.parquet", "skeletons.parquet", "slice.png"),
    "scan": ("scan.json", "scan.ome.zarr", "lost_mask.ome.zarr", "scan.png"),
    "reconstruct": ("reconstruction.json", *_CIRCUIT, "segmentation.ome.zarr", "morphology.parquet", "uncertainty.parquet",
                    "puncta.parquet", "contacts.parquet", "score"),
    "export-brian2": ("spec.json", "model.py", "equations.txt", "arrays.npz"),
    "score": ("score.json", "segmentation_overlay.png", "confusion_matrix.png"),
    "run": ("config.json", "stages", "cache.log", "scores.json", "report.html", ".lock"),
}


def overwrite_option():
    import typer

    return typer.Option(False, "--overwrite", help="replace an earlier output of this same command in --out (atomically)")


def _resolved(p: Path) -> Path:
    try:
        return Path(os.path.realpath(p))
    except (OSError, ValueError):
        return Path(os.path.abspath(p))


def _entries(folder: Path) -> list[str]:
    try:
        return sorted(e for e in os.listdir(folder) if not e.startswith((".tmp-", ".old-")))
    except OSError as exc:
        raise NeurophantomError(f"--out {folder} cannot be listed ({exc.strerror})") from None


def prepare_out(path: Path, command: str, *, inputs: Iterable[Optional[object]] = (), overwrite: bool = False,
                file: bool = False, resume: bool = False) -> Path:
    """Check ``path`` as the ``--out`` of ``command`` (rules in the module docstring).

    ``file=True``: the output is one file (``export --to neuroml``). ``resume=True``: an
    existing folder of the same command is reused without ``--overwrite`` (``run``: a
    stopped run resumes there).
    """
    path = Path(path)
    target = _resolved(path)
    for item in inputs:
        if item is None:
            continue
        p = Path(str(item))
        if not p.exists():
            continue
        src = _resolved(p)
        if src == target or target in src.parents:
            raise NeurophantomError(f"--out {path} {'is' if src == target else 'contains'} the input {p}; "
                                    "an output never replaces what a command reads: choose another --out")
    if not (path.exists() or path.is_symlink()):
        return path
    if file:
        if path.is_dir():
            raise NeurophantomError(f"--out {path} is an existing folder; give the path of a file")
        if not overwrite:
            raise NeurophantomError(f"--out {path} already exists; use --overwrite to replace it")
        head = b""
        if path.is_file():
            with open(path, "rb") as fh:
                head = fh.read(4096)
        if not (path.suffix == ".nml" and b"<neuroml" in head):
            raise NeurophantomError(f"--overwrite replaces only an earlier `neurophantom {command}` output; {path} is not one")
        return path
    if not path.is_dir():
        raise NeurophantomError(f"--out {path} is an existing file, not a folder; give a folder path")
    entries = _entries(path)
    if not entries:
        return path
    known = OUTPUTS[command]
    own = known[0] in entries and set(entries) <= set(known)
    if resume and own:
        return path
    if not overwrite:
        hint = "use --overwrite to replace it" if own else "give a new folder"
        raise NeurophantomError(f"--out {path} already exists and is not empty ({len(entries)} entries); {hint}")
    if not own:
        stray = next((e for e in entries if e not in known), known[0] + " (missing)")
        raise NeurophantomError(f"--overwrite replaces only an earlier `neurophantom {command.split('-')[0]}` output; "
                                f"{path} holds {stray!r}, which that command does not write")
    return path


def check_seed(seed: int, name: str = "--seed") -> int:
    if seed < 0:
        raise NeurophantomError(f"{name} must be >= 0, got {seed}")
    if seed >= 2**63:
        raise NeurophantomError(f"{name} must be below 2^63, got {seed}")
    return seed


def parse_sets(items: list[str], what: str = "--set") -> dict:
    """``NAME=VALUE`` pairs, one value syntax for every command (``cli._values``)."""
    from ._values import parse_sets as _parse

    return _parse(items, what)


def load_circuit_arg(arg: str, seed: int = 0):
    """A Circuit folder path, or the name of a built-in source (built with defaults)."""
    from ..sources import SOURCES, build_source
    from ..types import Circuit

    p = Path(arg)
    if p.exists():
        return Circuit.load(p)
    if arg in SOURCES:
        return build_source(arg, seed=seed)
    raise NeurophantomError(f"no circuit folder or source named {arg!r} (sources: {', '.join(SOURCES)})")
