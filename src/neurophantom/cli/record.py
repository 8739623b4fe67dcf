"""``neurophantom record``: image a circuit with a calcium or voltage indicator (NWB + PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .._errors import NeurophantomError
from . import app
from ._common import check_seed, console, load_circuit_arg, overwrite_option, prepare_out
from ._values import DEFAULT_DT_MS
from ._common import out as stdout


def plot_imaging(rec, truth, path: Path, *, max_traces: int = 6) -> Path:
    """dF/F of the most active ROIs in trial 0 above their true activity (spikes or voltage)."""
    import matplotlib.pyplot as plt

    from ..report.figures import save_figure

    dff = rec.trials[0].traces["dff"]
    t_f = rec.frame_times_ms
    pick = np.argsort(-(dff.max(axis=0) - dff.min(axis=0)), kind="stable")[:max_traces]
    names = rec.neuron_names or tuple(str(i) for i in rec.neuron_ids)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    step = max(float(np.ptp(dff[:, pick])) if pick.size else 1.0, 1e-6)
    for row, j in enumerate(pick):
        ax1.plot(t_f, dff[:, j] + row * step, lw=0.8, label=names[j])
    ax1.set_ylabel("dF/F (offset per ROI)")
    ax1.set_title(f"{rec.config.indicator.name} at {rec.config.frame_rate_hz:g} Hz, trial 0 of {len(rec.trials)}")
    ax1.legend(fontsize=7, ncol=3, loc="upper right")
    act = truth.activity[0]
    pos = {int(rec.neuron_ids[j]): row for row, j in enumerate(pick)}
    on = np.isin(act.spike_neuron_ids, list(pos))
    if on.any():
        ax2.plot(act.spike_times_ms[on], [pos[int(i)] for i in act.spike_neuron_ids[on]], "|", ms=8, color="k")
        ax2.set_yticks(range(len(pick)), [names[j] for j in pick], fontsize=7)
        ax2.set_ylabel("true spikes")
    else:
        for j in pick:
            ax2.plot(act.time_ms, act.traces["v"][:, j], lw=0.8)
        ax2.set_ylabel("true V (mV)")
    ax2.set_xlabel("time in trial (ms)")
    return save_figure(fig, path)


@app.command("record")
def record_cmd(
    circuit: str = typer.Argument(..., help="Circuit folder, or a source name built with defaults"),
    protocol: str = typer.Option(..., "--protocol", help="e.g. 'spontaneous:duration=2000,sigma=20;step:on=AVAL+AVAR,amp=40,start=500,stop=1500' (ms, pA; on=random:K for K random neurons)"),
    out: Path = typer.Option(..., "--out", help="output folder: recording.nwb + recording.png"),
    indicator: str = typer.Option("gcamp6f", "--indicator", help="gcamp6f | gcamp6s | voltage"),
    trials: int = typer.Option(1, "--trials", help="repeated trials (each a separate simulation)"),
    seed: int = typer.Option(0, "--seed", help="seed of every random stream (noise, random targets, expression, camera)"),
    frame_rate_hz: Optional[float] = typer.Option(None, "--frame-rate-hz", help="camera frame rate (default 30 Hz calcium, 1000 Hz voltage)"),
    dt_ms: float = typer.Option(DEFAULT_DT_MS, "--dt-ms", help="engine integration step (ms)"),
    transmission: str = typer.Option("event", "--transmission", help="event | kinetic (release of spiking neurons)"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Image a circuit: write DIR/recording.nwb (ophys traces per neuron; ground truth in
    processing/ground_truth) and DIR/recording.png."""
    from rich.progress import BarColumn, Progress

    from ..instruments.dynamic import imaging_config, parse_protocol, record, write_imaging
    from ..io import atomic_dir

    check_seed(seed)
    if transmission not in ("event", "kinetic"):
        raise NeurophantomError(f"unknown --transmission {transmission!r} (expected event or kinetic)")
    if not protocol.strip(";").strip():
        raise NeurophantomError("--protocol is empty; give e.g. 'spontaneous:duration=1000,sigma=20'")
    prepare_out(out, "record", inputs=[circuit], overwrite=overwrite)
    prot = parse_protocol(protocol, trials=trials)
    overrides = {"dt_ms": dt_ms, "transmission": transmission}
    if frame_rate_hz is not None:
        overrides["frame_rate_hz"] = frame_rate_hz
    config = imaging_config(indicator, **overrides)
    c = load_circuit_arg(circuit, seed=seed)
    from ..io import check_memory

    # Every trial's frames (fluorescence, dF/F, expected photons) and truth samples are kept.
    frames = prot.duration_ms * config.frame_rate_hz / 1000.0
    samples = prot.duration_ms / config.sample_dt_ms if getattr(config, "sample_dt_ms", None) else prot.duration_ms / dt_ms
    check_memory(int(8 * prot.trials * c.n_neurons * (3 * frames + 2 * samples)),
                 f"{prot.trials} trial(s) of {prot.duration_ms:g} ms of {c.n_neurons} neurons")
    with Progress("recording trials", BarColumn(), "{task.completed}/{task.total}", console=console, transient=True) as bar:
        task = bar.add_task("trials", total=prot.trials)
        rec, truth = record(c, prot, config, seed=seed, progress=lambda done, total: bar.update(task, completed=done))
    with atomic_dir(out) as tmp:
        write_imaging(tmp / "recording.nwb", rec, truth, description=f"neurophantom record {circuit}")
        plot_imaging(rec, truth, tmp / "recording.png")
    seconds = prot.trials * prot.duration_ms / 1000.0
    stdout.print(
        f"recorded {len(rec.neuron_ids)} neurons x {prot.trials} trial(s) x {len(rec.frame_times_ms)} frames "
        f"at {config.frame_rate_hz:g} Hz ({config.indicator.name}) -> {out}/recording.nwb",
        soft_wrap=True,
    )
    stdout.print(f"real-instrument time: {seconds:g} s of imaging ({prot.trials} x {prot.duration_ms / 1000.0:g} s)", soft_wrap=True)
