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
) -> bytes:
    """Predicted vs recorded traces of a few neurons, one panel each, with their r.

    ``predicted`` and ``recorded`` are ``(time, neuron)``; ``columns`` picks the neurons
    (default: the first ``max_neurons``); ``labels`` names every column.
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
    corr = trace_correlation(p[:, cols], r[:, cols])
    fig, axes = plt.subplots(len(cols), 1, figsize=(8, 1.6 * len(cols) + 0.6), sharex=True, squeeze=False)
    for ax, c, rc in zip(axes[:, 0], cols, corr):
        ax.plot(t, r[:, c], color="k", lw=1.0, label="recorded")
        ax.plot(t, p[:, c], color="tab:orange", lw=1.0, label="predicted")
        name = labels[c] if labels is not None else f"neuron {c}"
        ax.set_title(f"{name}   r = {rc:.2f}", fontsize=9, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
    axes[0, 0].legend(fontsize=8, loc="upper right", ncol=2)
    axes[-1, 0].set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    return png_bytes(fig)


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
    ax.set_xlabel("Pearson r (predicted vs recorded)")
    ax.set_ylabel("neurons")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return png_bytes(fig)


def _relative_interval(entry: Mapping) -> tuple[float, float]:
    value = float(entry["value"])
    low, high = (float(x) for x in entry["ci95"])
    scale = abs(value) if value != 0 else 1.0
    return (low - value) / scale, (high - value) / scale


def identifiability_figure(eigenvalues: Sequence[float], parameters: Mapping[str, Mapping] | None = None) -> bytes:
    """Eigen-spectrum of the Fisher / Gauss-Newton matrix (log scale) and, if given, each
    parameter's 95% interval relative to its estimate (identifiable ones blue, others red).

    ``parameters`` maps a name to ``{"value", "ci95": [low, high], "identifiable"}``, the
    form of :meth:`neurophantom.identify.identifiability.IdentifiabilityReport.to_dict`.
    Eigenvalues <= 0 (the null space) are drawn at the floor of the axis, as crosses.
    Infinite intervals are drawn to the edge of the axis.
    """
    ev = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    if ev.size == 0 or not np.isfinite(ev).all():
        raise NeurophantomError("identifiability_figure needs finite eigenvalues")
    n_panels = 2 if parameters else 1
    height = max(3.8, 0.28 * len(parameters or ()) + 1.2)
    fig, axes = plt.subplots(1, n_panels, figsize=(5.0 * n_panels + 1, height), squeeze=False)
    ax = axes[0, 0]
    pos = ev > 0
    floor = ev[pos].min() * 1e-2 if pos.any() else 1e-12
    k = np.arange(1, ev.size + 1)
    ax.semilogy(k[pos], ev[pos], "o-", color="tab:blue", ms=4)
    if (~pos).any():
        ax.semilogy(k[~pos], np.full((~pos).sum(), floor), "x", color="tab:red", label="<= 0 (null space)")
        ax.legend(fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue")
    ax.set_title("Fisher eigen-spectrum")
    if parameters:
        ax = axes[0, 1]
        names = list(parameters)
        lim = 1e3
        for y, name in enumerate(names):
            lo, hi = (float(np.clip(x, -lim, lim)) for x in _relative_interval(parameters[name]))
            color = "tab:blue" if parameters[name].get("identifiable", True) else "tab:red"
            ax.plot([lo, hi], [y, y], color=color, lw=2.5)
            ax.plot([0.0], [y], "|", color="k", ms=8)
        ax.set_xscale("symlog", linthresh=0.01)
        ticks = [-lim, -10.0, -0.1, 0.0, 0.1, 10.0, lim]
        ax.set_xticks(ticks, [f"<=-{lim:g}", "-10", "-0.1", "0", "0.1", "10", f">={lim:g}"], fontsize=8)
        ax.set_xlim(-1.5 * lim, 1.5 * lim)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("95% interval, relative to estimate")
        ax.set_title("parameters (red: unidentifiable)")
    return png_bytes(fig)


def recall_bars(scores: Mapping[str, float], *, per_pattern: Mapping[str, Sequence[float]] | None = None,
                title: str = "memory recall from half-cues") -> bytes:
    """Recall score of each performer (truth, emulation, controls) as bars, with the
    per-pattern scores as dots when given. NaN scores are drawn as empty bars labelled n/a."""
    if not scores:
        raise NeurophantomError("recall_bars needs at least one score")
    names = list(scores)
    vals = np.array([float(scores[n]) for n in names])
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2.5, 3.4))
    x = np.arange(len(names))
    ax.bar(x, np.nan_to_num(vals), color=[f"C{i}" for i in range(len(names))], alpha=0.8)
    for i, v in enumerate(vals):
        ax.annotate("n/a" if np.isnan(v) else f"{v:.2f}", (i, 0 if np.isnan(v) else v), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    for i, n in enumerate(names):
        pts = np.asarray((per_pattern or {}).get(n, ()), dtype=np.float64)
        if pts.size:
            ax.plot(np.full(pts.size, i) + np.linspace(-0.15, 0.15, pts.size), pts, "o", color="k", ms=3)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("recall score (0 = none)")
    ax.set_title(title)
    return png_bytes(fig)
