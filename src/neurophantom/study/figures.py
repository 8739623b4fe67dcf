"""A study's figures: metric means with bootstrap intervals against a varied key.

Each :class:`~.spec.FigureSpec` is one PNG: ``y`` metrics against ``x``, one line per
value of ``hue`` (and per metric), one panel per value of ``facet``; points are the
seed means, bars the 95% bootstrap intervals of ``summary.csv``. A study without figure
specs gets one: its first metric against its first numeric varied key (the first varied
key otherwise), a line per value of another varied key.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..io import atomic_write_bytes
from .spec import FigureSpec


def default_figure(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str]) -> FigureSpec | None:
    if not metrics:
        return None
    numeric = [a for a in axes if a != "case" and pd.api.types.is_numeric_dtype(summary[a])]
    x = numeric[0] if numeric else (axes[0] if axes else None)
    if x is None:
        return None
    others = [a for a in axes if a != x]
    return FigureSpec(x=x, y=[metrics[0]], hue=others[0] if others else None)


def _values(s: pd.Series) -> list[Any]:
    vals = list(dict.fromkeys(s.tolist()))
    try:
        return sorted(vals)
    except TypeError:
        return vals


def _label(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def select(summary: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    """Summary rows whose keys hold the ``where`` values (lists and mappings as JSON text)."""
    keep = np.ones(len(summary), dtype=bool)
    for k, v in where.items():
        v = json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v
        keep &= (summary[k] == v).to_numpy()
    return summary[keep]


def render(spec: FigureSpec, summary: pd.DataFrame, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = select(summary, spec.where)
    facets = _values(summary[spec.facet]) if spec.facet else [None]
    fig, axs = plt.subplots(1, len(facets), figsize=(5.2 * len(facets), 3.9), squeeze=False, sharey=True)
    numeric_x = pd.api.types.is_numeric_dtype(summary[spec.x])
    xcats = _values(summary[spec.x])
    for ax, facet in zip(axs[0], facets):
        sub = summary if facet is None else summary[summary[spec.facet] == facet]
        hues = _values(sub[spec.hue]) if spec.hue else [None]
        for y in spec.y:
            for h in hues:
                d = sub if h is None else sub[sub[spec.hue] == h]
                if d.empty:
                    continue
                d = d.sort_values(spec.x, kind="stable") if numeric_x else d
                xs = d[spec.x].to_numpy(dtype=float) if numeric_x else np.array([xcats.index(v) for v in d[spec.x]], float)
                m = d[f"{y}_mean"].to_numpy(dtype=float)
                lo, hi = d[f"{y}_ci_low"].to_numpy(dtype=float), d[f"{y}_ci_high"].to_numpy(dtype=float)
                err = np.vstack([np.where(np.isfinite(lo), m - lo, 0.0), np.where(np.isfinite(hi), hi - m, 0.0)])
                parts = ([y] if len(spec.y) > 1 or h is None else []) + ([f"{spec.hue}={_label(h)}"] if h is not None else [])
                ax.errorbar(xs, m, yerr=np.clip(err, 0.0, None), marker="o", ms=4, capsize=3, lw=1.4, label=", ".join(parts))
        if not numeric_x:
            ax.set_xticks(range(len(xcats)), [_label(v) for v in xcats], rotation=20, ha="right")
        ax.set_xlabel(spec.x)
        if spec.logx:
            ax.set_xscale("log")
        if spec.logy:
            ax.set_yscale("log")
        if facet is not None:
            ax.set_title(f"{spec.facet}={_label(facet)}", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axs[0][0].set_ylabel(spec.y[0] if len(spec.y) == 1 else "value")
    fig.suptitle(spec.title or title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_figures(out: Path, specs: Sequence[FigureSpec], summary: pd.DataFrame, axes: Sequence[str],
                  metrics: Sequence[str], title: str) -> list[Path]:
    specs = list(specs) or [f for f in [default_figure(summary, axes, metrics)] if f is not None]
    paths = []
    for i, spec in enumerate(specs):
        name = f"figure_{i + 1:02d}_{'_'.join(spec.y)[:40]}_vs_{spec.x}.png".replace("/", "_")
        path = out / name
        atomic_write_bytes(path, render(spec, summary, title))
        paths.append(path)
    return paths
