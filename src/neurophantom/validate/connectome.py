"""Synapse detection, partner assignment and connectome edges against the truth.

- **Detection**: every recovered synapse partner row (one presynaptic release site
  touching one partner) is matched one to one with a truth partner row within
  ``tolerance_nm`` of its contact centre (``scipy.optimize.linear_sum_assignment`` on the
  distances, per group of candidates); precision, recall and F1 over rows.
- **Partner assignment**: each truth release site (a hyperedge: one presynaptic neuron,
  one or more partners) is paired with the recovered release site holding most of its
  matched rows; a recovered (pre, post) tuple is right when both neurons map to the
  truth's. F1 over tuples: split or merged release sites and wrong partners all cost.
- **Edges**: directed (pre, post) neuron pairs with chemical contact (and undirected
  pairs for gap junctions), recovered segments mapped to truth neurons by majority
  overlap; precision, recall, F1 and the Pearson correlation of summed contact areas over
  the union of edges (missing = 0), overall and per synapse class (``chemical:<presynaptic
  cell type>``, ``electrical``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def match_points(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """One-to-one pairs (i, j) of points ``a[i]``, ``b[j]`` closer than ``tol``, minimising
    the summed distance within every group of mutually reachable candidates."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    cand = cKDTree(a).sparse_distance_matrix(cKDTree(b), tol, output_type="coo_matrix")
    if cand.nnz == 0:
        return np.zeros((0, 2), dtype=np.int64)
    i, j = cand.row, cand.col
    n = len(a) + len(b)
    g = coo_matrix((np.ones(len(i), np.int8), (i, len(a) + j)), shape=(n, n))
    comp = connected_components(g, directed=False)[1]
    out = []
    for c in np.unique(comp[i]):
        sel = comp[i] == c
        ri, ci = np.unique(i[sel]), np.unique(j[sel])
        # A forbidden pair costs more than any set of allowed ones (but not so much that
        # the allowed distances vanish in rounding): most pairs first, then least distance.
        forbid = tol * (len(ri) + len(ci) + 1)
        cost = np.full((len(ri), len(ci)), forbid)
        cost[np.searchsorted(ri, i[sel]), np.searchsorted(ci, j[sel])] = np.linalg.norm(a[i[sel]] - b[j[sel]], axis=1)
        r, k = linear_sum_assignment(cost)
        ok = cost[r, k] < forbid
        out.append(np.stack([ri[r[ok]], ci[k[ok]]], axis=1))
    return np.concatenate(out).astype(np.int64)


def recovered_rows(contacts: pd.DataFrame, origin_nm) -> pd.DataFrame:
    """Recovered chemical partner rows: site, pre, post, contact centre (nm, specimen frame), area (nm^2)."""
    chem = contacts[contacts["kind"] == "chemical"].copy()
    if chem.empty:
        return pd.DataFrame({c: np.zeros(0) for c in ("site", "pre", "post", "z_nm", "y_nm", "x_nm", "area_nm2")})
    for a, o in zip(("z_nm", "y_nm", "x_nm"), origin_nm):
        chem[a + "_w"] = (chem[a] + o) * chem["area_nm2"]
    g = chem.groupby(["site", "post"], sort=True)
    out = g.agg(pre=("pre", "first"), area_nm2=("area_nm2", "sum"), z=("z_nm_w", "sum"), y=("y_nm_w", "sum"),
                x=("x_nm_w", "sum")).reset_index()
    for a in "zyx":
        out[f"{a}_nm"] = out.pop(a) / out["area_nm2"]
    return out


def _f1(tp: float, n_rec: float, n_truth: float) -> tuple:
    p = tp / n_rec if n_rec else None
    r = tp / n_truth if n_truth else None
    f = 2 * tp / (n_rec + n_truth) if (n_rec + n_truth) else None
    return p, r, f


