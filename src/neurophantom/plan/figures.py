"""Planner figures as PNG: cost vs deadline, tornado, ramp (written atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._errors import NeurophantomError  # noqa: E402
from ..io import atomic_write_bytes  # noqa: E402
from .planner import OUTPUTS, Plan, cost_vs_deadline  # noqa: E402

DEADLINES_YEARS = np.geomspace(1.0, 30.0, 16)


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_cost_vs_deadline(plans: list[Plan], path: str | Path, output: str = "capex_usd",
                          samples: int = 2000) -> Path:
    """``output`` against the deadline: point estimate and 90% band, one line per plan."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in plans:
        c = cost_vs_deadline(p.scenario, DEADLINES_YEARS, output, samples)
        line, = ax.plot(c["deadline_years"], c["point"], lw=2, label=p.scenario.title())
        ax.fill_between(c["deadline_years"], c["p05"], c["p95"], color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("deadline (years)")
    ax.set_ylabel(f"{output} ({OUTPUTS[output][0]})")
    ax.set_title(f"{OUTPUTS[output][1]}: point estimate and 90% interval")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_tornado(p: Plan, path: str | Path, top: int = 12) -> Path:
    """Horizontal bars: ``output`` with each input at its 5th / 95th percentile."""
    bars = [b for b in p.tornado if b.swing > 0][:top][::-1]
    base = p.point[p.scenario.tornado_output]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(bars), 1) + 1.5))
    for y, b in enumerate(bars):
        lo, hi = sorted((b.output_at_low, b.output_at_high))
        ax.barh(y, hi - lo, left=lo, color="tab:blue" if b.output_at_high >= b.output_at_low else "tab:orange")
    ax.axvline(base, color="k", lw=1)
    ax.set_yticks(range(len(bars)), [b.input for b in bars], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"{p.scenario.tornado_output} ({OUTPUTS[p.scenario.tornado_output][0]})")
    ax.set_title(f"{p.scenario.title()}: inputs at their 5th / 95th percentile "
                 "(blue: output rises with the input)", fontsize=9)
    return _save(fig, Path(path))


def plot_ramp(p: Plan, path: str | Path) -> Path:
    """The staged ramp: instruments and cumulative capital cost by year."""
    years = [r["year_reached"] for r in p.ramp]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.step(years, [r["instruments"] for r in p.ramp], where="post", lw=2, color="k", label="instruments")
    ax.set_yscale("log")
    ax.set_xlabel("year")
    ax.set_ylabel(f"{p.ramp[0]['modality']} instruments")
    ax2 = ax.twinx()
    ax2.plot(years, [r["capex_usd"] for r in p.ramp], "o-", color="tab:red", label="capex (progress_ratio)")
    ax2.plot(years, [r["capex_learning_usd"] for r in p.ramp], "s--", color="tab:green",
             label="capex (learning curve)")
    ax2.set_yscale("log")
    ax2.set_ylabel("cumulative capex (USD)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax.set_title(f"{p.scenario.title()}: 6, 60, 600, ... ramp", fontsize=10)
    return _save(fig, Path(path))


def write_figures(plans: list[Plan], folder: str | Path, samples: int = 2000) -> list[Path]:
    """cost_vs_deadline.png for all plans; tornado and ramp PNGs for each."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurophantomError(f"cannot create figure folder {folder}: {exc.strerror}") from None
    paths = [plot_cost_vs_deadline(plans, folder / "cost_vs_deadline.png", samples=samples)]
    for i, p in enumerate(plans):
        tag = "" if len(plans) == 1 else f"_{i + 1}"
        paths.append(plot_tornado(p, folder / f"tornado{tag}.png"))
        paths.append(plot_ramp(p, folder / f"ramp{tag}.png"))
    return paths
