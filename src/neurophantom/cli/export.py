"""``neurophantom export``: a Circuit as a Brian2 script folder or a NeuroML 2 file."""

from __future__ import annotations

from pathlib import Path

import typer

from .._errors import NeurophantomError
from . import app
from ._common import check_seed, load_circuit_arg, overwrite_option, prepare_out
from ._values import DEFAULT_DT_MS
from ._common import out as stdout

TARGETS = ("brian2", "neuroml")


@app.command("export")
def export_cmd(
    circuit: str = typer.Argument(..., help="Circuit folder, or a source name built with defaults"),
    to: str = typer.Option(..., "--to", help="brian2 (script folder) | neuroml (X.net.nml, with X.components.xml and LEMS_X.xml beside it)"),
    out: Path = typer.Option(..., "--out", help="output folder (brian2) or file (neuroml)"),
    dt_ms: float = typer.Option(DEFAULT_DT_MS, "--dt-ms", help="integration step (ms) of the exported simulation"),
    duration_ms: float = typer.Option(1000.0, "--duration-ms", help="simulated time (ms)"),
    stimulus: str = typer.Option("", "--stimulus", help="stimulus spec as for 'simulate' (no noise)"),
    seed: int = typer.Option(0, "--seed", help="seed of a source built by name and of the COBAHH initial state"),
    transmission: str = typer.Option("event", "--transmission", help="event | kinetic"),
    overwrite: bool = overwrite_option(),
) -> None:
    """Export a circuit so that Brian2 or NeuroML tools can run it.

    brian2: DIR/model.py (run with python), equations.txt, spec.json, arrays.npz.
    neuroml: X.net.nml (NeuroML 2, schema-validated), X.components.xml (custom LEMS
    components, when needed) and LEMS_X.xml (run with: pynml LEMS_X.xml -nogui).
    Both carry the stimulus; COBAHH circuits start from the benchmark's random initial
    state (--seed; in NeuroML the gates start at steady state, not at 0).
    """
    if to not in TARGETS:
        raise NeurophantomError(f"unknown export target {to!r} (known: {', '.join(TARGETS)})")
    check_seed(seed)
    prepare_out(out, f"export-{to}", inputs=[circuit], overwrite=overwrite, file=to == "neuroml")
    if not (dt_ms > 0 and duration_ms > 0):
        raise NeurophantomError("--dt-ms and --duration-ms must be > 0")
    if transmission not in ("event", "kinetic"):
        raise NeurophantomError(f"unknown transmission {transmission!r} (expected 'event' or 'kinetic')")
    if to == "brian2":
        from ..io import check_memory

        steps = duration_ms / dt_ms
        if not steps < 1e12:
            raise NeurophantomError(f"--duration-ms / --dt-ms = {steps:.3g} steps is beyond any simulation")
        check_memory(int(steps) * 8, f"the Brian2 export's stimulus arrays ({steps:.3g} steps)")
    from ..types.stimulus import parse_stimulus

    c = load_circuit_arg(circuit, seed=seed)
    init = None
    if c.provenance.source == "cobahh":
        from ..sources.cobahh import initial_state

        init = initial_state(c, seed)
    stim = parse_stimulus(stimulus, duration_ms, lambda names: c.ids_of_names(names))
    if to == "neuroml":
        _neuroml(c, out, stim, init, dt_ms, transmission)
        return
    from ..biophysics import build_model
    from ..io.brian2_equations import describe
    from ..io.brian2_export import write_brian2_script

    model = build_model(c, transmission=transmission)
    desc = describe(model, dt_ms=dt_ms, duration_ms=duration_ms, stimulus=stim, init=init)
    write_brian2_script(desc, out, source=c.provenance.source)
    stdout.print(f"Brian2: {desc.n} neurons, {sum(len(s.i) for s in desc.synapses)} synapses -> {out}/model.py")


def _neuroml(c, out: Path, stim, init, dt_ms: float, transmission: str) -> None:
    from ..io.neuroml_export import write_neuroml

    if init is not None:  # NeuroML gates start at their steady state; keep v and the conductances
        init = {k: v for k, v in init.items() if not k.startswith("gate.")}
    s = write_neuroml(c, out, stimulus=stim, init=init, dt_ms=dt_ms, transmission=transmission)
    stdout.print(f"NeuroML: {s.cells} cells, {s.neurons} neurons, {s.connections} connections, "
                 f"{s.continuous_connections} graded, {s.electrical_connections} electrical, {s.inputs} inputs -> "
                 + ", ".join(s.files))
