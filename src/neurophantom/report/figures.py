"""Small, dependable matplotlib figures written atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_write_bytes  # noqa: E402
from ..types.recording import Recording  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Render ``fig`` to PNG bytes and write them atomically; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_recording(rec: Recording, path: str | Path, *, max_traces: int = 6, title: str = "") -> Path:
    """Spike raster (if any spikes) above voltage traces of a few neurons."""
    has_spikes = rec.spike_times_ms.size > 0
    has_v = "v" in rec.traces
    rows = int(has_spikes) + int(has_v) or 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.6 * rows), sharex=True, squeeze=False)
    ax_i = 0
    names = rec.neuron_names or tuple(str(i) for i in rec.neuron_ids)
    if has_spikes:
        ax = axes[ax_i, 0]
        pos = {int(i): k for k, i in enumerate(rec.neuron_ids)}
        y = np.array([pos[int(i)] for i in rec.spike_neuron_ids])
        ax.plot(rec.spike_times_ms, y, "|", ms=2, color="k")
        ax.set_ylabel("neuron")
        ax.set_title(title or f"{rec.neuron_ids.size} neurons, {rec.spike_times_ms.size} spikes")
        ax_i += 1
    if has_v:
        ax = axes[ax_i, 0]
        v = rec.traces["v"]
        # Show the neurons with the largest voltage range: the ones something happened to.
        pick = np.argsort(-(v.max(axis=0) - v.min(axis=0)))[:max_traces]
        for j in pick:
            ax.plot(rec.time_ms, v[:, j], lw=0.8, label=names[j])
        ax.set_ylabel("V (mV)")
        ax.legend(fontsize=7, ncol=3, loc="upper right")
        if not has_spikes:
            ax.set_title(title or f"{rec.neuron_ids.size} neurons (graded)")
    axes[-1, 0].set_xlabel("time (ms)")
    return save_figure(fig, path)
