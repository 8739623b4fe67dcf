"""Molecular identity and density against the truth: confusion matrix, type accuracy,
density relative error.

Sites are the matched synapse partner rows (receptors) and the one-to-one matched
neurons (channels). At each site the truth holds ``t_k`` molecules of type ``k`` (the
phantom's molecule table) and the reconstruction estimates ``r_k`` (its uncertainty
table, rounded to whole molecules). The site's confusion counts are a transport of the
estimate onto the truth:

- ``min(t_k, r_k)`` molecules are right (diagonal);
- the remaining truth molecules ``u_k = t_k - min`` and estimates ``v_j = r_j - min`` are
  paired in proportion, ``u_k v_j / max(U, V)`` into row ``k``, column ``j`` (type ``k``
  read as ``j``), where ``U = sum u`` and ``V = sum v``;
- whatever is left of ``U`` goes to the column ``missed``, of ``V`` to the row
  ``spurious``.

For single, isolated molecules this is the ordinary confusion matrix of calls. Type
accuracy is the diagonal over the type block (molecules present in both, read as their
own type); molecules missed or spurious (counting and attribution errors) are reported as
molecule recall and precision. Densities are compared where the truth
count is positive, per site and type, in the specimen frame: receptors per um^2 of
contact (truth: rendered contact area), channels per um^2 of the neuron's surface on the
reconstruction's voxel grid (truth and reconstruction measured the same way).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSED = "missed"
SPURIOUS = "spurious"


def site_confusion(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """(K+1, K+1) confusion of one site: rows truth types + spurious, columns estimates + missed."""
    t = np.asarray(t, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    k = len(t)
    c = np.zeros((k + 1, k + 1))
    d = np.minimum(t, r)
    c[np.arange(k), np.arange(k)] = d
    u, v = t - d, r - d
    big = max(u.sum(), v.sum())
    if big > 0:
        c[:k, :k] += np.outer(u, v) / big
        c[:k, k] = u * (1.0 - v.sum() / big)
        c[k, :k] = v * (1.0 - u.sum() / big)
    return c


def confusion(truth: pd.DataFrame, rec: pd.DataFrame, types: list[str]) -> np.ndarray:
    """Summed site confusion over sites (rows of both tables aligned, columns ``types``)."""
    c = np.zeros((len(types) + 1, len(types) + 1))
    t = truth.reindex(columns=types, fill_value=0).to_numpy(dtype=np.float64)
    r = np.rint(np.clip(rec.reindex(columns=types, fill_value=0).to_numpy(dtype=np.float64), 0.0, None))
    for a, b in zip(t, r):
        c += site_confusion(a, b)
    return c


def accuracy(c: np.ndarray) -> float | None:
    """Protein-type accuracy: of the molecules both in the truth and in the estimate (the
    type block of the matrix), the fraction read as their own type."""
    block = c[:-1, :-1].sum()
    return float(np.trace(c[:-1, :-1]) / block) if block > 0 else None


def detection(c: np.ndarray) -> tuple[float | None, float | None]:
    """(recall, precision) of molecules regardless of type: the type block over all truth
    molecules (rows) and over all estimated ones (columns)."""
    block = c[:-1, :-1].sum()
    truth, est = c[:-1, :].sum(), c[:, :-1].sum()
    return (float(block / truth) if truth > 0 else None, float(block / est) if est > 0 else None)


def relative_errors(t_count: pd.DataFrame, t_area: np.ndarray, r_count: pd.DataFrame, r_area: np.ndarray, types: list[str]) -> dict:
    """Median and mean |r - t| / t of densities (count / area) where the truth count is positive."""
    t = t_count.reindex(columns=types, fill_value=0).to_numpy(dtype=np.float64) / np.asarray(t_area)[:, None]
    r = r_count.reindex(columns=types, fill_value=0).to_numpy(dtype=np.float64) / np.asarray(r_area)[:, None]
    ok = (t_count.reindex(columns=types, fill_value=0).to_numpy() > 0) & np.isfinite(r)
    rel = np.abs(r[ok] - t[ok]) / t[ok]
    if rel.size == 0:
        return {"n": 0, "median": None, "mean": None}
    return {"n": int(rel.size), "median": float(np.median(rel)), "mean": float(np.mean(rel))}


def molecule_scores(phantom, uncertainty: pd.DataFrame, rec_rows: pd.DataFrame, matched: pd.DataFrame, neuron_map: dict,
                    truth_area_nm2: pd.Series, rec_areas: pd.Series, scale: float) -> dict:
    """Confusion matrix, accuracies and density errors (see module docstring).

    ``rec_rows`` are the recovered partner rows (site, post, area_nm2) and ``matched`` the
    row pairs of :func:`~neurophantom.validate.connectome.synapse_scores`; ``rec_areas``
    the recovered neurons' surface (biological um^2, scaled back by ``scale``).
    """
    if uncertainty is None or uncertainty.empty or not bool(uncertainty["observed"].any()):
        return {"observed": False, "type_accuracy": None, "receptor_type_accuracy": None, "channel_type_accuracy": None,
                "confusion": None, "receptor_density_relative_error": None, "channel_density_relative_error": None}
    mol = phantom.molecules
    unc = uncertainty[uncertainty["observed"].astype(bool)]
    rec_types = sorted(set(unc["protein"].astype(str)))
    true_types = sorted(set(mol.loc[mol["kind"].astype(str).isin(["receptor", "channel"]), "protein"].astype(str)))
    types = sorted(set(rec_types) | set(true_types))
    out: dict = {"observed": True, "types": types}
    # Receptors at matched partner rows.
    rec = unc[unc["kind"] == "receptor"].pivot_table(index=["synapse_id", "neuron"], columns="protein", values="count", aggfunc="sum")
    tr = mol[mol["kind"].astype(str) == "receptor"]
    tcount = tr.groupby(["synapse_id", "neuron_id", tr["protein"].astype(str)], observed=True).size().unstack(fill_value=0)
    syn = phantom.synapses
    keys_t = list(zip(syn["synapse_id"].to_numpy()[matched["truth"]], syn["post"].to_numpy()[matched["truth"]]))
    keys_r = list(zip(rec_rows["site"].to_numpy()[matched["rec"]] + 1, rec_rows["post"].to_numpy()[matched["rec"]]))
    ok = np.array([k in rec.index for k in keys_r], dtype=bool) if len(keys_r) else np.zeros(0, bool)
    t_rec = tcount.reindex([k for k, o in zip(keys_t, ok) if o], fill_value=0)
    r_rec = rec.reindex([k for k, o in zip(keys_r, ok) if o]).fillna(0.0)
    c_rec = confusion(t_rec, r_rec, types)
    # Channels at one-to-one matched neurons.
    ch = unc[unc["kind"] == "channel"].pivot_table(index="neuron", columns="protein", values="count", aggfunc="sum")
    tc = mol[mol["kind"].astype(str) == "channel"]
    ccount = tc.groupby(["neuron_id", tc["protein"].astype(str)], observed=True).size().unstack(fill_value=0)
    pairs = [(s, t) for s, t in sorted(neuron_map.items()) if s in ch.index]
    t_ch = ccount.reindex([t for _, t in pairs], fill_value=0)
    r_ch = ch.reindex([s for s, _ in pairs]).fillna(0.0)
    # The reconstruction reports the specimen's channel counts; the phantom holds a sampled
    # fraction of them (tissue.assemble.channel_sampling_fractions): compare like with like.
    frac = phantom.metadata.get("channel_sampling_fraction", 1.0)
    for c in r_ch.columns:
        r_ch[c] = r_ch[c] * (float(frac.get(c, 1.0)) if isinstance(frac, dict) else float(frac))
    c_ch = confusion(t_ch, r_ch, types)
    total = c_rec + c_ch
    labels_rows = types + [SPURIOUS]
    labels_cols = types + [MISSED]
    out.update({
        "type_accuracy": accuracy(total), "receptor_type_accuracy": accuracy(c_rec), "channel_type_accuracy": accuracy(c_ch),
        "molecule_recall": detection(total)[0], "molecule_precision": detection(total)[1],
        "confusion": {"rows": labels_rows, "columns": labels_cols, "matrix": total.round(6).tolist()},
        "sites": {"synapse_rows": int(len(t_rec)), "neurons": int(len(t_ch))},
    })
    t_area = syn["rendered_contact_area_um2"].to_numpy()[matched["truth"]][ok] if len(keys_r) else np.zeros(0)
    r_area = rec_rows["area_nm2"].to_numpy()[matched["rec"]][ok] / 1e6 if len(keys_r) else np.zeros(0)
    out["receptor_density_relative_error"] = relative_errors(t_rec, t_area, r_rec, r_area, types)
    tf = truth_area_nm2.reindex([t for _, t in pairs], fill_value=0).to_numpy() / 1e6
    ra = rec_areas.reindex([s for s, _ in pairs]).to_numpy(dtype=np.float64) * scale ** 2
    out["channel_density_relative_error"] = relative_errors(t_ch, np.maximum(tf, 1e-12), r_ch, ra, types)
    return out
