"""Views of a Circuit: a networkx graph and weight matrices per synapse class."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .._errors import NeurophantomError
from .circuit import Circuit


def to_networkx(circuit: Circuit) -> nx.MultiDiGraph:
    """A MultiDiGraph: one node per neuron (keyed by id, with all neuron columns as
    attributes), one ``kind="chemical"`` edge per synapse-partner row (receptor counts as
    attributes) and two ``kind="gap"`` edges (both directions) per gap junction."""
    g = nx.MultiDiGraph(source=circuit.provenance.source)
    for row in circuit.neurons.to_dict("records"):
        g.add_node(int(row["id"]), **row)
    counts = circuit.receptor_counts()
    syn = circuit.synapses
    for i, (pre, post) in enumerate(zip(syn["pre"].to_numpy(), syn["post"].to_numpy())):
        attrs = {r: float(counts[r].iat[i]) for r in circuit.receptor_types}
        g.add_edge(
            int(pre),
            int(post),
            kind="chemical",
            synapse_id=int(syn["synapse_id"].iat[i]),
            contact_area_um2=float(syn["contact_area_um2"].iat[i]),
            **attrs,
        )
    for a, b, c in circuit.gap_junctions[["a", "b", "connexin_count"]].itertuples(index=False):
        g.add_edge(int(a), int(b), kind="gap", connexin_count=float(c))
        g.add_edge(int(b), int(a), kind="gap", connexin_count=float(c))
    return g


def weight_matrix(circuit: Circuit, synapse_class: str, *, dense: bool = False) -> sp.csr_matrix | np.ndarray:
    """Summed weights between neurons for one synapse class, shape (n_neurons, n_neurons).

    ``synapse_class`` is a receptor type (weight: receptor count = density x contact area,
    summed over synapse-partner rows from ``pre`` (row) to ``post`` (column)),
    ``"contacts"`` (number of synapse-partner rows), ``"contact_area"`` (summed contact
    area, um^2) or ``"gap"`` (connexin count, symmetric). Rows and columns follow the
    order of ``circuit.neurons``.
    """
    n = circuit.n_neurons
    if synapse_class == "gap":
        gj = circuit.gap_junctions
        a = circuit.index_of(gj["a"].to_numpy())
        b = circuit.index_of(gj["b"].to_numpy())
        w = gj["connexin_count"].to_numpy()
        m = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    else:
        syn = circuit.synapses
        pre = circuit.index_of(syn["pre"].to_numpy())
        post = circuit.index_of(syn["post"].to_numpy())
        if synapse_class == "contacts":
            w = np.ones(len(syn))
        elif synapse_class == "contact_area":
            w = syn["contact_area_um2"].to_numpy()
        elif synapse_class in circuit.receptor_types:
            w = syn[synapse_class].to_numpy() * syn["contact_area_um2"].to_numpy()
        else:
            known = ", ".join(("contacts", "contact_area", "gap") + circuit.receptor_types)
            raise NeurophantomError(f"unknown synapse class {synapse_class!r} (known: {known})")
        m = sp.coo_matrix((w, (pre, post)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    return m.toarray() if dense else m
