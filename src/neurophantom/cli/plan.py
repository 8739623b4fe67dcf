"""``neurophantom plan``: instruments, cost, time, floor space, staff and compute.

``neurophantom plan [--organism human] [--modality synchrotron] [--deadline-years 10]
[--set name=value ...] [--samples 100000] [--json] [--scenario FILE.yaml] [--figures DIR]``
and ``neurophantom plan compare --modality exm --modality synchrotron ...``. With
``--json`` stdout holds exactly one JSON object.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table as _Table

from . import app
from ._common import console
from ._common import out as _out

# Plan tables are wide: use 120 columns when stdout is not a terminal (pipes, files).
stdout = _out if _out.is_terminal else Console(width=120)

plan_app = typer.Typer(help="Instruments, cost, time, floor space, staff and compute for an upload.",
                       invoke_without_command=True, no_args_is_help=False, add_completion=False)
app.add_typer(plan_app, name="plan")

MAIN = ("expanded_volume_m3", "instrument_seconds", "instrument_years", "instruments", "capex_usd",
        "capex_learning_usd", "last_unit_cost_fraction", "floor_m2", "floor_side_m", "staff", "sites",
        "opex_usd", "total_cost_usd", "ramp_years", "flops", "memory_bytes", "bandwidth_bytes_per_s",
        "accelerators", "power_w", "accelerators_cost_usd")
SET_HELP = "override an input: name=VALUE | name=lognormal:LO,HI (90% interval) | name=uniform:LO,HI (repeatable)"


def Table(title: str) -> _Table:  # noqa: N802 - a compact rich table
    return _Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")


def _money(x: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:.3g}{suf}"
    return f"${x:.3g}"


def _fmt(x: float, unit: str) -> str:
    return _money(x) if unit == "USD" else f"{x:.3g}"


def _fields(scenario_file: Optional[Path], sets: list[str], **cli: Any) -> dict[str, Any]:
    """Scenario fields: the YAML file's, then CLI options given, then --set on top."""
    from ..plan.inputs import parse_set
    from ..plan.scenario import load_scenario

    base = load_scenario(scenario_file) if scenario_file is not None else {}
    base.update({k: v for k, v in cli.items() if v is not None})
    base["set"] = {**(base.get("set") or {}), **parse_set(sets)}
    return base


def _outputs_table(p, names) -> Table:
    t = Table(title=f"{p.organism.label}, {' + '.join(s.label for s in p.specs)}, "
                    f"{p.scenario.deadline_years:g} years ({p.scenario.samples} samples)")
    t.add_column("quantity", no_wrap=True)
    t.add_column("unit", no_wrap=True)
    for col in ("point", "median", "p05", "p95"):
        t.add_column(col, justify="right", no_wrap=True)
    for k in names:
        u, s = p.unit(k), p.summary[k]
        t.add_row(k, u, *(_fmt(x, u) for x in (p.point[k], s["median"], s["p05"], s["p95"])))
    return t


def _tornado_table(p, top: int = 8) -> Table:
    out = p.scenario.tornado_output
    t = Table(title=f"what drives {out} (each input at its 5th / 95th percentile)")
    t.add_column("input", no_wrap=True)
    t.add_column("at input p05", justify="right", no_wrap=True)
    t.add_column("at input p95", justify="right", no_wrap=True)
    t.add_column("source", overflow="ellipsis", no_wrap=True, max_width=40)
    u = p.unit(out)
    for b in [b for b in p.tornado if b.swing > 0][:top]:
        t.add_row(b.input, _fmt(b.output_at_low, u), _fmt(b.output_at_high, u), p.inputs[b.input].source)
    return t


def _ramp_table(p) -> Table:
    t = Table(title=f"staged ramp ({p.ramp[0]['modality']})")
    for col in ("stage", "instruments", "year", "capex", "capex (learning)", "last unit / first", "years to scan"):
        t.add_column(col, justify="right")
    for r in p.ramp:
        t.add_row(str(r["stage"]), f"{r['instruments']:.4g}", f"{r['year_reached']:g}", _money(r["capex_usd"]),
                  _money(r["capex_learning_usd"]), f"{r['last_unit_cost_fraction']:.3g}", f"{r['years_to_scan']:.3g}")
    return t


def _inputs_table(inputs) -> Table:
    t = Table(title="inputs")
    for col in ("name", "value", "distribution", "unit", "certainty", "source"):
        t.add_column(col)
    for k, i in sorted(inputs.items()):
        t.add_row(k, f"{i.central:.4g}", i.dist.describe(), i.unit, i.certainty, i.source)
    return t


def _print_plan(p) -> None:
    names = [k for k in MAIN if k in p.point] + [k for k in p.point if "." in k]
    stdout.print(_outputs_table(p, names))
    stdout.print(_tornado_table(p))
    stdout.print(_ramp_table(p))
    user = {k: i for k, i in p.inputs.items() if i.certainty == "user" and i.source.startswith("user")}
    if user:
        stdout.print(_inputs_table(user))
    measured = {k: p.inputs[k] for k in p.measured.get("inputs", [])}
    if measured:
        t = _inputs_table(measured)
        t.title = "inputs from measurements"
        stdout.print(t)
    stdout.print(f"compute: {p.compute_basis}")
    stdout.print(f"measured inputs: {', '.join(p.measured.get('inputs', [])) or 'none (every input is cited or assumed)'}")


def _figures(plans, folder: Optional[Path]) -> None:
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        from .._errors import NeurophantomError

        raise NeurophantomError(f"--figures {folder} is an existing file, not a folder")
    from ..plan.figures import write_figures

    for path in write_figures(plans, folder):
        console.print(f"wrote {path}")


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=1, allow_nan=False))


