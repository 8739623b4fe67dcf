"""Graded circuits (no neuron can spike) through the CLI: ``simulate`` and ``record`` write
NWB files that pynwb reads back and that hold the simulated traces, not a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.cli import main
from neurophantom.io.nwb import read_recording
from neurophantom.sources.minimal import passive_cells


@pytest.fixture(scope="module")
def graded_dir(tmp_path_factory):
    p = tmp_path_factory.mktemp("graded") / "circuit"
    passive_cells(3, gap_junctions=[(0, 1, 5.0)]).save(p)
    return p


def test_simulate_graded_circuit_writes_nwb(capsys, tmp_path, graded_dir):
    from pynwb import NWBHDF5IO

    out = tmp_path / "sim"
    code = main(["simulate", str(graded_dir), "--duration-ms", "50", "--stimulus", "step:on=p0,amp=50,start=5,stop=40", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    with NWBHDF5IO(str(out / "recording.nwb"), "r") as io:
        nwb = io.read()
        v = np.asarray(nwb.acquisition["membrane_voltage"].data[:])
        assert nwb.units is None  # nobody spiked: no units table, not an untypeable empty one
    rec = read_recording(out / "recording.nwb")
    assert v.shape == (50, 3) and rec.spike_times_ms.size == 0
    # The driven cell depolarises, its gap-coupled partner follows, the third stays at rest.
    dv = v[30] - v[0]
    assert dv[0] > dv[1] > 0.01 and abs(dv[2]) < 1e-9


def test_record_graded_circuit_writes_nwb(capsys, tmp_path, graded_dir):
    from pynwb import NWBHDF5IO

    out = tmp_path / "rec"
    code = main(["record", str(graded_dir), "--protocol", "spontaneous:duration=400,sigma=0;step:on=p0,amp=600,start=100,stop=300",
                 "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    with NWBHDF5IO(str(out / "recording.nwb"), "r") as io:
        nwb = io.read()
        dff = np.asarray(nwb.processing["ophys"]["DfOverF"]["trial_000"].data[:])
    assert dff.shape[1] == 3 and np.all(np.isfinite(dff))
    # 600 pA into 10 nS of leak takes the cell from -65 to about -5 mV, past the calcium
    # influx's half activation (-30 mV): it lights up far beyond the photon noise of the others.
    on = slice(4, 9)  # frames inside the step (30 Hz)
    assert dff[on, 0].mean() > 1.0 and abs(dff[on, 2].mean()) < 0.2
