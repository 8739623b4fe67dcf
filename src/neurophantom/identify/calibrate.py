"""Membrane calibration: per-neuron membrane area and channel totals.

:func:`membrane_from_geometry` (the default of the main job) takes each neuron's membrane
area from its segment's surface, as the reconstruction measured it, and its channel
totals from the counted molecules (density x area). A whole cell seen by the scan needs
nothing else: capacitance is the learned specific capacitance times the measured area.

:func:`calibrate_membrane` is for scans that do not hold the whole cell:

A reconstruction's segmented surface is not a neuron's membrane area when the scan holds
only part of the cell (a cut volume, an abbreviated phantom, fragments), and channel
counts carry an unknown global detection factor (labelling efficiency, and in scaled
phantoms the molecule sampling fraction). Both would enter the Model as capacitance and
conductance scales the map cannot learn per neuron. This step replaces them with
estimates anchored on counts:

- membrane area from a uniformly expressed *marker* channel (default: the leak channel):
  ``A_i = A_typ * N_marker,i / median_j N_marker,j`` (a membrane marker with a known
  density gives area from counts; the median neuron is given the typical area), floored
  at ``min_area_fraction * A_typ``;
- each channel type's total from its count, relative to the median neuron:
  ``density_c,i * A_i = rho_typ,c * A_typ * N_c,i / median_j N_c,j``.

``A_typ`` and ``rho_typ`` are the method's prior (typical values for the cell class, from
the literature); the map's per-molecule conductances and capacitance then learn
corrections around them. Synapses (contact areas, receptor densities) are untouched.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .._errors import NeurophantomError
from ..types import Circuit


def membrane_from_geometry(circuit: Circuit) -> Circuit:
    """The circuit with its measured membranes; a neuron whose channels the scan could not
    count (lost tissue nearby) takes each channel's median density over counted neurons.

    Raises if no neuron's channels were counted (a receptor-blind scan: fill its channel
    densities first, e.g. with the Rosetta map)."""
    nrn = circuit.neurons.copy()
    if len(nrn) == 0 or not circuit.channel_types:
        return circuit
    area = nrn["area_um2"].to_numpy(np.float64)
    if not (np.isfinite(area).all() and (area > 0).all()):
        raise NeurophantomError("membrane from geometry: every neuron needs a positive measured membrane area")
    for c in circuit.channel_types:
        d = nrn[c].to_numpy(np.float64)
        ok = np.isfinite(d)
        if not ok.any():
            raise NeurophantomError(f"membrane from geometry: no neuron's {c!r} channels were counted")
        nrn[c] = np.where(ok, d, float(np.median(d[ok])))
    return circuit.replace(neurons=nrn)


def calibrate_membrane(
    circuit: Circuit,
    typical_area_um2: float,
    typical_density_per_um2: Mapping[str, float],
    *,
    marker: str = "leak",
    min_area_fraction: float = 0.1,
) -> Circuit:
    """The circuit with count-anchored ``area_um2`` and channel densities (see module doc)."""
    nrn = circuit.neurons.copy()
    if len(nrn) == 0:
        return circuit
    if marker not in circuit.channel_types:
        raise NeurophantomError(f"membrane marker channel {marker!r} is not among the circuit's channel types {circuit.channel_types}")
    area = nrn["area_um2"].to_numpy(np.float64)
    counts = {c: np.nan_to_num(nrn[c].to_numpy(np.float64)) * area for c in circuit.channel_types}
    med = float(np.median(counts[marker]))
    if not med > 0:
        raise NeurophantomError(f"the median neuron holds no {marker!r} molecules: no membrane area to calibrate from")
    a_est = np.maximum(typical_area_um2 * counts[marker] / med, min_area_fraction * typical_area_um2)
    for c in circuit.channel_types:
        if c not in typical_density_per_um2:
            raise NeurophantomError(f"no typical density for channel {c!r} (have: {', '.join(typical_density_per_um2)})")
        m = float(np.median(counts[c]))
        ref = m if m > 0 else float(np.mean(counts[c])) or 1.0
        total = typical_density_per_um2[c] * typical_area_um2 * counts[c] / ref
        nrn[c] = total / a_est
    nrn["area_um2"] = a_est
    return circuit.replace(neurons=nrn)
