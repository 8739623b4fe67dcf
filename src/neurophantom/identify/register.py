"""Bring live imaging and the static scan together: ROIs -> reconstructed neurons.

The microscope knows where each ROI and each stimulated cell sat in the living specimen;
the reconstruction knows where each segmented soma sits in the fixed one. Matching them
is a registration problem; here the two coordinate frames coincide (the virtual specimen
is not deformed between the two sessions), so ROIs are assigned to somata by minimum
total distance (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``) with a
distance cut-off; unmatched ROIs are dropped and unmatched segments carry no data.
Everything here uses only what the two instruments produced.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._errors import NeurophantomError
from ..instruments.dynamic import ImagingRecording, Timing, indicator_params, optics_params, to_stimulus
from ..instruments.dynamic.record import calcium_sources
from ..types import Circuit
from .observe import Experiment


@dataclasses.dataclass(frozen=True)
class Registration:
    """``roi_to_neuron[k]``: reconstructed neuron id of ROI ``k`` (-1: unmatched)."""

    roi_ids: np.ndarray  # the microscope's ROI labels (its neuron ids)
    roi_to_neuron: np.ndarray
    distance_um: np.ndarray

    @property
    def matched_fraction(self) -> float:
        return float(np.mean(self.roi_to_neuron >= 0)) if self.roi_to_neuron.size else 0.0

    def mapping(self) -> dict[int, int]:
        return {int(r): int(n) for r, n in zip(self.roi_ids, self.roi_to_neuron) if n >= 0}


def register(roi_ids: np.ndarray, roi_positions_um: np.ndarray, circuit: Circuit, *, max_distance_um: float = 5.0) -> Registration:
    """Assign ROIs to the somata of ``circuit`` (positions in the same frame, um)."""
    roi_pos = np.asarray(roi_positions_um, dtype=np.float64)
    seg_pos = circuit.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    if roi_pos.ndim != 2 or roi_pos.shape[1] != 3:
        raise NeurophantomError("ROI positions must be (n, 3) in um")
    d = np.sqrt(((roi_pos[:, None, :] - seg_pos[None, :, :]) ** 2).sum(-1))
    r, c = linear_sum_assignment(d)
    out = np.full(len(roi_pos), -1, dtype=np.int64)
    dist = np.full(len(roi_pos), np.inf)
    ok = d[r, c] <= max_distance_um
    out[r[ok]] = circuit.neuron_ids[c[ok]]
    dist[r] = d[r, c]
    return Registration(np.asarray(roi_ids, dtype=np.int64), out, dist)


def experiments_from_imaging(
    rec: ImagingRecording, circuit: Circuit, reg: Registration, *, dt_ms: float, name: str = ""
) -> Experiment:
    """One Experiment of ``circuit`` from an imaging session: the protocol's stimulated
    cells and the ROI traces moved onto the reconstruction's neurons."""
    cfg = rec.config
    mapping = reg.mapping()
    targets = tuple(tuple(mapping[t] for t in group if t in mapping) for group in rec.stimulated_ids)
    if any(len(g) == 0 for g in targets):
        raise NeurophantomError(f"experiment {name!r}: a stimulated cell has no reconstructed soma")
    stim = to_stimulus(rec.protocol, targets)
    meas = rec.stacked("fluorescence")  # (trials, frames, rois)
    order = {int(n): k for k, n in enumerate(circuit.neuron_ids)}
    out = np.zeros(meas.shape[:2] + (circuit.n_neurons,))
    w = np.zeros(circuit.n_neurons)
    for k, rid in enumerate(rec.neuron_ids):
        nid = mapping.get(int(rid))
        if nid is not None:
            out[:, :, order[nid]] = meas[:, :, k]
            w[order[nid]] = 1.0
    positions = circuit.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    calcium = getattr(cfg.indicator, "kind", "") == "calcium"
    source = calcium_sources(circuit, "voltage") if calcium else np.full(circuit.n_neurons, -1, np.int32)
    return Experiment(
        stimulus=stim, measured=out, timing=Timing.of(cfg, rec.protocol.duration_ms), indicator=indicator_params(cfg.indicator),
        optics=optics_params(cfg, positions), source=source, dt_ms=dt_ms, name=name, weights=w,
    )
