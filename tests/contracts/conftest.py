"""Small artifacts of every kind, built once per session, for the bad-input contracts.

``probe_world`` mirrors the outside probe's base artifacts (``shared/reliability/
bad-input-probe.md``): ``gt`` (organoid, 12 neurons), ``cob`` (COBAHH, 20 neurons), ``ph``
(its phantom, drawn small), ``syn`` (synchrotron scan), ``exms`` (serially barcoded ExM scan
of a corner), ``recon_syn`` (reconstruction of ``syn``), ``sim`` (a simulation recording
with spikes, written by the NWB writer from a hand-made Recording: only its file layout
matters) and ``pp`` (the packaged pretty-printer circuit). Tests copy what they corrupt.

The README's CLI tour is also run once per session (``tour``, in process, in a temporary
folder): its files are the ones the format validators check
(tests/contracts/test_file_formats.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import time
import types
from pathlib import Path

import numpy as np
import pytest

from neurophantom.cli import main


def run_cli(capfd, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr) including C-level output."""
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("error:"), f"not one error line: {err[-2000:]}"
    return lines[0]


def rehash(folder: Path, header: str) -> None:
    """Refresh the file checksums in ``header`` after a test rewrote a table on purpose
    (so that the reader's own validation, not the checksum, meets the bad content)."""
    from neurophantom.io import file_checksums

    h = json.loads((folder / header).read_text())
    if "files" in h:
        h["files"] = file_checksums(folder, list(h["files"]))
        (folder / header).write_text(json.dumps(h))


def synthetic_recording(n: int = 12, samples: int = 200, spikes: int = 5):
    from neurophantom.types.recording import Recording

    rng = np.random.default_rng(0)
    ids = np.arange(n, dtype=np.int64)
    sid = rng.choice(ids, spikes)
    st = np.sort(rng.uniform(1, samples - 2, spikes))
    return Recording(time_ms=np.arange(samples, dtype=float), neuron_ids=ids, traces={"v": rng.normal(-65, 2, (samples, n))},
                     units={"v": "mV"}, dt_ms=0.05, spike_neuron_ids=sid, spike_times_ms=st, spike_step_times_ms=np.floor(st),
                     neuron_names=tuple(f"n{i}" for i in ids), metadata={"duration_ms": float(samples)})


@pytest.fixture(scope="session")
def probe_world(tmp_path_factory) -> Path:
    from neurophantom.instruments.specimen import Specimen
    from neurophantom.instruments.static import instrument_config, scan
    from neurophantom.io.nwb import write_recording
    from neurophantom.reconstruct import reconstruct
    from neurophantom.sources import build_source
    from neurophantom.sources.pretty_printer import circuit_cache_path
    from neurophantom.tissue import TissueConfig, grow_tissue
    from neurophantom.types.phantom import Phantom

    root = tmp_path_factory.mktemp("probe")
    gt = build_source("organoid", seed=0, options={"n_neurons": 12, "n_patterns": 0})
    gt.save(root / "gt")
    build_source("cobahh", seed=0, options={"n_neurons": 20}).save(root / "cob")
    ph = grow_tissue(gt, TissueConfig(seed=0, max_channel_molecules=2000, border_cells=1, neuropil_fill=0.5))
    ph.save(root / "ph")
    spec = Specimen.from_phantom(Phantom.load(root / "ph"))
    scan(spec, instrument_config({"instrument": "synchrotron"}), seed=0).save(root / "syn")
    exm = instrument_config({"instrument": "exm", "expansion": 4.0,
                             "barcode": {"kind": "serial", "rounds": 2, "colors": 4, "min_distance": 1}})
    scan(spec, exm, seed=0, chunks=(8, 32, 32), region=((0, 0, 0), (8, 16, 16))).save(root / "exms")
    from neurophantom.types.scan import Scan

    reconstruct(Scan.load(root / "syn")).save(root / "recon_syn")
    write_recording(root / "sim" / "recording.nwb", synthetic_recording())
    shutil.copytree(circuit_cache_path("flipflop", 0), root / "pp")
    (root / "CASE").mkdir()
    (root / "OUT").mkdir()
    return root


@pytest.fixture(scope="session")
def recorded(probe_world):
    """``neurophantom record`` output of ``gt`` (20 ms, no stimulus: no neuron spikes)."""
    from neurophantom.cli import main

    if not (probe_world / "rec").exists():
        assert main(["record", str(probe_world / "gt"), "--protocol", "spontaneous:duration=20", "--indicator", "voltage",
                     "--out", str(probe_world / "rec")]) == 0
    return probe_world / "rec"


@pytest.fixture
def memory_budget(monkeypatch):
    """A fixed 4 GiB budget, so that refusals do not depend on the machine's memory."""
    monkeypatch.setenv("NEUROPHANTOM_MEMORY_BUDGET_GB", "4")
    return 4 * 2**30


def copy_case(world: Path, base: str, name: str) -> Path:
    dst = world / "CASE" / name
    if dst.exists():
        shutil.rmtree(dst)
    src = world / base
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    return dst


def no_temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".tmp-*")] + [p.name for p in folder.rglob(".old-*")] if folder.exists() else []


@pytest.fixture(scope="session")
def tools():
    """The helpers above, for test modules (which cannot import a conftest)."""
    import types

    return types.SimpleNamespace(run_cli=run_cli, one_error_line=one_error_line, rehash=rehash, copy_case=copy_case,
                                 no_temporaries=no_temporaries, synthetic_recording=synthetic_recording)


README = Path(__file__).resolve().parents[2] / "README.md"


def tour_commands() -> list[list[str]]:
    """The command lines of the README's "A tour of the CLI" block, comments removed."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A tour of the CLI"):]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block, "no code block under 'A tour of the CLI'"
    return [args for args in (shlex.split(line, comments=True) for line in block.group(1).splitlines()) if args]


def run_tour(folder: Path) -> types.SimpleNamespace:
    """Run every tour line with ``neurophantom.cli.main`` in ``folder``. The closed loop
    (``run``) gets ``--dry-run``: it is run for real by tests/pipeline/test_closed_loop.py."""
    from neurophantom.cli import main

    results = []
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for args in tour_commands():
            assert args[0] == "neurophantom", args
            argv = args[1:] + (["--dry-run"] if args[1] == "run" else [])
            out, err = io.StringIO(), io.StringIO()
            t0, c0 = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            results.append(types.SimpleNamespace(args=args, code=code, stdout=out.getvalue(), stderr=err.getvalue(),
                                                 seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0))
            if code != 0:  # later lines read what this one should have written
                break
    finally:
        os.chdir(cwd)
    return types.SimpleNamespace(folder=folder, results=results)


@pytest.fixture(scope="session")
def tour(tmp_path_factory):
    return run_tour(tmp_path_factory.mktemp("tour"))
