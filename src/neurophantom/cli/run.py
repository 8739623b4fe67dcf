"""``neurophantom run``: the whole closed loop on one world (the project's main job)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import console, parse_sets, prepare_out
from ._common import out as stdout


def _print_plan(cfg, out: Path) -> None:
    """The validated config (JSON) and the stages the run would execute, in order."""
    import json

    from ..pipeline.config import config_json
    from ..pipeline.main import build_stages

    print(json.dumps(config_json(cfg), indent=2, sort_keys=True))
    stages = build_stages(cfg)
    print(f"dry run: {len(stages)} stages into {out}/ (finished ones are reused), nothing run:")
    for st in stages:
        print(f"  {st.name:<24} <- {', '.join(st.deps) or '(none)'}")


@app.command("run")
def run_cmd(
    out: Path = typer.Option(Path("runs/default"), "--out", help="run folder (stage caches, scores.json, report.html)"),
    preset: str = typer.Option("organoid", "--preset", help="built-in world and protocol: organoid, pretty-printer or celegans (the atlas-fitted worm)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file overriding the preset"),
    set_: list[str] = typer.Option([], "--set", help="override one field, e.g. world.receptor_predictability=0 (repeatable)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate the config, print it and the stage graph, run nothing"),
) -> None:
    """Ground truth -> live imaging -> scans -> reconstruction -> identification ->
    emulation -> validation -> report. A stopped run resumes; finished stages are reused."""
    from ..pipeline.config import load_run_config
    from ..pipeline.main import run_main
    from ..pipeline.runner import run_lock

    cfg = load_run_config(preset, config, parse_sets(set_))  # the whole config, checked before any stage
    if dry_run:
        _print_plan(cfg, out)
        return
    prepare_out(out, "run", inputs=[config], resume=True)
    t0 = time.perf_counter()
    starts: dict[str, float] = {}

    def on_start(stage, cached):
        starts[stage.name] = time.perf_counter()
        if not cached:
            console.print(f"[bold]{stage.name}[/bold] ...", highlight=False)

    def on_done(res):
        how = "cached" if res.cached else f"{res.seconds:6.1f} s"
        console.print(f"  {res.name:<24} {how}", highlight=False)

    with run_lock(out):
        scores = run_main(cfg, out, on_start=on_start, on_done=on_done)
    em, fn = scores["emulation"], scores["function"]
    fmt = lambda x: "n/a" if x is None or x != x else f"{x:.3f}"  # noqa: E731
    if fn is not None:
        tail = f"memory recall truth {fmt(fn['truth'])}, emulation {fmt(fn['emulation'])}, Rosetta {fmt(fn['rosetta_emulation'])}"
    else:  # the worm: its emulation's stimulation atlas on the held-out stimulated neurons
        h, b = scores["atlas"]["heldout"], scores["atlas"]["baselines"]
        tail = (f"atlas held-out spearman {fmt(h['spearman'])} (two-step {fmt(b['two_step']['spearman'])}, "
                f"truth {fmt(b.get('truth', {}).get('spearman'))}), auroc {fmt(h['auroc'])}")
    stdout.print(
        f"emulation r={fmt(em['trace_correlation'])} (shuffled {fmt(em['control_trace_correlation'])}, "
        f"free weights {fmt(em['baseline_trace_correlation'])}, synchrotron+Rosetta {fmt(em['rosetta_trace_correlation'])}); "
        + tail
    )
    stdout.print(f"{out}/report.html, {out}/scores.json ({time.perf_counter() - t0:.0f} s)")
