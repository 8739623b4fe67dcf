"""The living specimen a Phantom is the fixed version of: one world for truth and scan.

A Phantom draws its Circuit in 3D; the membrane it draws (``specimen_area_um2``: the
surface of each neuron's label times the phantom's ``membrane_area_factor``) is the
membrane the living specimen has. :func:`specimen_circuit` returns the Circuit the ground
truth simulates: the source's Circuit with each neuron's membrane area replaced by the
phantom's, and soma positions moved into the phantom's frame (so that a microscope's ROIs
and the scan share one coordinate frame). Channel densities stay as drawn, so a neuron's
channel total (density x area), which sets its conductances in the simulation, is the
number of channel molecules the phantom holds on it (up to the recorded sampling
fraction and rounding): every molecule a perfect scan counts is one the truth simulates.
"""

from __future__ import annotations

import numpy as np

from .._errors import NeurophantomError
from ..types import Circuit
from ..types.phantom import Phantom


def specimen_circuit(circuit: Circuit, phantom: Phantom) -> Circuit:
    """``circuit`` as the specimen drawn by ``phantom`` (see module docstring)."""
    nrn = phantom.neurons.set_index("neuron_id")
    missing = np.setdiff1d(circuit.neuron_ids, nrn.index.to_numpy())
    if missing.size:
        raise NeurophantomError(f"specimen: neuron {int(missing[0])} of the circuit is not in the phantom")
    soma = nrn.loc[circuit.neuron_ids]
    out = circuit.neurons.copy()
    out["x_um"], out["y_um"], out["z_um"] = (soma[c].to_numpy() for c in ("soma_x_um", "soma_y_um", "soma_z_um"))
    if "specimen_area_um2" in soma.columns:
        out["area_um2"] = soma["specimen_area_um2"].to_numpy(dtype=np.float64)
    return circuit.replace(neurons=out)
