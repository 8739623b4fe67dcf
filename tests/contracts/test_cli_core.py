"""CLI contracts for circuit / simulate / info: outputs and exit code 2 with one line."""

import json

import numpy as np
import pytest

from neurophantom.cli import main
from neurophantom.sources.minimal import hh_cells


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory):
    p = tmp_path_factory.mktemp("c") / "circuit"
    hh_cells(3, edges=[(0, 1, "ampa", 300.0), (1, 2, "ampa", 300.0)]).save(p)
    return p


@pytest.mark.parametrize(
    "args,needle",
    [
        (["simulate", "/no/such/dir", "--out", "X"], "no circuit folder or source named"),
        (["circuit", "--source", "nope", "--out", "X"], "unknown source 'nope'"),
        (["simulate", "{c}", "--duration-ms", "-5", "--out", "X"], "--duration-ms must be > 0"),
        (["simulate", "{c}", "--stimulus", "step:on=n0,amp=abc", "--out", "X"], "is not a number"),
        (["simulate", "{c}", "--stimulus", "zap:on=n0", "--out", "X"], "unknown stimulus kind"),
        (["simulate", "{c}", "--stimulus", "step:on=NOPE,amp=5", "--out", "X"], "unknown neuron name 'NOPE'"),
        (["simulate", "{c}", "--dt-ms", "0.3", "--duration-ms", "1", "--out", "X"], "whole number of steps"),
        (["simulate", "{c}", "--method", "rk4", "--duration-ms", "1", "--out", "X"], "unknown integration method"),
        (["info", "/no/such/file"], "path not found"),
        (["simulate"], "Missing argument"),
        (["simulate", "{c}", "--bogus"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, circuit_dir, args, needle):
    args = [a.replace("{c}", str(circuit_dir)).replace("X", str(tmp_path / "out")) for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
    assert not (tmp_path / "out").exists(), "a failed command must not leave an output folder"


def test_simulate_writes_nwb_and_png(capsys, tmp_path, circuit_dir):
    from pynwb import NWBHDF5IO

    code, out, err = run(
        capsys, "simulate", str(circuit_dir), "--duration-ms", "100", "--dt-ms", "0.05",
        "--stimulus", "step:on=n0,amp=1500,start=10,stop=90", "--out", str(tmp_path / "sim"),
    )
    assert code == 0, err
    f = tmp_path / "sim" / "recording.nwb"
    assert (tmp_path / "sim" / "recording.png").stat().st_size > 1000
    with NWBHDF5IO(str(f), "r") as io:
        nwb = io.read()
        ts = nwb.acquisition["membrane_voltage"]
        assert ts.unit == "mV" and ts.data.shape == (100, 3)
        units = nwb.units.to_dataframe()
        n0 = units[units["neuron_name"] == "n0"].iloc[0]
        assert len(n0["spike_times"]) >= 5  # driven cell fires
        assert np.all(np.diff(n0["spike_times"]) > 0)
    code, out, err = run(capsys, "info", str(f), "--json")
    info = json.loads(out)
    assert info["neurons"] == 3 and info["spikes"] >= 5 and info["traces"] == {"v": "mV"}


def test_recording_round_trip(tmp_path):
    from neurophantom.biophysics import build_model
    from neurophantom.engine import simulate
    from neurophantom.io.nwb import read_recording, write_recording
    from neurophantom.types.stimulus import Step, Stimulus

    c = hh_cells(2, edges=[(0, 1, "ampa", 300.0)])
    rec = simulate(
        build_model(c), Stimulus(duration_ms=50.0, components=(Step(targets=(0,), amplitude_pA=1500.0),)),
        dt_ms=0.05, sample_dt_ms=0.5, record=("v", "g_syn.ampa"), neuron_names=["a", "b"],
    )
    write_recording(tmp_path / "r.nwb", rec)
    back = read_recording(tmp_path / "r.nwb")
    np.testing.assert_array_equal(back.traces["v"], rec.traces["v"])
    np.testing.assert_array_equal(back.traces["g_syn.ampa"], rec.traces["g_syn.ampa"])
    np.testing.assert_allclose(back.time_ms, rec.time_ms, atol=1e-9)
    np.testing.assert_allclose(back.spike_times_ms, rec.spike_times_ms, atol=1e-9)
    np.testing.assert_array_equal(back.spike_neuron_ids, rec.spike_neuron_ids)
    assert back.neuron_names == ("a", "b") and back.units == rec.units


def test_simulate_cobahh_starts_from_the_benchmark_state(capsys, tmp_path):
    """A COBAHH folder is simulated from its random initial state: the network fires
    (with a resting start it would stay silent)."""
    code, out, err = run(capsys, "circuit", "--source", "cobahh", "--set", "n_neurons=800", "--seed", "2", "--out", str(tmp_path / "c"))
    assert code == 0, err
    code, out, err = run(capsys, "simulate", str(tmp_path / "c"), "--duration-ms", "100", "--dt-ms", "0.1", "--out", str(tmp_path / "s"))
    assert code == 0, err
    from neurophantom.io.nwb import read_recording

    rec = read_recording(tmp_path / "s" / "recording.nwb")
    assert rec.firing_rates_hz(100.0).mean() > 5.0
