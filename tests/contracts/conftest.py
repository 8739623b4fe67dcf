"""The README's CLI tour, run once per test session (in process, in a temporary folder):
its files are the ones the format validators check (tests/contracts/test_file_formats.py)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import time
import types
from pathlib import Path

import pytest

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
