"""``neurophantom task-score``: how well does a circuit still perform its task?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .._errors import NeurophantomError
from . import app
from ._common import out as stdout


@app.command("task-score")
def task_score_cmd(
    circuit_dir: Path = typer.Argument(..., help="a Circuit folder (ground truth or reconstruction)"),
    task: str = typer.Option(..., "--task", help="task name: flipflop, context_decision"),
    trials: Optional[int] = typer.Option(None, "--trials", help="held-out trials (default: as stored in compiled circuits)"),
    seed: int = typer.Option(0, "--seed", help="which held-out trials"),
    as_json: bool = typer.Option(False, "--json", help='print {"task": ..., "score": ...} only'),
) -> None:
    """Run TASK's held-out trials through the circuit and print the fraction correct."""
    from ..sources.tasks import get_task
    from ..types import Circuit
    from ..validate.task_score import task_score

    from ..io import check_memory

    t = get_task(task)
    if trials is not None and trials < 1:
        raise NeurophantomError(f"--trials must be >= 1, got {trials}")
    if seed < 0:
        raise NeurophantomError(f"--seed must be >= 0, got {seed}")
    circuit = Circuit.load(circuit_dir)
    if trials is not None:
        # Trials are drawn at once: inputs, targets, mask and outputs, (trials, steps, channels) floats.
        steps = int(round(t.duration_ms / t.dt_ms))
        width = max(int(t.n_channels), int(t.n_outputs))
        check_memory(4 * trials * steps * width * 8, f"--trials {trials} of {task} ({steps} steps of {width} channels each)")
    score = task_score(circuit, task, trials=trials, seed=seed)
    if as_json:
        print(json.dumps({"task": task, "score": score}))
    else:
        stdout.print(f"[bold]{task}[/bold] score of {circuit_dir}: {score:.4f} (fraction correct, chance 0.5)")
