"""The worm world (``--preset celegans``): its truth, and the validation of its emulation
against the truth's and the real stimulation atlas.

- :func:`worm_truth`: the atlas-fitted worm (:mod:`neurophantom.sources.celegans`, its
  default parameters), optionally cut to its most connected neurons plus the stimulated
  ones (``atlas.neurons``, for small runs);
- :func:`atlas_stage`: every performer is stimulated neuron by neuron from rest
  (:func:`~neurophantom.engine.stimulate_each`) with the same current step: the true
  specimen, its emulation from the barcoded scan, the Rosetta emulation from the
  receptor-blind scan and the shuffled-connectome control. Each gives a stimulation
  atlas (GCaMP6s dF/F of every neuron's calcium, mean over the step, and its time
  course) on the atlas's neuron names (carried onto a reconstruction by soma position).
  The emulation's atlas is scored against the real measurements of Randi et al. (2023)
  on the held-out stimulated neurons (:func:`neurophantom.validate.atlas.score`), beside
  the anatomy baselines of the true connectome, the shuffled control, the Rosetta
  emulation and the truth itself (the fitted worm as a predictor), and compared with the
  truth's atlas pair by pair.

The held-out neurons default to those the fitted truth was *not* fitted on (its header's
``holdout``), so that the ``truth`` baseline is a held-out score too. The method never
saw the atlas: its emulation is identified from the virtual live imaging alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from scipy import stats

from .._errors import NeurophantomError
from ..biophysics import build_model
from ..identify.baseline import shuffled_connectome
from ..identify.register import register
from ..types import Circuit
from .judge import _coincidence, _held_out, emulation_model, load_theta


def most_connected(circuit: Circuit, n: int, keep_names=()) -> Circuit:
    """The ``n`` most connected neurons of ``circuit`` (synapse rows and gap junctions
    counted, ties by id) plus the neurons named ``keep_names``, with every synapse and
    gap junction among them."""
    syn, gj = circuit.synapses, circuit.gap_junctions
    degree = (syn["pre"].value_counts().add(syn["post"].value_counts(), fill_value=0)
              .add(gj["a"].value_counts(), fill_value=0).add(gj["b"].value_counts(), fill_value=0))
    degree = degree.reindex(circuit.neuron_ids, fill_value=0)
    order = sorted(degree.index, key=lambda i: (-degree[i], i))
    named = circuit.neurons.loc[circuit.neurons["name"].isin(set(keep_names)), "id"]
    keep = set(order[:n]) | set(named.tolist())
    nrn = circuit.neurons[circuit.neurons["id"].isin(keep)].reset_index(drop=True)
    syn = syn[syn["pre"].isin(keep) & syn["post"].isin(keep)].reset_index(drop=True)
    gj = gj[gj["a"].isin(keep) & gj["b"].isin(keep)].reset_index(drop=True)
    return circuit.replace(neurons=nrn, synapses=syn, gap_junctions=gj)


def worm_truth(seed: int, atlas_cfg: Mapping[str, Any]) -> Circuit:
    """The fitted worm with layout seed ``seed`` (cut to ``atlas_cfg["neurons"]`` when > 0)."""
    from ..sources import build_source

    c = build_source("celegans", seed=seed)
    if atlas_cfg.get("neurons"):
        c = most_connected(c, int(atlas_cfg["neurons"]), atlas_cfg.get("stimulated") or ())
    return c


def split(truth: Circuit, atlas, atlas_cfg: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(stimulated, held out) names: the configured ones, or every atlas-stimulated neuron
    of the worm and those of them the fitted truth held out."""
    names = set(truth.neurons["name"])
    stim = atlas_cfg.get("stimulated")
    stim = tuple(sorted(stim)) if stim else tuple(s for s in atlas.stimulated if s in names)
    bad = [s for s in stim if s not in names or s not in atlas.stimulated]
    if bad:
        raise NeurophantomError(f"atlas.stimulated: not an atlas-stimulated neuron of this worm: {', '.join(bad[:5])}")
    hold = atlas_cfg.get("holdout")
    if hold is None:
        fitted = (truth.provenance.metadata.get("fitted") or {}).get("holdout", [])
        hold = tuple(s for s in stim if s in set(fitted))
    hold = tuple(sorted(hold))
    if not hold or set(hold) - set(stim):
        raise NeurophantomError(f"atlas.holdout must be a non-empty subset of the stimulated neurons, got {list(hold)[:5]}")
    return stim, hold


