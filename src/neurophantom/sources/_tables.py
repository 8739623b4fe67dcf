"""Assemble Circuit tables from arrays (shared by every source)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..types import Circuit, Provenance
from ..types.circuit import GAP_BASE, SYNAPSE_BASE, empty_table


def make_circuit(
    *,
    neurons: Mapping[str, Any],
    synapses: Mapping[str, Any] | None,
    gap_junctions: Mapping[str, Any] | None,
    channel_types: Sequence[str],
    receptor_types: Sequence[str],
    provenance: Provenance,
) -> Circuit:
    """Build a validated Circuit from column arrays (missing observed-flags default to True)."""
    nrn = pd.DataFrame(dict(neurons))
    if "channels_observed" not in nrn:
        nrn["channels_observed"] = True
    if synapses is None:
        syn = empty_table(SYNAPSE_BASE, tuple(receptor_types))
    else:
        syn = pd.DataFrame(dict(synapses))
        if "receptors_observed" not in syn:
            syn["receptors_observed"] = np.ones(len(syn), bool)
    gj = empty_table(GAP_BASE) if gap_junctions is None else pd.DataFrame(dict(gap_junctions))
    return Circuit(
        neurons=nrn,
        synapses=syn,
        gap_junctions=gj,
        channel_types=tuple(channel_types),
        receptor_types=tuple(receptor_types),
        provenance=provenance,
    )
