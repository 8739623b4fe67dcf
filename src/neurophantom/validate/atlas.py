"""Score predicted stimulation atlases against the measured one, on held-out stimulated neurons.

A prediction is a matrix ``P[k, s]``: the response of atlas neuron ``k`` to stimulating
``stimulated[s]``. Scores use the *held-out* pairs: responder ``k`` != stimulated, both
in the prediction, the pair measured in the atlas (finite mean dF/F). On them:

- ``spearman``: rank correlation of ``P`` with the measured mean dF/F (scipy.stats);
- ``auroc``, ``average_precision``: how well ``|P|`` ranks the pairs with a significant
  response (``q < 0.05``) above the others (scikit-learn);
- ``sign_agreement``: on the significant pairs, the fraction where ``P``'s sign is the
  measured one (``P = 0`` counts as positive, so an unsigned anatomy predictor scores
  "always positive");
- ``kernel_correlation``: median over significant held-out pairs with a fitted kernel of
  the Pearson correlation between the predicted time course of the responder and the
  measured kernel convolved with the predicted time course of the stimulated neuron
  (:mod:`neurophantom.validate.atlas_kernel`); NaN (null in JSON) when the predictor
  has no time course, as for every anatomy baseline;
- ``reproducibility_fraction``: ``spearman`` divided by the atlas's own split-half
  reliability on the same pairs (Spearman between the means of two random halves of each
  pair's trials, pairs with at least two trials; mean of 20 random splits);
  ``reproducibility_fraction_sb`` divides by the Spearman-Brown ceiling
  ``sqrt(2 r / (1 + r))`` instead (the best correlation a perfect model can reach with
  the full-trial means), the stricter of the two;
- ``n_pairs``, ``n_stimulated``.

Intervals are percentile bootstraps over held-out stimulated neurons (resampled with
replacement with all their pairs); :func:`compare` bootstraps paired differences between
two predictors on the same resamples.

Anatomy baselines (:func:`anatomy_baselines`): ``chemical`` (synapse counts ``C[post,
pre]``), ``gap`` (gap-junction counts, symmetric), ``chemical_gap`` (``A = C + G``) and
``two_step`` (``A + A @ A``: weighted walks of one or two steps).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

KEYS = ("spearman", "auroc", "average_precision", "sign_agreement", "kernel_correlation", "reproducibility_fraction")


def heldout_pairs(atlas, stimulated, holdout, predicted: np.ndarray):
    """(k, s, j) index arrays of the held-out pairs: responder row ``k``, column ``s`` of
    ``predicted``, atlas column ``j``."""
    scol = {n: s for s, n in enumerate(stimulated)}
    ks, ss, js = [], [], []
    for name in holdout:
        s = scol[name]
        j = atlas.index([name])[0]
        ok = np.isfinite(atlas.dff[:, j]) & np.isfinite(predicted[:, s])
        ok[j] = False
        k = np.where(ok)[0]
        ks.append(k); ss.append(np.full(k.size, s)); js.append(np.full(k.size, j))
    cat = lambda x: np.concatenate(x) if x else np.zeros(0, np.int64)  # noqa: E731
    return cat(ks), cat(ss), cat(js)


def split_half_reliability(atlas, k: np.ndarray, j: np.ndarray, *, repeats: int = 20, seed: int = 0) -> float:
    """Mean over ``repeats`` random splits of the Spearman correlation between the two
    halves' mean dF/F, over the given pairs that have at least two trials."""
    rng = np.random.default_rng(seed)
    trials = [atlas.trials[(int(a), int(b))] for a, b in zip(k, j) if atlas.n_trials[a, b] >= 2]
    if len(trials) < 3:
        return float("nan")
    rs = []
    for _ in range(repeats):
        a, b = [], []
        for v in trials:
            p = rng.permutation(v.size)
            h = v.size // 2
            a.append(v[p[:h]].mean()); b.append(v[p[h:]].mean())
        rs.append(stats.spearmanr(a, b).statistic)
    return float(np.mean(rs))


