"""Shared pieces of the Brian2 reference checks.

Brian2's C++ standalone builds are cached under ``.cache/brian2/<name>`` in the repository
(git-ignored): Brian2 rewrites only changed source files, so a second run of an unchanged
check recompiles nothing. A file lock serialises builds of one folder across processes.
Modules that run Brian2 mark themselves ``xdist_group("brian2")``; note that with pytest 9
and pytest-xdist 3.8 the mark does not keep a group on one worker (xdist rewrites
``item._nodeid``, which pytest 9 no longer reads), so nothing here relies on it: Brian2's
device state is per process, builds are locked, and each expensive fixture feeds one test.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurophantom.sources._tables import make_circuit
from neurophantom.types import Circuit, Provenance

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "brian2"


@contextlib.contextmanager
def build_dir(name: str):
    """A persistent Brian2 standalone build folder, locked while in use."""
    d = CACHE / name
    d.mkdir(parents=True, exist_ok=True)
    with open(d.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield str(d)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rate_and_cv(trains: dict[int, np.ndarray], ids, duration_ms: float) -> tuple[float, float]:
    """Mean firing rate (Hz) of ``ids`` and mean CV of ISI over neurons with >= 3 spikes."""
    count, cvs = 0, []
    for i in ids:
        t = trains[int(i)]
        count += len(t)
        if len(t) >= 3:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return count / len(ids) / (duration_ms / 1000.0), float(np.mean(cvs))


ALL_CHANNELS = ("na", "kdr", "leak", "ka", "cal", "kca", "hcn")
ALL_RECEPTORS = ("ampa", "nmda", "gaba_a", "gaba_b")


def every_mechanism() -> Circuit:
    """Six neurons using every exported mechanism: all channel types (calcium pool included),
    event synapses (rise time, NMDA magnesium block), kinetic synapses from graded neurons,
    and gap junctions. Densities are per um^2; neurons 4 and 5 are graded."""
    n = 6
    dens = {
        "na": [50.0, 50.0, 50.0, 40.0, 0.0, 0.0],
        "kdr": [30.0, 30.0, 30.0, 25.0, 5.0, 0.0],
        "leak": [0.5, 0.5, 0.6, 0.5, 0.5, 0.4],
        "ka": [0.0, 5.0, 0.0, 2.0, 1.0, 0.0],
        "cal": [0.0, 0.0, 4.0, 0.0, 3.0, 2.0],
        "kca": [0.0, 0.0, 20.0, 0.0, 10.0, 5.0],
        "hcn": [0.0, 0.0, 0.0, 20.0, 0.0, 30.0],
    }
    neurons = {
        "id": np.arange(n, dtype=np.int64) + 10,
        "name": [f"c{i}" for i in range(n)],
        "cell_type": ["t"] * n,
        "x_um": np.zeros(n), "y_um": np.zeros(n), "z_um": np.zeros(n),
        "area_um2": np.array([20000.0, 20000.0, 15000.0, 18000.0, 5000.0, 4000.0]),
        "release": ["spike"] * 4 + ["graded"] * 2,
        **{k: np.asarray(v) for k, v in dens.items()},
    }
    # (pre, post, receptor, density): event synapses from spiking cells, kinetic from graded ones.
    edges = [(10, 11, "ampa", 300.0), (10, 12, "nmda", 60.0), (11, 13, "gaba_a", 200.0), (12, 10, "gaba_b", 100.0),
             (13, 14, "ampa", 150.0), (14, 15, "gaba_a", 80.0), (15, 12, "ampa", 120.0), (14, 11, "nmda", 40.0)]
    syn = {"synapse_id": np.arange(len(edges), dtype=np.int64), "pre": [e[0] for e in edges], "post": [e[1] for e in edges],
           "x_um": np.zeros(len(edges)), "y_um": np.zeros(len(edges)), "z_um": np.zeros(len(edges)),
           "contact_area_um2": np.full(len(edges), 0.5)}
    for r in ALL_RECEPTORS:
        syn[r] = np.array([d if rec == r else 0.0 for (_, _, rec, d) in edges])
    gj = {"a": [11, 14], "b": [13, 15], "connexin_count": [30.0, 50.0], "x_um": [0.0, 0.0], "y_um": [0.0, 0.0], "z_um": [0.0, 0.0]}
    return make_circuit(neurons=neurons, synapses=syn, gap_junctions=gj, channel_types=ALL_CHANNELS,
                        receptor_types=ALL_RECEPTORS, provenance=Provenance(source="test", config={"kind": "every_mechanism"}))


def merge(circuits: list[Circuit]) -> Circuit:
    """Disjoint union of circuits (ids offset per part), e.g. three COBAHH seeds in one run."""
    nrn, syn = [], []
    offset = sid = 0
    for c in circuits:
        a = c.neurons.copy()
        a["id"] += offset
        a["name"] = [f"s{len(nrn)}_{x}" for x in a["name"]]
        s = c.synapses.copy()
        s["pre"] += offset
        s["post"] += offset
        s["synapse_id"] += sid
        nrn.append(a)
        syn.append(s)
        offset += len(a)
        sid += len(s)
    first = circuits[0]
    cols = lambda df: {k: df[k].to_numpy() for k in df.columns}  # noqa: E731
    return make_circuit(neurons=cols(pd.concat(nrn, ignore_index=True)),
                        synapses=cols(pd.concat(syn, ignore_index=True)), gap_junctions=None,
                        channel_types=first.channel_types, receptor_types=first.receptor_types,
                        provenance=Provenance(source=first.provenance.source, config={"merged": len(circuits)},
                                              metadata=dict(first.provenance.metadata)))


@pytest.fixture(scope="session")
def ref():
    """The helpers above, for test modules (importlib mode has no relative imports)."""
    import types

    return types.SimpleNamespace(build_dir=build_dir, rate_and_cv=rate_and_cv, every_mechanism=every_mechanism, merge=merge)
