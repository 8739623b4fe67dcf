"""Minimal hand-made circuits: single-compartment cells for tests, tutorials and checks.

``hh_cells`` builds unconnected Traub-Miles cells with the COBAHH membrane (Brette et al.
2007: 20000 um^2, g_Na 100 mS/cm^2, g_Kd 30 mS/cm^2, g_L 5e-5 S/cm^2) expressed as channel
densities (na 50/um^2 x 20 pS, kdr 30/um^2 x 10 pS, leak 0.5/um^2 x 1 pS);
``passive_cells`` builds leak-only cells. Optional synapses and gap junctions are given as
small lists.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import Circuit, Provenance
from ._tables import make_circuit

COBAHH_AREA_UM2 = 20000.0


def _neurons(n, prefix, area, release, dens):
    cols = {
        "id": np.arange(n, dtype=np.int64),
        "name": [f"{prefix}{i}" for i in range(n)],
        "cell_type": [prefix] * n,
        "x_um": np.zeros(n), "y_um": np.zeros(n), "z_um": np.zeros(n),
        "area_um2": np.full(n, float(area)),
        "release": list(release) if not isinstance(release, str) else [release] * n,
    }
    for k, v in dens.items():
        cols[k] = np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
    return cols


def _synapses(edges: Sequence[tuple[int, int, str, float]] | None, receptors: Sequence[str], contact_area_um2: float):
    if not edges:
        return None
    out = {"synapse_id": [], "pre": [], "post": [], "x_um": [], "y_um": [], "z_um": [], "contact_area_um2": []}
    out.update({r: [] for r in receptors})
    for k, (pre, post, rec, density) in enumerate(edges):
        out["synapse_id"].append(k); out["pre"].append(pre); out["post"].append(post)
        for c in ("x_um", "y_um", "z_um"):
            out[c].append(0.0)
        out["contact_area_um2"].append(contact_area_um2)
        for r in receptors:
            out[r].append(density if r == rec else 0.0)
    return out


def hh_cells(
    n: int = 1,
    *,
    na: float | Sequence[float] = 50.0,
    kdr: float | Sequence[float] = 30.0,
    leak: float | Sequence[float] = 0.5,
    area_um2: float = COBAHH_AREA_UM2,
    release: str | Sequence[str] = "spike",
    edges: Sequence[tuple[int, int, str, float]] | None = None,
    receptors: Sequence[str] = ("ampa", "gaba_a"),
    contact_area_um2: float = 0.5,
    gap_junctions: Sequence[tuple[int, int, float]] | None = None,
) -> Circuit:
    """``n`` HH cells; ``edges`` are (pre, post, receptor, density per um^2) synapses."""
    gj = None
    if gap_junctions:
        a, b, c = zip(*gap_junctions)
        z = [0.0] * len(a)
        gj = {"a": list(a), "b": list(b), "connexin_count": list(c), "x_um": z, "y_um": z, "z_um": z}
    return make_circuit(
        neurons=_neurons(n, "n", area_um2, release, {"na": na, "kdr": kdr, "leak": leak}),
        synapses=_synapses(edges, receptors, contact_area_um2),
        gap_junctions=gj,
        channel_types=("na", "kdr", "leak"),
        receptor_types=tuple(receptors),
        provenance=Provenance(source="minimal", config={"kind": "hh_cells", "n": n}),
    )


def passive_cells(
    n: int = 1,
    *,
    leak: float | Sequence[float] = 0.5,
    area_um2: float = COBAHH_AREA_UM2,
    gap_junctions: Sequence[tuple[int, int, float]] | None = None,
) -> Circuit:
    """``n`` leak-only cells, optionally coupled by (a, b, connexin_count) gap junctions."""
    gj = None
    if gap_junctions:
        a, b, c = zip(*gap_junctions)
        z = [0.0] * len(a)
        gj = {"a": list(a), "b": list(b), "connexin_count": list(c), "x_um": z, "y_um": z, "z_um": z}
    return make_circuit(
        neurons=_neurons(n, "p", area_um2, "graded", {"leak": leak}),
        synapses=None,
        gap_junctions=gj,
        channel_types=("leak",),
        receptor_types=(),
        provenance=Provenance(source="minimal", config={"kind": "passive_cells", "n": n}),
    )