@plan_app.callback()
def plan_cmd(
    ctx: typer.Context,
    organism: Optional[str] = typer.Option(None, "--organism", help="celegans | drosophila | zebrafish_larva | mouse | marmoset | macaque | human [human]"),
    modality: Optional[str] = typer.Option(None, "--modality", help="exm | synchrotron | em | mixed | custom [synchrotron]"),
    fast: Optional[str] = typer.Option(None, "--fast", help="fast modality of the mixed strategy [synchrotron]"),
    deadline_years: Optional[float] = typer.Option(None, "--deadline-years", help="years the full fleet has [10]"),
    level: Optional[str] = typer.Option(None, "--level", help="emulation level: conductance_point | spiking_network | electrophysiology | metabolome | proteome"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="a100 | h100 | h200 | cpu_core [h100]"),
    sets: list[str] = typer.Option([], "--set", help=SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="Monte Carlo samples [100000]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Monte Carlo seed [0]"),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="YAML scenario file (CLI options override it)"),
    engine_benchmark: Optional[str] = typer.Option(None, "--engine-benchmark", help="auto | none | PATH of a measured engine cost (JSON)"),
    rosetta_study: Optional[str] = typer.Option(None, "--rosetta-study", help="mixed: take the Rosetta fraction from a rosetta-fraction study folder"),
    rosetta_metric: Optional[str] = typer.Option(None, "--rosetta-metric", help="fidelity column of that study [rosetta_function_kept]"),
    rosetta_target: Optional[float] = typer.Option(None, "--rosetta-target", help="fidelity to reach [95% of the best measured]"),
    tornado_output: Optional[str] = typer.Option(None, "--tornado-output", help="output the tornado ranks inputs by [capex_usd]"),
    figures: Optional[Path] = typer.Option(None, "--figures", help="write cost_vs_deadline.png, tornado.png, ramp.png here"),
    list_inputs: bool = typer.Option(False, "--list-inputs", help="print every input with its source and exit"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object only"),
) -> None:
    """Plan an upload: a plain `neurophantom plan` reproduces the plan's own scenario."""
    if ctx.invoked_subcommand is not None:
        return
    from ..plan import build_inputs, make_scenario, plan

    s = make_scenario(**_fields(scenario, sets, organism=organism, modality=modality, fast=fast,
                                deadline_years=deadline_years, level=level, accelerator=accelerator,
                                samples=samples, seed=seed, engine_benchmark=engine_benchmark,
                                rosetta_study=rosetta_study, rosetta_metric=rosetta_metric,
                                rosetta_target=rosetta_target, tornado_output=tornado_output))
    if list_inputs:
        inputs = build_inputs(s)[0]
        if as_json:
            _emit_json({k: i.to_json() for k, i in sorted(inputs.items())})
        else:
            stdout.print(_inputs_table(inputs))
        return
    p = plan(s)
    if as_json:
        _emit_json(p.to_json())
    else:
        _print_plan(p)
    _figures([p], figures)


@plan_app.command("compare")
def compare_cmd(
    organisms: list[str] = typer.Option([], "--organism", help="repeatable"),
    modalities: list[str] = typer.Option([], "--modality", help="repeatable"),
    deadlines: list[float] = typer.Option([], "--deadline-years", help="repeatable"),
    scenarios: list[Path] = typer.Option([], "--scenario", help="YAML scenario files (repeatable)"),
    fast: Optional[str] = typer.Option(None, "--fast", help="fast modality of the mixed strategy"),
    level: Optional[str] = typer.Option(None, "--level", help="emulation level (see `plan --help`)"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="a100 | h100 | h200 | cpu_core"),
    engine_benchmark: Optional[str] = typer.Option(None, "--engine-benchmark", help="auto | none | PATH"),
    rosetta_study: Optional[str] = typer.Option(None, "--rosetta-study", help="mixed: Rosetta fraction from a rosetta-fraction study folder"),
    sets: list[str] = typer.Option([], "--set", help=SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="Monte Carlo samples per scenario [100000]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Monte Carlo seed [0]"),
    figures: Optional[Path] = typer.Option(None, "--figures", help="write the figures here"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object only"),
) -> None:
    """Several modalities, organisms or deadlines (and scenario files) side by side."""
    from ..plan import compare, make_scenario

    common = dict(fast=fast, samples=samples, seed=seed, level=level, accelerator=accelerator,
                  engine_benchmark=engine_benchmark)
    made = [make_scenario(**_fields(f, sets, **common)) for f in scenarios]
    if organisms or modalities or deadlines or not made:
        for o, m, d in itertools.product(organisms or [None], modalities or [None], deadlines or [None]):
            rosetta = {"rosetta_study": rosetta_study} if m == "mixed" else {}  # applies to the mixed strategy only
            made.append(make_scenario(**_fields(None, sets, organism=o, modality=m, deadline_years=d, **common, **rosetta)))
    plans = compare(made)
    if as_json:
        _emit_json({"scenarios": [dict(title=p.scenario.title(), **p.to_json()) for p in plans]})
    else:
        t = Table(title="compare: point estimate [90% interval]")
        t.add_column("quantity")
        t.add_column("unit")
        for p in plans:
            t.add_column(p.scenario.title(), justify="right")
        for k in MAIN:
            u = plans[0].unit(k)
            t.add_row(k, u, *(f"{_fmt(p.point[k], u)} [{_fmt(p.summary[k]['p05'], u)}, "
                              f"{_fmt(p.summary[k]['p95'], u)}]" for p in plans))
        stdout.print(t)
    _figures(plans, figures)