def _metrics(p, y, q, kern=None, reliability=np.nan) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    sig = q < 0.05
    if p.size < 2:  # no held-out pair this predictor covers (e.g. unmatched neurons)
        rho = float("nan")
    else:
        rho = float(stats.spearmanr(p, y).statistic) if np.ptp(p) > 0 else 0.0
    both = sig.any() and (~sig).any()
    out = {
        "spearman": rho,
        "auroc": float(roc_auc_score(sig, np.abs(p))) if both else float("nan"),
        "average_precision": float(average_precision_score(sig, np.abs(p))) if both else float("nan"),
        "sign_agreement": float(np.mean(np.where(p[sig] >= 0, 1.0, -1.0) == np.sign(y[sig]))) if sig.any() else float("nan"),
        "kernel_correlation": float(np.nanmedian(kern)) if kern is not None and np.isfinite(kern).any() else float("nan"),
        "reproducibility_fraction": rho / reliability if reliability > 0 else float("nan"),
        "reproducibility_fraction_sb": rho / np.sqrt(2 * reliability / (1 + reliability)) if reliability > 0 else float("nan"),
        "n_pairs": int(p.size),
    }
    return out


def score(atlas, stimulated, holdout, predicted, *, kernel_corr: np.ndarray | None = None,
          bootstrap: int = 1000, seed: int = 0, reliability: float | None = None) -> dict:
    """Scores of one predictor on the held-out pairs, with 95% bootstrap intervals
    (``<key>_ci``) over held-out stimulated neurons. ``kernel_corr`` (atlas N x len(stimulated))
    holds per-pair kernel correlations when the predictor has time courses."""
    k, s, j = heldout_pairs(atlas, stimulated, holdout, predicted)
    y, q, p = atlas.dff[k, j], atlas.q[k, j], predicted[k, s]
    kc = kernel_corr[k, s] if kernel_corr is not None else None
    kc = np.where(q < 0.05, kc, np.nan) if kc is not None else None
    rel = split_half_reliability(atlas, k, j) if reliability is None else reliability
    out = _metrics(p, y, q, kc, rel)
    out["n_stimulated"] = int(len(holdout))
    out["split_half_reliability"] = rel
    out["always_positive"] = float(np.mean(y[q < 0.05] > 0)) if (q < 0.05).any() else float("nan")
    rng = np.random.default_rng(seed)
    groups = [np.where(s == c)[0] for c in np.unique(s)]
    if not groups:
        bootstrap = 0
    boots = []
    for _ in range(bootstrap):
        idx = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        boots.append(_metrics(p[idx], y[idx], q[idx], None if kc is None else kc[idx], rel))
    for key in KEYS:
        vals = np.array([b[key] for b in boots], float).reshape(-1)
        vals = vals[np.isfinite(vals)]
        out[f"{key}_ci"] = [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if vals.size else [float("nan")] * 2
    return out


def compare(atlas, stimulated, holdout, a: np.ndarray, b: np.ndarray, *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap of ``a - b`` for spearman, auroc, average_precision, sign_agreement:
    point difference and 95% interval over held-out stimulated neurons."""
    k, s, j = heldout_pairs(atlas, stimulated, holdout, np.where(np.isfinite(a) & np.isfinite(b), a, np.nan))
    y, q = atlas.dff[k, j], atlas.q[k, j]
    pa, pb = a[k, s], b[k, s]
    keys = ("spearman", "auroc", "average_precision", "sign_agreement")
    da, db = _metrics(pa, y, q), _metrics(pb, y, q)
    out = {key: {"difference": da[key] - db[key]} for key in keys}
    rng = np.random.default_rng(seed)
    groups = [np.where(s == c)[0] for c in np.unique(s)]
    diffs = {key: [] for key in keys}
    for _ in range(bootstrap):
        idx = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        ma, mb = _metrics(pa[idx], y[idx], q[idx]), _metrics(pb[idx], y[idx], q[idx])
        for key in keys:
            diffs[key].append(ma[key] - mb[key])
    for key in keys:
        v = np.array(diffs[key], float)
        v = v[np.isfinite(v)]
        out[key]["ci"] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v.size else [float("nan")] * 2
    return out


def anatomy_baselines(circuit, atlas_names, stimulated) -> dict[str, np.ndarray]:
    """Anatomy predictors as (atlas N x len(stimulated)) matrices (see module docstring)."""
    cidx = {n: k for k, n in enumerate(circuit.neurons["name"])}
    n = circuit.n_neurons
    meta = circuit.provenance.metadata.get("count_units", {})
    per = meta.get("contact_area_per_count_um2", 1.0)
    C = np.zeros((n, n))
    syn = circuit.synapses
    pre, post = circuit.index_of(syn["pre"].to_numpy()), circuit.index_of(syn["post"].to_numpy())
    wired = (syn[[c for c in circuit.receptor_types if not c.startswith("gpcr")]].to_numpy() > 0).any(axis=1)
    np.add.at(C, (post[wired], pre[wired]), syn["contact_area_um2"].to_numpy()[wired] / per)
    G = np.zeros((n, n))
    gj = circuit.gap_junctions
    a, b = circuit.index_of(gj["a"].to_numpy()), circuit.index_of(gj["b"].to_numpy())
    np.add.at(G, (a, b), gj["connexin_count"].to_numpy())
    np.add.at(G, (b, a), gj["connexin_count"].to_numpy())
    A = C + G
    mats = {"chemical": C, "gap": G, "chemical_gap": A, "two_step": A + A @ A}
    rows = np.array([cidx.get(nm, -1) for nm in atlas_names])
    cols = np.array([cidx[s] for s in stimulated])
    out = {}
    for name, M in mats.items():
        P = np.full((len(atlas_names), len(cols)), np.nan)
        P[rows >= 0] = M[np.ix_(rows[rows >= 0], cols)]
        out[name] = P
    return out


def steady_kernel_corr(atlas, stimulated, holdout, predicted: np.ndarray) -> np.ndarray:
    """Per-pair kernel correlations of a steady-state predictor through its quasi-static
    time course (:func:`neurophantom.validate.atlas_kernel.quasi_static_traces`)."""
    from .atlas_kernel import kernel_correlations, quasi_static_traces

    t, traces = quasi_static_traces(predicted)
    return kernel_correlations(atlas, stimulated, holdout, t, traces)


def evaluate(atlas, fit, *, shuffled=None, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Held-out scores of a fitted worm beside the anatomy baselines and, when given, the
    shuffled-connectome control fitted the same way; paired differences against
    ``two_step``. The layout of ``scores.json``'s ``atlas`` entry. The fitted worm and
    the shuffled control have a kernel correlation (through their quasi-static time
    course, :func:`steady_kernel_corr`); the anatomy baselines predict no time course,
    so theirs is NaN (null in JSON)."""
    base = anatomy_baselines(fit.circuit, fit.atlas_names, fit.stimulated)
    kc = steady_kernel_corr(atlas, fit.stimulated, fit.holdout, fit.predicted)
    model = score(atlas, fit.stimulated, fit.holdout, fit.predicted, kernel_corr=kc, bootstrap=bootstrap, seed=seed)
    rel = model["split_half_reliability"]
    baselines = {k: score(atlas, fit.stimulated, fit.holdout, v, bootstrap=bootstrap, seed=seed, reliability=rel) for k, v in base.items()}
    if shuffled is not None:
        kcs = steady_kernel_corr(atlas, shuffled.stimulated, shuffled.holdout, shuffled.predicted)
        baselines["shuffled"] = score(atlas, shuffled.stimulated, shuffled.holdout, shuffled.predicted, kernel_corr=kcs,
                                      bootstrap=bootstrap, seed=seed, reliability=rel)
    cmp = {"two_step": compare(atlas, fit.stimulated, fit.holdout, fit.predicted, base["two_step"], bootstrap=bootstrap, seed=seed)}
    if shuffled is not None:
        cmp["shuffled"] = compare(atlas, fit.stimulated, fit.holdout, fit.predicted, shuffled.predicted, bootstrap=bootstrap, seed=seed)
    return {"heldout": model, "baselines": baselines, "model_minus": cmp, "holdout_neurons": list(fit.holdout)}
