"""Figures of the per-run report, each returned as PNG bytes (matplotlib, Agg backend).

Every function takes plain arrays or mappings (no pipeline objects), so it can be called
on any stage's output and tested alone; :func:`~neurophantom.report.html.write_report`
embeds the bytes.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from .._errors import NeurophantomError  # noqa: E402
from ..validate.activity import trace_correlation  # noqa: E402

DPI = 100


def png_bytes(fig, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def traces_figure(
    time_ms,
    predicted,
    recorded,
    *,
    labels: Sequence[str] | None = None,
    columns: Sequence[int] | None = None,
    max_neurons: int = 4,
    ylabel: str = "fluorescence (dF/F)",
    title: str = "",
    smooth_sigma_ms: float = 0.0,
    tags: Sequence[str] | None = None,
) -> bytes:
    """Predicted vs recorded traces of a few neurons, one panel each, with their r.

    ``predicted`` and ``recorded`` are ``(time, neuron)``; ``columns`` picks the neurons
    (default: the first ``max_neurons``); ``labels`` names every column; ``tags`` adds a
    word per panel (e.g. "median r"). With ``smooth_sigma_ms`` > 0 both traces are
    Gaussian-smoothed (the recording's raw frames stay in light grey) and r is the
    smoothed traces' correlation. The legend sits above the panels, clear of the data.
    """
    t = np.asarray(time_ms, dtype=np.float64)
    p, r = np.asarray(predicted, dtype=np.float64), np.asarray(recorded, dtype=np.float64)
    if p.ndim != 2 or p.shape != r.shape or p.shape[0] != t.size:
        raise NeurophantomError(f"traces_figure needs (time, neuron) arrays on time_ms, got {p.shape}, {r.shape}, {t.shape}")
    if labels is not None and len(labels) != p.shape[1]:
        raise NeurophantomError(f"traces_figure got {len(labels)} labels for {p.shape[1]} neurons")
    cols = list(range(min(max_neurons, p.shape[1]))) if columns is None else [int(c) for c in columns]
    if not cols:
        raise NeurophantomError("traces_figure has no neuron to show")
    ps, rs = (smooth(x, t, smooth_sigma_ms) for x in (p, r))
    corr = trace_correlation(ps[:, cols], rs[:, cols])
    fig, axes = plt.subplots(len(cols), 1, figsize=(8, 1.7 * len(cols) + 0.9), sharex=True, squeeze=False)
    for k, (ax, c, rc) in enumerate(zip(axes[:, 0], cols, corr)):
        if smooth_sigma_ms > 0:
            ax.plot(t, r[:, c], color="0.75", lw=0.8, label="recorded (frames)")
        ax.plot(t, rs[:, c], color="k", lw=1.2, label="recorded" + (" (smoothed)" if smooth_sigma_ms > 0 else ""))
        ax.plot(t, ps[:, c], color="tab:orange", lw=1.2, label="emulated" + (" (smoothed)" if smooth_sigma_ms > 0 else ""))
        name = labels[c] if labels is not None else f"neuron {c}"
        tag = f"{tags[k]}: " if tags is not None else ""
        ax.set_title(f"{tag}{name}, r = {rc:.2f}", fontsize=9, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=8)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("time from protocol start (ms)")
    if title:
        fig.suptitle(title, y=1.06)
    fig.tight_layout()
    return png_bytes(fig)


def smooth(x: np.ndarray, time_ms: np.ndarray, sigma_ms: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0) with ``sigma_ms``; unchanged for 0."""
    if sigma_ms <= 0 or len(time_ms) < 2:
        return np.asarray(x, dtype=np.float64)
    from scipy.ndimage import gaussian_filter1d

    step = float(np.median(np.diff(time_ms)))
    return gaussian_filter1d(np.asarray(x, dtype=np.float64), sigma_ms / step, axis=0, mode="nearest")


def representative_columns(r: Sequence[float], quantiles: Sequence[float] = (0.25, 0.5, 0.75)) -> list[int]:
    """Indices of the values nearest the given quantiles of ``r`` (NaN left out; each
    index once): the rule that picks the neurons a traces figure shows."""
    v = np.asarray(r, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(v))
    if not ok.size:
        return []
    out: list[int] = []
    for q in quantiles:
        target = np.quantile(v[ok], q)
        for i in ok[np.argsort(np.abs(v[ok] - target), kind="stable")]:
            if int(i) not in out:
                out.append(int(i))
                break
    return out


def correlation_histogram(groups: Mapping[str, Sequence[float]], *, title: str = "per-neuron trace correlation") -> bytes:
    """Histograms of per-neuron correlations, one outline per group (emulation, controls),
    with each group's median as a dashed line; NaN (undefined) values are left out and
    counted in the legend."""
    if not groups:
        raise NeurophantomError("correlation_histogram needs at least one group")
    bins = np.linspace(-1.0, 1.0, 41)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for k, (name, vals) in enumerate(groups.items()):
        v = np.asarray(vals, dtype=np.float64).ravel()
        ok = v[~np.isnan(v)]
        color = f"C{k}"
        label = f"{name} (n={ok.size}" + (f", {v.size - ok.size} undefined)" if ok.size < v.size else ")")
        ax.hist(ok, bins=bins, histtype="step", lw=1.6, color=color, label=label)
        if ok.size:
            ax.axvline(np.median(ok), color=color, ls="--", lw=1.0)
    ax.set_xlabel("Pearson r, emulated vs recorded trace of one neuron (dashed: median)")
    ax.set_ylabel("neuron-protocol traces")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return png_bytes(fig)


def _free_parameters(parameters: Mapping[str, Mapping]) -> dict[str, Mapping]:
    return {k: v for k, v in parameters.items() if str(v.get("status", v.get("reason", ""))) != "fixed"}


def identifiability_figure(eigenvalues: Sequence[float], parameters: Mapping[str, Mapping] | None = None) -> bytes:
    """Eigen-spectrum of the Fisher / Gauss-Newton matrix (log scale) and, if given, the
    95% interval of each *learned* parameter (fixed ones are not estimates and are left
    out; the report's table lists them as fixed).

    ``parameters`` maps a name to ``{"value" or "recovered", "ci95": [low, high],
    "identifiable", "status" or "reason", optional "effective_truth"}``. With an
    effective truth the estimate and interval are drawn as % deviation from it (an
    interval crossing 0 covers the truth); otherwise as % deviation from the estimate. Learned
    parameters the data cannot constrain are drawn in red, the others in blue, and the
    legend says which colours occur. Eigenvalues <= 0 (the null space) are drawn at the
    floor of the axis, as crosses; intervals reaching past the axis end at its edge.
    """
    ev = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    if ev.size == 0 or not np.isfinite(ev).all():
        raise NeurophantomError("identifiability_figure needs finite eigenvalues")
    free = _free_parameters(parameters or {})
    n_panels = 2 if free else 1
    height = max(3.6, 0.36 * len(free) + 1.4)
    fig, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels + 1.5, height), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.4][:n_panels]})
    ax = axes[0, 0]
    pos = ev > 0
    floor = ev[pos].min() * 1e-2 if pos.any() else 1e-12
    k = np.arange(1, ev.size + 1)
    ax.semilogy(k[pos], ev[pos], "o-", color="tab:blue", ms=4)
    if (~pos).any():
        ax.semilogy(k[~pos], np.full((~pos).sum(), floor), "x", color="tab:red", label="<= 0 (null space)")
        ax.legend(fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel("eigenvalue (Fisher, log parameters)")
    ax.set_title("Fisher eigen-spectrum of the fit", fontsize=10)
    if free:
        ax = axes[0, 1]
        names = list(free)
        rel_truth = all(_finite_number(free[n].get("effective_truth")) for n in names)
        seen = set()
        spans = []
        for y, name in enumerate(names):
            e = free[name]
            value = float(e.get("value", e.get("recovered", np.nan)))
            ref = float(e["effective_truth"]) if rel_truth else value
            ci = [float(c) if c is not None else np.nan for c in (e.get("ci95") or [np.nan, np.nan])]
            # Percent deviation from the reference (the effective truth, else the estimate).
            lo, hi, mid = ((x / ref - 1.0) * 100.0 if ref else np.nan for x in (*ci, value))
            good = bool(e.get("identifiable", True))
            color = "tab:blue" if good else "tab:red"
            seen.add(good)
            lo, hi = (float(np.clip(np.nan_to_num(x, nan=1e4, posinf=1e4, neginf=-1e4), -1e4, 1e4)) for x in (lo, hi))
            spans += [abs(lo), abs(hi), abs(mid) if np.isfinite(mid) else 0.0]
            ax.plot([lo, hi], [y, y], color=color, lw=3, solid_capstyle="butt")
            ax.plot([mid], [y], "o", color=color, ms=4)
        ax.axvline(0.0, color="k", lw=0.8, ls="--")
        span = max(max(spans) * 1.25, 1.0)
        if span > 200:
            ax.set_xscale("symlog", linthresh=10.0)
        ax.set_xlim(-span, span)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlabel("estimate and 95% interval, % from the effective true value (dashed)" if rel_truth
                      else "95% interval, % from the estimate")
        ax.set_title("learned parameters", fontsize=10)
        from matplotlib.lines import Line2D

        legend = [Line2D([], [], color=c, lw=3, label=lab) for g, c, lab in
                  ((True, "tab:blue", "constrained by the data"), (False, "tab:red", "not identifiable")) if g in seen]
        ax.legend(handles=legend, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18 * 3.6 / height), ncol=2,
                  frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


def _finite_number(x) -> bool:
    try:
        return bool(np.isfinite(float(x))) and float(x) != 0.0
    except (TypeError, ValueError):
        return False


def mean_interval(values: Sequence[float], *, seed: int = 0, n_boot: int = 2000) -> tuple[float, float, float]:
    """Mean of ``values`` and its 95% percentile bootstrap interval (NaN left out;
    the interval collapses to the mean with one value)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return (np.nan, np.nan, np.nan)
    if v.size == 1:
        return (float(v[0]),) * 3
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11,)))
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(v.mean()), float(lo), float(hi)


def recall_bars(scores: Mapping[str, float], *, per_pattern: Mapping[str, Sequence[float]] | None = None,
                intervals: Mapping[str, Sequence[float]] | None = None,
                title: str = "memory recall from half-cues") -> bytes:
    """Recall score of each performer (truth, emulation, controls) as bars, with one dot
    per stored pattern and a 95% interval as whiskers: ``intervals[name]`` when given,
    else the bootstrap interval of the mean over its patterns. NaN scores are drawn as
    empty bars labelled n/a."""
    if not scores:
        raise NeurophantomError("recall_bars needs at least one score")
    names = list(scores)
    vals = np.array([float(scores[n]) for n in names])
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2.5, 3.6))
    x = np.arange(len(names))
    ax.bar(x, np.nan_to_num(vals), color=[f"C{i}" for i in range(len(names))], alpha=0.75, width=0.6)
    for i, n in enumerate(names):
        pts = np.asarray((per_pattern or {}).get(n, ()), dtype=np.float64)
        ci = (intervals or {}).get(n)
        if ci is None and pts.size >= 2:
            ci = mean_interval(pts)[1:]
        if ci is not None and all(np.isfinite(ci)) and np.isfinite(vals[i]):
            ax.errorbar([i], [vals[i]], yerr=[[vals[i] - ci[0]], [ci[1] - vals[i]]], fmt="none", ecolor="k", capsize=5, lw=1.2)
        if pts.size:
            ax.plot(np.full(pts.size, i) + np.linspace(-0.12, 0.12, pts.size), pts, "o", color="k", ms=3.5,
                    mfc="white", zorder=3)
        v = vals[i]
        ax.annotate("n/a" if np.isnan(v) else f"{v:.2f}", (i + 0.32, 0 if np.isnan(v) else v), ha="left", va="center",
                    fontsize=8)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.2)
    ax.set_ylabel("recall score (0 = no recall)")
    ax.set_title(title, fontsize=10)
    return png_bytes(fig)


def ladder_figure(ladders: Mapping[str, Sequence[Mapping]], steps: Mapping[str, str]) -> bytes:
    """The blame ladder: trace correlation at each step (rows, in ``steps`` order) for each
    modality (bars side by side), with the spike-coincidence Gamma printed beside."""
    mods = [m for m, lad in ladders.items() if lad]
    if not mods:
        raise NeurophantomError("ladder_figure needs at least one ladder")
    order = [s for s in steps if any(e.get("step") == s for m in mods for e in ladders[m])]
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(order) * max(1, len(mods)) / 1.4 + 1.6))
    h = 0.8 / len(mods)
    for j, m in enumerate(mods):
        by = {e.get("step"): e for e in ladders[m]}
        for i, s in enumerate(order):
            e = by.get(s)
            if e is None:
                continue
            r = float(e.get("trace_correlation") if e.get("trace_correlation") is not None else np.nan)
            y = i + (j - (len(mods) - 1) / 2) * h
            ax.barh(y, np.nan_to_num(r), height=h * 0.9, color=f"C{j}", label=m if i == 0 else None)
            g = e.get("spike_coincidence_gamma")
            txt = "n/a" if not np.isfinite(r) else f"{r:.2f}" + (f" (Gamma {float(g):.2f})" if g is not None else "")
            ax.text(max(np.nan_to_num(r), 0) + 0.01, y, txt, va="center", fontsize=7)
    ax.set_yticks(range(len(order)), [steps[s] for s in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(min(0.0, ax.get_xlim()[0]), 1.25)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("trace correlation on held-out protocols (Pearson r)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 * 3 / max(len(order), 3) - 0.08), ncol=len(mods),
              frameon=False)
    ax.set_title("blame ladder: what each step of the pipeline costs", fontsize=10)
    return png_bytes(fig)


def convergence_figure(rows: Sequence[Mapping]) -> bytes:
    """The fit's convergence: best training loss against loss evaluations (CMA-ES
    generations as a line per restart, later phases as points), with each phase's
    validation loss where it was measured."""
    if not rows:
        raise NeurophantomError("convergence_figure needs at least one row")
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    phases = list(dict.fromkeys(str(r["phase"]) for r in rows))
    for j, ph in enumerate(phases):
        sel = [r for r in rows if str(r["phase"]) == ph]
        x = [max(int(r["evaluations"]), 1) for r in sel]
        y = [float(r["train_loss"]) for r in sel]
        ax.plot(x, y, "-" if len(sel) > 2 else "o", color=f"C{j % 10}", lw=1.2, ms=4, label=f"{ph} (training)")
        val = [(max(int(r["evaluations"]), 1), float(r["validation_loss"])) for r in sel if r.get("validation_loss") is not None]
        if val:
            ax.plot(*zip(*val), "x", color=f"C{j % 10}", ms=6, label=f"{ph} (validation)")
    ax.set_xscale("log")
    ax.set_xlabel("loss evaluations (simulated parameter sets)")
    ax.set_ylabel("loss (robust chi-square per neuron-frame)")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    ax.set_title("identification: convergence of the fit", fontsize=10)
    return png_bytes(fig)
