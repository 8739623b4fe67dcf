"""``neurophantom export``: the Brian2 script folder runs and reproduces the engine; NeuroML
files validate; bad input exits 2 with one ``error:`` line.

Oracle for the script: Brian2 (numpy target, in a separate process) running the exported
``model.py`` against neurophantom's engine on the same COBAHH circuit and initial state
over 30 ms (before chaos could separate them): identical spike steps. NeuroML: the
three files, schema-valid, with the stimulus and the COBAHH random initial voltages.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.cli import main
from neurophantom.engine import simulate
from neurophantom.io.neuroml_export import validate
from neurophantom.sources.cobahh import initial_state
from neurophantom.sources.minimal import hh_cells
from neurophantom.types import Circuit
from neurophantom.types.stimulus import Stimulus

pytestmark = [pytest.mark.xdist_group("brian2"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cobahh_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cob") / "circuit"
    assert main(["circuit", "--source", "cobahh", "--seed", "4", "--set", "n_neurons=500", "--set", "p_connect=0.1",
                 "--out", str(d)]) == 0
    return d


def test_brian2_script_reproduces_engine(capsys, cobahh_dir, tmp_path):
    out = tmp_path / "b2"
    code, stdout, err = run(capsys, "export", cobahh_dir, "--to", "brian2", "--out", out, "--duration-ms", 30, "--dt-ms", 0.1, "--seed", 5)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"model.py", "equations.txt", "spec.json", "arrays.npz"}
    env = dict(os.environ, BRIAN2_CODEGEN_TARGET="numpy")
    res = subprocess.run([sys.executable, str(out / "model.py"), str(tmp_path / "spikes.npz")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    theirs = np.load(tmp_path / "spikes.npz", allow_pickle=False)
    circuit = Circuit.load(cobahh_dir)
    ours = simulate(build_model(circuit), Stimulus(duration_ms=30.0), dt_ms=0.1, init=initial_state(circuit, 5), record=(), progress=False)
    assert ours.spike_times_ms.size > 50
    a = sorted(zip(np.round(ours.spike_step_times_ms, 6), ours.spike_neuron_ids))
    b = sorted(zip(np.round(theirs["t_ms"], 6), circuit.neuron_ids[theirs["i"]]))
    assert a == b


def test_neuroml_export_validates(capsys, cobahh_dir, tmp_path):
    f = tmp_path / "net.nml"
    code, stdout, err = run(capsys, "export", cobahh_dir, "--to", "neuroml", "--out", f, "--duration-ms", 20,
                            "--stimulus", "step:on=all,amp=50,start=5")
    assert code == 0, err
    validate(f)
    assert "500 neurons" in stdout and "1500 inputs" in stdout.replace("\n", " ")  # step + initial AMPA and GABA-A
    lems = (tmp_path / "LEMS_net.xml").read_text()
    assert 'length="20.0ms"' in lems and 'step="0.05ms"' in lems and '<Include file="net.nml"/>' in lems
    # the COBAHH random initial voltages: one cell each, E_L + (5 randn - 5) mV
    circuit = Circuit.load(cobahh_dir)
    v0 = sorted(float(x) for x in re.findall(r'initMembPotential value="([-0-9.e]+)mV"', f.read_text()))
    np.testing.assert_allclose(v0, np.sort(initial_state(circuit, 0)["v"]), rtol=1e-12)
    # info reads all three files
    kinds = {"net.nml": "neuroml export", "LEMS_net.xml": "neuroml simulation", "net.components.xml": "lems components"}
    for name, kind in kinds.items():
        code, out, err = run(capsys, "info", tmp_path / name, "--json")
        assert code == 0 and json.loads(out)["kind"] == kind, (name, out, err)
    assert json.loads(run(capsys, "info", f, "--json")[1])["inputs"] == 1500


@pytest.mark.parametrize(
    "args,needle",
    [
        (["export", "{c}", "--to", "fortran", "--out", "X"], "unknown export target 'fortran'"),
        (["export", "/no/such/dir", "--to", "neuroml", "--out", "X"], "no circuit folder or source named"),
        (["export", "{c}", "--to", "neuroml", "--stimulus", "noise:on=all,sigma=5", "--out", "X"], "noise"),
        (["export", "{c}", "--to", "brian2", "--duration-ms", "-1", "--out", "X"], "must be > 0"),
        (["export", "{c}", "--to", "brian2", "--stimulus", "noise:on=all,sigma=5", "--out", "X"], "noise"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, cobahh_dir, args, needle):
    g = tmp_path / "graded"
    hh_cells(2, release=["graded", "spike"], edges=[(0, 1, "ampa", 100.0)]).save(g)
    args = [a.format(c=cobahh_dir, g=g).replace("X", str(tmp_path / "out")) for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not (tmp_path / "out").exists()
