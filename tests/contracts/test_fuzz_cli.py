"""Property-based fuzzing of the command line, in-process (``neurophantom.cli.main``).

Random option lists for every stage command, over inputs that are damaged (a circuit
whose table no longer matches its checksum, a scan whose chunk is gone) or missing, and
``info`` over headers with flipped bytes. Every run must end with exit 0 (``--help``, or
an ``info`` whose damage left the header valid) or exit 2 with exactly one ``error:``
line, leave no output folder after a failure and no temporary file.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import neurophantom.io.nwb  # noqa: F401 - imported once here, not inside a timed example
from neurophantom.cli import main

pytestmark = pytest.mark.xdist_group("probe")

_spec = importlib.util.spec_from_file_location("fuzz_gen", Path(__file__).parent.parent / "fuzz" / "_gen.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)
SEED = st.integers(0, 2**63 - 1)


def fuzz_settings(n: int):
    return settings(max_examples=n, deadline=10_000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def bad_inputs(probe_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-cli")
    circuit = root / "circuit"
    shutil.copytree(probe_world / "gt", circuit)
    (circuit / "synapses.parquet").write_bytes((circuit / "synapses.parquet").read_bytes()[:-7])  # checksum differs
    scan = root / "scan"
    shutil.copytree(probe_world / "syn", scan)
    next(p for p in (scan / "scan.ome.zarr" / "0" / "c").rglob("*") if p.is_file()).unlink()
    phantom = root / "phantom"
    shutil.copytree(probe_world / "ph", phantom)
    (phantom / "molecules.parquet").write_bytes(b"PAR1")
    recon = root / "recon"
    shutil.copytree(probe_world / "recon_syn", recon)
    (recon / "contacts.parquet").unlink()
    good = root / "good"
    shutil.copytree(probe_world / "gt", good)
    return {"circuit": circuit, "scan": scan, "phantom": phantom, "recon": recon, "good": good, "root": root}


VALUES = ["0", "-1", "1e999", "nan", "inf", "1e308", "5", "0.05", "x", "", "1" * 80, "[[[", "a=b", "1,2,3", "-5,0,1",
          "step:on=all,amp=5", "spontaneous:duration=10", "serial:rounds=2,colors=4", "sparse:0.1", "0:4,0:4,0:4", "10000000"]
OPTIONS = {
    "simulate": ["--duration-ms", "--dt-ms", "--sample-dt-ms", "--stimulus", "--seed", "--transmission", "--method"],
    "record": ["--protocol", "--indicator", "--trials", "--seed", "--frame-rate-hz", "--dt-ms", "--transmission"],
    "tissue": ["--seed", "--voxel-size-nm", "--scale", "--chunk", "--set"],
    "scan": ["--instrument", "--expansion", "--barcode", "--damage", "--tags", "--set", "--seed", "--region", "--chunk"],
    "reconstruct": ["--config", "--set", "--chunk", "--geometry-scale"],
    "score": ["--truth", "--tolerance-nm"],
    "export": ["--to", "--dt-ms", "--duration-ms", "--stimulus", "--seed", "--transmission"],
    "task-score": ["--task", "--trials", "--seed"],
}
INPUT = {"simulate": "circuit", "record": "circuit", "tissue": "circuit", "scan": "phantom", "reconstruct": "scan",
         "score": "recon", "export": "circuit", "task-score": "circuit"}
REQUIRED = {"record": ["--protocol", "spontaneous:duration=10"], "scan": ["--instrument", "synchrotron"],
            "score": ["--truth", "PHANTOM"], "export": ["--to", "neuroml"], "task-score": ["--task", "flipflop"]}


@fuzz_settings(300)
@given(SEED)
def test_random_options_over_damaged_inputs(fuzz, bad_inputs, tmp_path_factory, capfd, seed):
    fuzz()
    r = random.Random(seed)
    cmd = r.choice(sorted(OPTIONS))
    inp = bad_inputs[INPUT[cmd]] if r.random() < 0.85 else bad_inputs["root"] / "missing"
    argv = [cmd, str(inp)] + [a.replace("PHANTOM", str(bad_inputs["phantom"])) for a in REQUIRED.get(cmd, [])]
    for _ in range(r.randrange(5)):
        argv += [r.choice(OPTIONS[cmd]), gen.mutate_text(r, r.choice(VALUES), ops=r.randrange(2))]
    if r.random() < 0.05:
        argv.append(r.choice(["--bogus", "--help", "--overwrite"]))
    out = bad_inputs["root"] / "out" / str(seed)
    if cmd != "task-score":
        argv += ["--out", str(out)]
    note(repr(argv)[:3000])
    capfd.readouterr()
    code = main(argv)
    _, err = capfd.readouterr()
    if "--help" in argv and code == 0:
        return
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (code, err[-2000:])
    assert not out.exists()
    assert not list(bad_inputs["root"].rglob(".tmp-*"))


@fuzz_settings(200)
@given(SEED)
def test_info_over_flipped_headers(fuzz, bad_inputs, capfd, seed):
    fuzz()
    r = random.Random(seed)
    head = bad_inputs["good"] / "circuit.json"
    orig = head.read_bytes()
    try:
        head.write_bytes(gen.mutate_bytes(r, orig))
        capfd.readouterr()
        code = main(["info", str(bad_inputs["good"]), "--json"])
        out, err = capfd.readouterr()
    finally:
        head.write_bytes(orig)
    if code == 0:
        assert '"kind": "circuit"' in out
    else:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (code, err[-2000:])
