"""Shared circuits and phantoms for the tissue checks (built once per session).

Circuits: a hand-made organoid-like one (polyadic release sites, gap junctions), the
``organoid`` source at 30 neurons, and a 30-neuron C. elegans subcircuit (the most
connected neurons of the cect connectome with every synapse among them).
"""

from __future__ import annotations

import numpy as np

from neurophantom import Provenance
from neurophantom.sources._tables import make_circuit

CHANNELS = ("na", "kdr", "leak")
RECEPTORS = ("ampa", "gaba_a", "nmda")


def organoid_like(n: int = 16, n_synapses: int = 40, n_gaps: int = 4, *, seed: int = 0, positions: bool = True,
                  polyadic_every: int = 5):
    """``n`` neurons in a slab, random synapses (every k-th release site has 2-3 partners)."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0, 0], [40, 200, 200], (n, 3)) if positions else np.zeros((n, 3))
    neurons = {
        "id": np.arange(100, 100 + n, dtype=np.int64),
        "name": [f"c{i}" for i in range(n)],
        "cell_type": ["exc" if i % 4 else "inh" for i in range(n)],
        "z_um": pos[:, 0], "y_um": pos[:, 1], "x_um": pos[:, 2],
        "area_um2": rng.uniform(1000, 3000, n),
        "release": ["spike"] * n,
        "na": rng.uniform(20, 60, n), "kdr": rng.uniform(10, 30, n), "leak": rng.uniform(0.1, 1.0, n),
    }
    cols = {k: [] for k in ("synapse_id", "pre", "post", "x_um", "y_um", "z_um", "contact_area_um2", *RECEPTORS)}
    for s in range(n_synapses):
        pre = int(rng.integers(n))
        k = 1 + (s % polyadic_every == 0) * int(rng.integers(1, 3))
        posts = rng.choice([i for i in range(n) if i != pre], size=k, replace=False)
        site = pos[pre] + rng.normal(0, 5, 3)
        for q in posts:
            cols["synapse_id"].append(1000 + s)
            cols["pre"].append(100 + pre)
            cols["post"].append(100 + int(q))
            cols["z_um"].append(site[0]); cols["y_um"].append(site[1]); cols["x_um"].append(site[2])
            area = float(rng.lognormal(np.log(0.15), 0.5))
            cols["contact_area_um2"].append(area)
            exc = neurons["cell_type"][pre] == "exc"
            cols["ampa"].append(rng.uniform(50, 200) if exc else 0.0)
            cols["nmda"].append(rng.uniform(5, 40) if exc else 0.0)
            cols["gaba_a"].append(0.0 if exc else rng.uniform(50, 200))
    gaps = None
    if n_gaps:
        a = rng.integers(0, n, n_gaps)
        b = (a + rng.integers(1, n, n_gaps)) % n
        gp = (pos[a] + pos[b]) / 2
        gaps = {"a": 100 + a, "b": 100 + b, "connexin_count": rng.integers(5, 400, n_gaps).astype(float),
                "z_um": gp[:, 0], "y_um": gp[:, 1], "x_um": gp[:, 2]}
    return make_circuit(neurons=neurons, synapses=cols, gap_junctions=gaps, channel_types=CHANNELS,
                        receptor_types=RECEPTORS, provenance=Provenance(source="test-organoid", seed=seed))


def subcircuit(circuit, n: int):
    """The ``n`` most connected neurons of ``circuit`` with every synapse and gap junction
    among them (a C. elegans subcircuit for the checks)."""
    syn, gj = circuit.synapses, circuit.gap_junctions
    degree = (syn["pre"].value_counts().add(syn["post"].value_counts(), fill_value=0)
              .add(gj["a"].value_counts(), fill_value=0).add(gj["b"].value_counts(), fill_value=0))
    keep = set(degree.sort_values(ascending=False, kind="stable").index[:n].tolist())
    nrn = circuit.neurons[circuit.neurons["id"].isin(keep)].reset_index(drop=True)
    syn = syn[syn["pre"].isin(keep) & syn["post"].isin(keep)].reset_index(drop=True)
    gj = gj[gj["a"].isin(keep) & gj["b"].isin(keep)].reset_index(drop=True)
    return circuit.replace(neurons=nrn, synapses=syn, gap_junctions=gj)


import pytest  # noqa: E402

from neurophantom.tissue import TissueConfig, grow_tissue  # noqa: E402


@pytest.fixture(scope="session")
def small_circuit():
    return organoid_like()


@pytest.fixture(scope="session")
def small_phantom(small_circuit):
    return grow_tissue(small_circuit, TissueConfig(seed=5))


@pytest.fixture(scope="session")
def organoid_circuit():
    from neurophantom.sources import build_source

    return build_source("organoid", seed=1, options={"n_neurons": 30, "n_patterns": 1, "pattern_size": 8})


@pytest.fixture(scope="session")
def worm_circuit():
    from neurophantom.sources import build_source

    return subcircuit(build_source("celegans", seed=0), 30)


@pytest.fixture(scope="session")
def circuit_factory():
    """``organoid_like`` itself, for tests that need a variant circuit."""
    return organoid_like
