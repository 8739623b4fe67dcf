"""The effective truth of the hypergraph -> ODE map: what a perfect fit should find.

The map's parameters are per molecule type (:mod:`neurophantom.identify.map`). Applied to
a reconstruction, they give each conductance as (learned constant) x (what the
reconstruction measured). Where the reconstruction measures a quantity with a bias (a
segmentation that loses a little membrane, a decoder that misses some receptors), the
constant that reproduces the truth's conductances is not the world's unitary value but
that value times the bias. The *effective truth* is that constant:

- conductance per molecule of type ``t`` (receptor, channel, connexin): the world's unitary
  conductance x (truth's total count of ``t`` on matched neurons or synapses) / (the
  reconstruction's total, after the method's calibration);
- specific capacitance: the world's value x (truth's membrane area) / (calibrated area),
  summed over matched neurons;
- reversal potentials and time constants: the world's values (no measurement enters).

Parameter recovery is scored against it (a fit that finds the effective truth has done
all identification can do; what remains is the reconstruction's error, which the blame
ladder reports separately).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..biophysics import Biophysics, biophysics_for
from ..identify.map import MapNames
from ..types import Circuit


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 and num > 0 else 1.0


def _receptor_totals(circuit: Circuit, rename: Mapping[int, int] | None, keep: set[int], types) -> dict[str, float]:
    syn = circuit.synapses
    if not len(syn):
        return {r: 0.0 for r in types}
    pre, post = syn["pre"].to_numpy(), syn["post"].to_numpy()
    if rename is not None:
        pre = np.array([rename.get(int(i), -1) for i in pre])
        post = np.array([rename.get(int(i), -1) for i in post])
    ok = np.isin(pre, list(keep)) & np.isin(post, list(keep))
    area = syn["contact_area_um2"].to_numpy(np.float64)
    return {r: float(np.nansum(syn[r].to_numpy(np.float64)[ok] * area[ok])) if r in syn.columns else 0.0 for r in types}


def _gap_total(circuit: Circuit, rename: Mapping[int, int] | None, keep: set[int]) -> float:
    gj = circuit.gap_junctions
    if not len(gj):
        return 0.0
    a, b = gj["a"].to_numpy(), gj["b"].to_numpy()
    if rename is not None:
        a = np.array([rename.get(int(i), -1) for i in a])
        b = np.array([rename.get(int(i), -1) for i in b])
    ok = np.isin(a, list(keep)) & np.isin(b, list(keep))
    return float(gj["connexin_count"].to_numpy(np.float64)[ok].sum())


def effective_truth(truth: Circuit, seen: Circuit, truth_to_seen: Mapping[int, int], names: MapNames,
                    world: Biophysics | None = None) -> dict[str, float]:
    """Effective true value of every map parameter (flat names of :class:`MapNames`).

    Parameters
    ----------
    truth : Circuit
        The specimen the ground truth simulates (``tissue.specimen_circuit``).
    seen : Circuit
        The reconstruction as the map sees it (after the method's membrane calibration).
    truth_to_seen : mapping
        Truth neuron id -> reconstructed neuron id (one to one).
    names : MapNames
        The map's receptor and channel types.
    world : Biophysics, optional
        The world's biophysics (default: the one named in ``truth``'s header).
    """
    world = world or biophysics_for(truth)
    seen_to_truth = {int(s): int(t) for t, s in truth_to_seen.items()}
    matched = set(seen_to_truth.values())
    tn = truth.neurons.set_index("id").loc[sorted(matched)] if matched else truth.neurons.iloc[:0]
    sn = seen.neurons.set_index("id").loc[[truth_to_seen[i] for i in sorted(matched)]] if matched else seen.neurons.iloc[:0]
    a_true, a_seen = tn["area_um2"].to_numpy(np.float64), sn["area_um2"].to_numpy(np.float64)
    out: dict[str, float] = {}
    r_true = _receptor_totals(truth, None, matched, names.receptors)
    r_seen = _receptor_totals(seen, seen_to_truth, matched, names.receptors)
    for r in names.receptors:
        rec = world.receptor(r) if r in world.receptors else None
        out[f"g_receptor_pS[{r}]"] = (rec.g_unit_pS if rec else float("nan")) * _ratio(r_true[r], r_seen[r])
    for r in names.receptors:
        out[f"E_receptor_mV[{r}]"] = world.receptor(r).E_mV if r in world.receptors else float("nan")
    for r in names.receptors:
        out[f"tau_receptor_ms[{r}]"] = world.receptor(r).tau_decay_ms if r in world.receptors else float("nan")
    for c in names.channels:
        unit = world.channel(c).g_unit_pS if c in world.channels else float("nan")
        t = float(np.nansum(tn[c].to_numpy(np.float64) * a_true)) if c in tn.columns else 0.0
        s = float(np.nansum(sn[c].to_numpy(np.float64) * a_seen)) if c in sn.columns else 0.0
        out[f"g_channel_pS[{c}]"] = unit * _ratio(t, s)
    out["cm_pF_per_um2"] = world.cm_pF_per_um2 * _ratio(float(a_true.sum()), float(a_seen.sum()))
    out["g_gap_pS"] = world.gap_unit_pS * _ratio(_gap_total(truth, None, matched), _gap_total(seen, seen_to_truth, matched))
    return out
