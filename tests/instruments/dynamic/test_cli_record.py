"""``neurophantom record``: writes recording.nwb + recording.png; bad input exits 2, one line."""

import numpy as np
import pytest
from pynwb import validate

from neurophantom.cli import main
from neurophantom.instruments.dynamic import read_ground_truth, read_imaging


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory, circuit):
    p = tmp_path_factory.mktemp("c") / "circuit"
    circuit.save(p)
    return p


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_record_writes_nwb_and_png(capsys, tmp_path, circuit_dir, protocol_spec, calcium_run):
    out = tmp_path / "rec"
    code, stdout, err = run(capsys, "record", circuit_dir, "--protocol", protocol_spec, "--trials", 1, "--seed", 7, "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["recording.nwb", "recording.png"]
    assert (out / "recording.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "recording.png").stat().st_size > 5000
    assert validate(path=str(out / "recording.nwb")) == []
    rec = read_imaging(out / "recording.nwb")
    assert rec.stacked().shape == (1, 12, 3) and rec.config.indicator.name == "gcamp6f"
    assert "real-instrument time: 0.4 s" in stdout and "3 neurons x 1 trial(s) x 12 frames at 30 Hz" in stdout
    # Same circuit, protocol and seed as the API run: the same simulated trial 0.
    truth = read_ground_truth(out / "recording.nwb")
    np.testing.assert_array_equal(truth.activity[0].traces["v"], calcium_run[4].activity[0].traces["v"])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--protocol", "step:on=NOPE,amp=3"], "unknown neuron 'NOPE' in protocol"),
        (["--protocol", "spontaneous:duration=-5"], "duration_ms: Input should be greater than 0"),
        (["--protocol", "step:on=n0;amp=3"], "malformed protocol part 'amp=3'"),
        (["--protocol", "step:on=n0,amp=3", "--indicator", "gcamp9"], "unknown indicator 'gcamp9'"),
        (["--protocol", "step:on=n0,amp=3", "--trials", "0"], "trials: Input should be greater than or equal to 1"),
        (["--protocol", "step:on=n0,amp=3", "--seed", "-1"], "--seed must be >= 0"),
        (["--protocol", "step:on=n0,amp=3", "--frame-rate-hz", "-30"], "frame_rate_hz: Input should be greater than 0"),
        (["--protocol", "step:on=random:9,amp=3"], "cannot stimulate 9 random neurons"),
        (["--protocol", "spontaneous:duration=10", "--indicator", "gcamp6f"], "shorter than one exposure"),
        (["--out", "{o}"], "Missing option '--protocol'"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, circuit_dir, args, needle):
    out = tmp_path / "out"
    argv = ["record", circuit_dir] + [a.replace("{o}", str(out)) for a in args]
    if "--out" not in args:
        argv += ["--out", out]
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
    assert not out.exists(), "a failed command must not leave an output folder"


def test_record_unknown_circuit_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "record", tmp_path / "missing", "--protocol", "spontaneous:duration=100", "--out", tmp_path / "o")
    assert code == 2 and "no circuit folder or source named" in err