def stimulation_atlas(model, targets: list, rows: list, acfg: Mapping[str, Any]):
    """One performer's atlas: ``targets`` (model neuron id or None per stimulated neuron),
    ``rows`` (model neuron id or None per atlas neuron). Returns ``(P, time_s, traces,
    start)``, ``start`` the trials' initial state (``rest``, or ``v_init`` where the
    performer has no rested state):
    ``P`` (atlas N x S) mean dF/F over the step, ``traces`` (S, T, atlas N) its course
    from the onset; NaN for neurons the performer lacks. A model without calcium reports
    voltage change (mV) instead (rank scores only depend on order and sign)."""
    from ..engine.batch import stimulate_each
    from ..identify.atlas_model import dff_of

    ok = [t for t in targets if t is not None]
    if not ok:
        raise NeurophantomError("no stimulated neuron was found in this circuit")
    quantity = "ca" if model.meta.has_calcium else "v"
    kw = dict(amplitude=acfg["amplitude_pA"], start_ms=acfg["start_ms"], stop_ms=acfg["stop_ms"], duration_ms=acfg["duration_ms"],
              dt_ms=acfg["dt_ms"], record=(quantity,), sample_dt_ms=acfg["sample_dt_ms"])
    try:
        rec = stimulate_each(model, ok, **kw)
    except NeurophantomError:
        # No rested state (e.g. a fragment of a reconstruction without leak): start every
        # trial from the initial voltages; the pre-stimulus baseline is subtracted below.
        rec = stimulate_each(model, ok, from_rest=False, **kw)
    x = rec.traces[quantity]  # (S_ok, T, N)
    t = rec.time_ms
    before, during, after = t < acfg["start_ms"], (t >= acfg["start_ms"]) & (t < acfg["stop_ms"]), t >= acfg["start_ms"]
    rest = x[:, before].mean(axis=1, keepdims=True) if before.any() else x[:, :1]
    y = np.asarray(dff_of(x, rest)) if quantity == "ca" else x - rest
    col = {int(i): k for k, i in enumerate(model.neuron_ids)}
    S, T = len(targets), int(after.sum())
    P = np.full((len(rows), S), np.nan)
    traces = np.full((S, T, len(rows)), np.nan)
    r_idx = np.array([col[int(r)] if r is not None else -1 for r in rows])
    have = r_idx >= 0
    k = 0
    for s, tgt in enumerate(targets):
        if tgt is None:
            continue
        P[have, s] = y[k][during][:, r_idx[have]].mean(axis=0)
        traces[s][:, have] = y[k][after][:, r_idx[have]]
        k += 1
    return P, (t[after] - t[after][0]) / 1000.0, traces, rec.initial_state


def _performer_ids(truth: Circuit, circuit: Circuit | None, names) -> list:
    """Each name's neuron id in ``circuit`` (None where unmatched); ``None``: the truth."""
    tid = dict(zip(truth.neurons["name"], truth.neuron_ids.tolist()))
    if circuit is None:
        return [tid.get(n) for n in names]
    mapping = register(truth.neuron_ids, truth.neurons[["x_um", "y_um", "z_um"]].to_numpy(), circuit).mapping()
    return [mapping.get(tid[n]) if n in tid else None for n in names]


