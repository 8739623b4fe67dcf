"""Shared fixtures of the dynamic-instrument checks: one small mixed circuit, imaged once
with a calcium and once with a voltage indicator (engine compilations are the slow part,
so every module reuses these runs; ``xdist_group`` keeps their users on one worker)."""

import numpy as np
import pytest

from neurophantom.instruments.dynamic import imaging_config, parse_protocol, record
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.recording import Recording

#: Two spiking HH cells (n0 -> n1 by AMPA) and one graded leak-only cell (n2).
PROTOCOL = "spontaneous:duration=400,sigma=15;step:on=n0,amp=1500,start=100,stop=110;step:on=n2,amp=400,start=200,stop=300;pulses:on=random:1,amp=1,width=2,period=50,start=50,stop=350,drive=conductance"


def mixed_circuit():
    return hh_cells(
        3, na=[50.0, 50.0, 0.0], kdr=[30.0, 30.0, 0.0], release=["spike", "spike", "graded"],
        edges=[(0, 1, "ampa", 300.0)], receptors=("ampa",),
    )


@pytest.fixture(scope="session")
def protocol_spec():
    return PROTOCOL


@pytest.fixture(scope="session")
def circuit():
    c = mixed_circuit()
    # Spread the somata so that the neuropil neighbourhood is not uniform.
    nrn = c.neurons.copy()
    nrn["x_um"] = [0.0, 15.0, 30.0]
    return c.replace(neurons=nrn)


@pytest.fixture(scope="session")
def calcium_run(circuit):
    prot = parse_protocol(PROTOCOL, trials=2)
    cfg = imaging_config("gcamp6f", bleach_tau_s=2.0)
    rec, truth = record(circuit, prot, cfg, seed=7)
    return circuit, prot, cfg, rec, truth


@pytest.fixture(scope="session")
def voltage_run(circuit):
    prot = parse_protocol("spontaneous:duration=200,sigma=15;step:on=n0,amp=1500,start=20,stop=180", trials=1)
    cfg = imaging_config("voltage", neuropil_fraction=0.0)
    rec, truth = record(circuit, prot, cfg, seed=3)
    return circuit, prot, cfg, rec, truth


def _fake_recording(T, h, *, v=None, ca=None, spikes=()):
    """An engine-like Recording on a grid of ``T`` samples of ``h`` ms (for oracle tests);
    ``spikes`` are (time_ms, neuron column) pairs."""
    n = 1 if v is None else np.asarray(v).shape[1]
    v = np.full((T, n), -65.0) if v is None else np.asarray(v, dtype=float)
    traces, units = {"v": v}, {"v": "mV"}
    if ca is not None:
        traces["ca"], units["ca"] = np.asarray(ca, dtype=float), "uM"
    ids = np.array([s[1] for s in spikes], dtype=np.int64)
    times = np.array([s[0] for s in spikes], dtype=float)
    return Recording(time_ms=np.arange(T) * h, neuron_ids=np.arange(n), traces=traces, units=units, dt_ms=h,
                     spike_neuron_ids=ids, spike_times_ms=times)


@pytest.fixture(scope="session")
def fake_recording():
    return _fake_recording


_SHARED = {"calcium_run", "voltage_run", "circuit_dir"}


def pytest_collection_modifyitems(items):
    # Tests that reuse the compiled engine runs share one xdist worker (make test uses
    # loadgroup, if a runner uses it; make test's --dist loadfile keeps each file on one worker).
    for item in items:
        if "instruments/dynamic" in str(item.fspath) and _SHARED & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("instruments_dynamic_engine"))