def synapse_scores(truth: pd.DataFrame, rec: pd.DataFrame, seg_to_truth: dict, tol_nm: float) -> tuple[dict, pd.DataFrame]:
    """Detection, direction, partner F1 and contact areas; also the matched row pairs."""
    tpos = truth[["z_um", "y_um", "x_um"]].to_numpy(dtype=np.float64) * 1000.0
    rpos = rec[["z_nm", "y_nm", "x_nm"]].to_numpy(dtype=np.float64)
    pairs = match_points(rpos, tpos, tol_nm)
    m = pd.DataFrame({"rec": pairs[:, 0], "truth": pairs[:, 1]})
    r_pre = np.array([seg_to_truth.get(int(v), -1) for v in rec["pre"]], dtype=np.int64)
    r_post = np.array([seg_to_truth.get(int(v), -1) for v in rec["post"]], dtype=np.int64)
    m["pre_ok"] = r_pre[m["rec"]] == truth["pre"].to_numpy()[m["truth"]]
    m["post_ok"] = r_post[m["rec"]] == truth["post"].to_numpy()[m["truth"]]
    p, r, f = _f1(len(m), len(rec), len(truth))
    out = {"n_truth": int(len(truth)), "n_recovered": int(len(rec)), "matched": int(len(m)), "precision": p, "recall": r, "f1": f,
           "tolerance_nm": float(tol_nm),
           "position_error_nm_median": float(np.median(np.linalg.norm(rpos[m["rec"]] - tpos[m["truth"]], axis=1))) if len(m) else None,
           "pre_correct": float(m["pre_ok"].mean()) if len(m) else None, "post_correct": float(m["post_ok"].mean()) if len(m) else None}
    # Partner assignment over release sites.
    t_site = truth["synapse_id"].to_numpy()
    r_site = rec["site"].to_numpy()
    link = pd.DataFrame({"t": t_site[m["truth"]], "r": r_site[m["rec"]]})
    best = link.value_counts().reset_index(name="n").sort_values(["t", "n", "r"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("t").sort_values(["r", "n", "t"], ascending=[True, False, True], kind="stable").drop_duplicates("r")
    t_tuples = {int(s): set(zip(g["pre"].astype(int), g["post"].astype(int))) for s, g in truth.groupby("synapse_id")}
    r_tuples = {int(s): set(zip(r_pre[idx].tolist(), r_post[idx].tolist())) for s, idx in rec.groupby("site").indices.items()}
    tp = sum(len(r_tuples[int(r)] & t_tuples[int(t)]) for t, r in zip(best["t"], best["r"]))
    n_rt = sum(len(v) for v in r_tuples.values())
    n_tt = sum(len(v) for v in t_tuples.values())
    pp, pr, pf = _f1(tp, n_rt, n_tt)
    poly = [s for s, v in t_tuples.items() if len(v) > 1]
    exact = {int(t) for t, r in zip(best["t"], best["r"]) if r_tuples[int(r)] == t_tuples[int(t)]}
    out.update({"partner_precision": pp, "partner_recall": pr, "partner_f1": pf,
                "release_sites_truth": len(t_tuples), "release_sites_recovered": len(r_tuples),
                "polyadic_sites_truth": len(poly), "polyadic_sites_exact": int(sum(s in exact for s in poly)),
                "sites_exact_fraction": len(exact) / len(t_tuples) if t_tuples else None})
    if len(m):
        ta = truth["rendered_contact_area_um2"].to_numpy()[m["truth"]]
        ra = rec["area_nm2"].to_numpy()[m["rec"]] / 1e6
        rel = np.abs(ra - ta) / ta
        out["contact_area_relative_error_median"] = float(np.median(rel))
        out["contact_area_correlation"] = _corr(ta, ra)
    return out, m


def _corr(a: np.ndarray, b: np.ndarray):
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def edge_scores(truth_edges: pd.DataFrame, rec_edges: pd.DataFrame) -> dict:
    """Precision, recall, F1 and weight correlation overall and per class.

    Both tables: ``pre, post, weight, class`` (truth ids; unmatched recovered neurons
    carry negative ids, so they never match).
    """
    def one(t: pd.DataFrame, r: pd.DataFrame) -> dict:
        tk = set(zip(t["pre"], t["post"]))
        rk = set(zip(r["pre"], r["post"]))
        tp = len(tk & rk)
        p, rc, f = _f1(tp, len(rk), len(tk))
        keys = sorted(tk | rk)
        tw = t.groupby(["pre", "post"])["weight"].sum().reindex(keys, fill_value=0.0).to_numpy() if keys else np.zeros(0)
        rw = r.groupby(["pre", "post"])["weight"].sum().reindex(keys, fill_value=0.0).to_numpy() if keys else np.zeros(0)
        return {"edges_truth": len(tk), "edges_recovered": len(rk), "edges_matched": tp, "edge_precision": p,
                "edge_recall": rc, "edge_f1": f, "weight_correlation": _corr(tw, rw)}

    te = truth_edges.groupby(["pre", "post", "class"], as_index=False)["weight"].sum()
    re = rec_edges.groupby(["pre", "post", "class"], as_index=False)["weight"].sum()
    out = one(te, re)
    out["by_class"] = {c: one(te[te["class"] == c], re[re["class"] == c]) for c in sorted(set(te["class"]) | set(re["class"]))}
    return out


def truth_edges(phantom) -> pd.DataFrame:
    """Directed chemical edges (class ``chemical:<pre cell type>``) and undirected gap-junction
    edges (``electrical``, stored with pre < post) of a phantom, weighted by rendered contact area."""
    ctype = dict(zip(phantom.neurons["neuron_id"], phantom.neurons["cell_type"]))
    s = phantom.synapses
    chem = pd.DataFrame({"pre": s["pre"].to_numpy(), "post": s["post"].to_numpy(), "weight": s["rendered_contact_area_um2"].to_numpy(),
                         "class": [f"chemical:{ctype[int(p)]}" for p in s["pre"]]})
    g = phantom.gap_junctions
    a, b = g["a"].to_numpy(), g["b"].to_numpy()
    gap = pd.DataFrame({"pre": np.minimum(a, b), "post": np.maximum(a, b), "weight": g["rendered_contact_area_um2"].to_numpy(),
                        "class": "electrical"})
    return pd.concat([chem, gap], ignore_index=True)


def recovered_edges(contacts: pd.DataFrame, seg_to_truth: dict, phantom) -> pd.DataFrame:
    """Recovered chemical and gap-junction edges in truth ids (unmatched segments: -id)."""
    ctype = dict(zip(phantom.neurons["neuron_id"], phantom.neurons["cell_type"]))

    def mapped(v):
        return np.array([seg_to_truth.get(int(x), -int(x)) for x in v], dtype=np.int64)

    chem = contacts[contacts["kind"] == "chemical"]
    pre, post = mapped(chem["pre"]), mapped(chem["post"])
    cls = [f"chemical:{ctype[int(p)]}" if p >= 0 else "unmatched" for p in pre]
    out = [pd.DataFrame({"pre": pre, "post": post, "weight": chem["area_nm2"].to_numpy() / 1e6, "class": cls})]
    gap = contacts[contacts["kind"] == "gap"]
    if len(gap):
        a, b = mapped(gap["seg_a"]), mapped(gap["seg_b"])
        out.append(pd.DataFrame({"pre": np.minimum(a, b), "post": np.maximum(a, b), "weight": gap["area_nm2"].to_numpy() / 1e6,
                                 "class": "electrical"}))
    return pd.concat(out, ignore_index=True)


def gap_scores(phantom, contacts: pd.DataFrame, origin_nm, tol_nm: float) -> dict:
    """Gap-junction detection by contact position."""
    g = phantom.gap_junctions
    rec = contacts[contacts["kind"] == "gap"]
    tpos = g[["z_um", "y_um", "x_um"]].to_numpy(dtype=np.float64) * 1000.0
    rpos = rec[["z_nm", "y_nm", "x_nm"]].to_numpy(dtype=np.float64) + np.asarray(origin_nm)
    pairs = match_points(rpos, tpos, tol_nm)
    p, r, f = _f1(len(pairs), len(rec), len(g))
    return {"n_truth": int(len(g)), "n_recovered": int(len(rec)), "matched": int(len(pairs)), "precision": p, "recall": r, "f1": f}
