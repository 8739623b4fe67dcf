"""``neurophantom simulate``: run the engine on a Circuit and write an NWB recording."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import check_seed, load_circuit_arg, overwrite_option, prepare_out
from ._values import DEFAULT_DT_MS
from ._common import out as stdout


@app.command("simulate")
def simulate_cmd(
    circuit: str = typer.Argument(..., help="Circuit folder, or a source name built with defaults"),
    out: Path = typer.Option(..., "--out", help="output folder: recording.nwb + recording.png"),
    duration_ms: float = typer.Option(1000.0, "--duration-ms", help="simulated time (ms)"),
    dt_ms: float = typer.Option(DEFAULT_DT_MS, "--dt-ms", help="integration step (ms)"),
    sample_dt_ms: Optional[float] = typer.Option(None, "--sample-dt-ms", help="sampling interval of traces (ms); default 1 ms or dt"),
    stimulus: str = typer.Option("", "--stimulus", help="e.g. 'step:on=ASHL+ASHR,amp=20,start=100,stop=600;noise:on=all,sigma=5'"),
    seed: int = typer.Option(0, "--seed", help="seed of the stimulus noise (and of a source built by name)"),
    transmission: str = typer.Option("event", "--transmission", help="event | kinetic (release of spiking neurons)"),
    method: str = typer.Option("exp_euler", "--method", help="exp_euler | exp_midpoint"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Simulate a circuit and write DIR/recording.nwb and DIR/recording.png."""
    import jax

    from ..biophysics import build_model
    from ..engine import simulate
    from ..io import atomic_dir
    from ..io.nwb import write_recording
    from ..report.figures import plot_recording
    from ..types.stimulus import parse_stimulus

    if not (duration_ms > 0):
        raise NeurophantomError(f"--duration-ms must be > 0, got {duration_ms}")
    if not (dt_ms > 0):
        raise NeurophantomError(f"--dt-ms must be > 0, got {dt_ms}")
    if sample_dt_ms is not None and not (0 < sample_dt_ms < float("inf")):
        raise NeurophantomError(f"--sample-dt-ms must be a positive number, got {sample_dt_ms}")
    check_seed(seed)
    prepare_out(out, "simulate", inputs=[circuit], overwrite=overwrite)
    c = load_circuit_arg(circuit, seed=seed)
    stim = parse_stimulus(stimulus, duration_ms, lambda names: c.ids_of_names(names))
    model = build_model(c, transmission=transmission)
    init = None
    if c.provenance.source == "cobahh":
        # The benchmark's activity starts from its random initial state (v, ge, gi).
        from ..sources.cobahh import initial_state

        init = initial_state(c, seed)
    sdt = sample_dt_ms if sample_dt_ms is not None else (1.0 if abs(round(1.0 / dt_ms) * dt_ms - 1.0) < 1e-9 else dt_ms)
    rec = simulate(
        model, stim, dt_ms=dt_ms, sample_dt_ms=sdt, key=jax.random.key(seed), method=method,
        neuron_names=list(c.neurons["name"]), progress=True, init=init,
    )
    with atomic_dir(out) as tmp:
        write_recording(tmp / "recording.nwb", rec, description=f"neurophantom simulate {circuit}",
                        source=c.provenance.source, seed=c.provenance.seed, stimulus=stim)
        plot_recording(rec, tmp / "recording.png")
    stdout.print(
        f"simulated {c.n_neurons} neurons for {duration_ms:g} ms (dt {dt_ms:g} ms): "
        f"{rec.spike_times_ms.size} spikes -> {out}/recording.nwb"
    )