def versus_truth(P: np.ndarray, P_true: np.ndarray, tr: np.ndarray, tr_true: np.ndarray) -> dict:
    """An emulation's atlas against the truth's: Spearman and sign agreement over every
    stimulated-responder pair both define, and the median per-pair Pearson correlation of
    their time courses (flat courses skipped)."""
    ok = np.isfinite(P) & np.isfinite(P_true)
    a, b = P[ok], P_true[ok]
    rho = float(stats.spearmanr(a, b).statistic) if a.size > 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else float("nan")
    big = np.abs(b) > 0.1 * np.abs(b).max() if b.size else np.zeros(0, bool)
    sign = float(np.mean(np.sign(a[big]) == np.sign(b[big]))) if big.any() else float("nan")
    rs = []
    for s in range(tr.shape[0]):
        for k in range(tr.shape[2]):
            x, y = tr[s, :, k], tr_true[s, :, k]
            if np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.ptp(x) > 0 and np.ptp(y) > 0:
                rs.append(np.corrcoef(x, y)[0, 1])
    return {"spearman": rho, "sign_agreement": sign, "time_course_correlation": float(np.median(rs)) if rs else float("nan"),
            "n_pairs": int(a.size)}


def atlas_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """The stimulation atlases of truth, emulations and control, scored (module docstring)."""
    from ..sources.celegans_atlas import signal_propagation
    from ..validate.atlas import anatomy_baselines, score
    from ..validate.atlas_kernel import kernel_correlations

    acfg, tr, seed = cfg["atlas"], cfg["world"]["transmission"], int(cfg["seed"])
    atlas = signal_propagation("wt")
    truth = Circuit.load(inputs["tissue"] / "specimen")  # truth ids, names, positions in the phantom frame
    stim, hold = split(truth, atlas, acfg)
    theta, names = load_theta(inputs["identify"])
    recon = Circuit.load(inputs["recon_heldout"])
    blind = Circuit.load(inputs["rosetta"] / "circuit")
    performers = {"truth": (build_model(truth, transmission=tr), None),
                  "emulation": (emulation_model(recon, theta, names, cfg), recon),
                  "rosetta": (emulation_model(blind, theta, names, cfg), blind),
                  "shuffled": (emulation_model(shuffled_connectome(recon, seed), theta, names, cfg), recon)}
    maps, result = {}, {}
    for label, (model, circuit) in performers.items():
        try:
            maps[label] = stimulation_atlas(model, _performer_ids(truth, circuit, stim), _performer_ids(truth, circuit, atlas.names), acfg)
        except NeurophantomError as exc:  # a diverging emulation is a failed upload, reported as such
            result[f"{label}_failed"] = str(exc)
    if "emulation" not in maps:
        raise NeurophantomError(f"the emulation's stimulation atlas failed: {result.get('emulation_failed')}")
    t_s = maps["emulation"][1]
    kc = {k: kernel_correlations(atlas, stim, hold, t_s, v[2]) for k, v in maps.items()}
    heldout = score(atlas, stim, hold, maps["emulation"][0], kernel_corr=kc["emulation"], bootstrap=acfg["bootstrap"], seed=seed)
    rel = heldout["split_half_reliability"]
    base = anatomy_baselines(Circuit.load(inputs["truth"] / "circuit"), atlas.names, stim)
    baselines = {k: score(atlas, stim, hold, v, bootstrap=acfg["bootstrap"], seed=seed, reliability=rel) for k, v in base.items()}
    for label in ("shuffled", "rosetta", "truth"):
        if label in maps:
            baselines[label] = score(atlas, stim, hold, maps[label][0], kernel_corr=kc[label], bootstrap=acfg["bootstrap"],
                                     seed=seed, reliability=rel)
    vs = {k: versus_truth(maps[k][0], maps["truth"][0], maps[k][2], maps["truth"][2]) for k in maps if k != "truth" and "truth" in maps}
    held = _held_out(inputs["record_heldout"])
    try:
        gamma = _coincidence(performers["emulation"][0], recon, held, cfg)
    except NeurophantomError as exc:
        gamma = {"mean_gamma": float("nan"), "failed": str(exc)}
    fitted_on = set((truth.provenance.metadata.get("fitted") or {}).get("train", []))
    from .main import _finite  # undefined scores (no kernel, no spikes) are null, not NaN

    return _finite({"heldout": heldout, "baselines": baselines, "versus_truth": vs, "holdout_neurons": list(hold),
            "stimulated_neurons": list(stim), "truth_fitted_on_holdout": sorted(set(hold) & fitted_on),
            "spike_coincidence": gamma, "initial_state": {k: v[3] for k, v in maps.items()}, "protocol": dict(acfg),
            "data": dict(atlas.source), **result})
