"""The planner's entry point: a :class:`Scenario` in, a :class:`Plan` out.

``plan(scenario)`` assembles the inputs (organism, modality fleets, shared assumptions,
compute), applies the user's overrides, evaluates the model at the inputs' central values
(the point estimate), runs the Monte Carlo (median and 90% interval of every output),
ranks the inputs in a tornado, and lays out the 6/60/600/... ramp.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import NeurophantomError
from ..instruments.specs import MODALITIES, ModalitySpec, custom_modality, get_modality
from .compute import DEFAULT_BENCHMARK, compute_inputs, get_accelerator, get_level, read_engine_benchmark
from .distributions import fixed
from .inputs import Input, apply_overrides, modality_inputs, organism_inputs, rosetta_input, shared_inputs
from .measured import measured_inputs, read_rosetta_study
from .model import Layout, evaluate, ramp
from .organisms import Organism, get_organism
from .scenario import Scenario
from .uncertainty import Bar, central_values, monte_carlo, summarise, tornado

#: Every output: unit and meaning (the JSON contract's quantities are a subset).
OUTPUTS: dict[str, tuple[str, str]] = {
    "expanded_volume_m3": ("m^3", "volume imaged after expansion"),
    "instrument_seconds": ("s", "instrument time to image it"),
    "instrument_years": ("y", "instrument time in years"),
    "instruments": ("instruments", "instruments to finish within the deadline"),
    "capex_usd": ("USD", "instrument capital cost at progress_ratio"),
    "capex_learning_usd": ("USD", "capital cost on the learning_progress_ratio curve"),
    "last_unit_cost_fraction": ("of first unit", "last unit's cost on the learning curve"),
    "doublings": ("doublings", "log2 of the largest fleet"),
    "floor_m2": ("m^2", "floor space"),
    "floor_side_m": ("m", "side of a square of that floor"),
    "staff": ("people", "operating staff"),
    "sites": ("sites", "sites at the stated capacity per site"),
    "opex_usd": ("USD", "staff, service and electricity over the deadline"),
    "total_cost_usd": ("USD", "capex + opex"),
    "ramp_years": ("y", "years to build up to the full fleet in 10x stages"),
    "flops": ("FLOP/s", "compute to run the emulation"),
    "memory_bytes": ("bytes", "emulation state"),
    "bandwidth_bytes_per_s": ("bytes/s", "memory traffic"),
    "accelerators": ("accelerators", "accelerators for compute, memory and bandwidth"),
    "power_w": ("W", "accelerator power incl. PUE"),
    "accelerators_cost_usd": ("USD", "accelerator purchase cost"),
}
FLEET_OUTPUTS = ("instruments", "instrument_years", "capex_usd", "floor_m2", "staff")
RESERVED = ("scenario", "organism", "modalities", "inputs", "ramp", "tornado", "compute_basis", "samples", "measured")


@dataclass(frozen=True)
class Plan:
    """The result of :func:`plan` (point estimates, Monte Carlo summaries, ramp, tornado)."""

    scenario: Scenario
    organism: Organism
    specs: tuple[ModalitySpec, ...]
    inputs: dict[str, Input]
    layout: Layout
    point: dict[str, float]
    summary: dict[str, dict[str, float]]
    ramp: list[dict[str, Any]]
    tornado: list[Bar]
    compute_basis: str
    #: What came from measurements: ``inputs`` (names), ``rosetta`` (the study's curve and
    #: the fraction chosen), ``compute`` (the engine benchmark).
    measured: dict[str, Any] = dataclasses.field(default_factory=dict)

    def unit(self, name: str) -> str:
        base = name.split(".", 1)[1] if name.split(".", 1)[0] in self.layout.fleets else name
        return OUTPUTS[base][0]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract: one object; each output has point/median/p05/p95."""
        out: dict[str, Any] = {
            "scenario": self.scenario.model_dump(by_alias=True),
            "organism": {"name": self.organism.name, "label": self.organism.label},
            "modalities": [{"name": s.name, "label": s.label} for s in self.specs],
        }
        for k, p in self.point.items():
            out[k] = {"point": p, **self.summary[k], "unit": self.unit(k)}
        out["inputs"] = {k: i.to_json() for k, i in sorted(self.inputs.items())}
        out["ramp"] = self.ramp
        out["tornado"] = {"output": self.scenario.tornado_output, "bars": [b.to_json() for b in self.tornado]}
        out["compute_basis"] = self.compute_basis
        out["measured"] = self.measured
        return out


def _spec(name: str, s: Scenario) -> ModalitySpec:
    if name != "custom":
        return get_modality(name)
    if not s.custom:
        raise NeurophantomError("modality custom needs its numbers: custom: {rate_um3_per_s: ..., unit_cost_usd: ...}")
    allowed = {"rate_um3_per_s", "unit_cost_usd", "expansion", "voxel_nm", "floor_m2",
               "instruments_per_staff", "power_kw", "maintenance_per_year", "speedup"}
    bad = sorted(set(s.custom) - allowed)
    if bad:
        raise NeurophantomError(f"custom modality: unknown field {bad[0]!r}; allowed: {sorted(allowed)}")
    missing = sorted({"rate_um3_per_s", "unit_cost_usd"} - set(s.custom))
    if missing:
        raise NeurophantomError(f"custom modality needs {missing[0]}")
    return custom_modality("custom", source="user-defined modality", **s.custom)


def fleet_specs(s: Scenario) -> tuple[tuple[ModalitySpec, ...], bool]:
    """The modality specs of the scenario's fleets, and whether it is the mixed strategy."""
    choices = sorted(MODALITIES) + ["custom", "mixed"]
    if s.modality not in choices:
        raise NeurophantomError(f"unknown modality {s.modality!r}; choose one of {choices}")
    if s.modality != "mixed":
        return (_spec(s.modality, s),), False
    if s.fast in ("exm", "mixed"):
        raise NeurophantomError(f"the mixed strategy's fast modality must not be {s.fast!r} (use synchrotron, em or custom)")
    return (get_modality("exm"), _spec(s.fast, s)), True


def _benchmark(s: Scenario):
    if s.engine_benchmark == "none":
        return None
    if s.engine_benchmark == "auto":
        if s.level != "conductance_point" or not DEFAULT_BENCHMARK.is_file():
            return None
        return read_engine_benchmark(DEFAULT_BENCHMARK)
    if s.level != "conductance_point":
        raise NeurophantomError("a measured engine cost applies only to level conductance_point")
    if not Path(s.engine_benchmark).is_file():
        raise NeurophantomError(f"engine benchmark file not found: {s.engine_benchmark}")
    return read_engine_benchmark(s.engine_benchmark)


def _rosetta(s: Scenario, mixed: bool):
    if s.rosetta_study is None:
        return None
    if not mixed:
        raise NeurophantomError("a Rosetta study applies to the mixed strategy only (--modality mixed)")
    return read_rosetta_study(s.rosetta_study, s.rosetta_metric, s.rosetta_target)


def measurements(s: Scenario, inputs: dict[str, Input]) -> dict[str, Any]:
    """What the plan took from measurements (see :attr:`Plan.measured`)."""
    out: dict[str, Any] = {"inputs": measured_inputs(inputs)}
    if s.rosetta_study is not None and "rosetta_fraction" in out["inputs"]:
        out["rosetta"] = _rosetta(s, True).to_json()
    bench = _benchmark(s)
    if bench is not None:
        out["compute"] = {"seconds_per_synapse_step": bench.seconds_per_synapse_step, "device": bench.device,
                          "source": bench.source, "path": bench.path}
    return out


def build_inputs(s: Scenario) -> tuple[dict[str, Input], Layout, tuple[ModalitySpec, ...], Organism, str]:
    """All inputs of a scenario with overrides applied, the layout, specs, organism, basis."""
    org = get_organism(s.organism)
    specs, mixed = fleet_specs(s)
    level, acc, bench = get_level(s.level), get_accelerator(s.accelerator), _benchmark(s)
    inputs: dict[str, Input] = {**organism_inputs(org), **shared_inputs(s.deadline_years)}
    for i, spec in enumerate(specs):
        inputs.update(modality_inputs(spec, rounds=4 if mixed and i == 0 else None))
    rosetta = _rosetta(s, mixed)
    if mixed:
        inputs["rosetta_fraction"] = rosetta_input()
        if rosetta is not None:
            inputs["rosetta_fraction"] = replace(inputs["rosetta_fraction"], dist=fixed(rosetta.fraction),
                                                 source=rosetta.source(), certainty="measured")
    inputs.update(compute_inputs(level, acc, bench))
    inputs = apply_overrides(inputs, s.overrides)
    layout = Layout(tuple(sp.name for sp in specs), mixed=mixed, measured=bench is not None)
    if bench is not None:
        basis = (f"measured: {bench.seconds_per_synapse_step:.3g} s per synapse-step on one "
                 f"{bench.device} ({bench.source}, {bench.path})")
    else:
        basis = (f"assumed: {level.label}, {inputs['compute.ops_per_synapse_step'].central:g} FLOP per "
                 f"synapse-step on {acc.name} (no measured engine benchmark used)")
    return inputs, layout, specs, org, basis


def _floats(d: dict[str, np.ndarray]) -> dict[str, float]:
    out = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in d.items()}
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:
        raise NeurophantomError(f"the inputs give a non-finite {bad[0]}; check the overrides")
    return out


def plan(scenario: Scenario | None = None) -> Plan:
    """Point estimate, Monte Carlo summary, ramp and tornado for ``scenario``."""
    s = scenario or Scenario()
    inputs, layout, specs, org, basis = build_inputs(s)
    point = _floats(evaluate(central_values(inputs), layout))
    summary = summarise(monte_carlo(inputs, layout, s.samples, s.seed))
    centre = {k: i.central for k, i in inputs.items()}
    bars = tornado(inputs, layout, s.tornado_output)
    return Plan(s, org, specs, inputs, layout, point, summary, ramp(centre, layout), bars, basis, measurements(s, inputs))


def compare(scenarios: list[Scenario]) -> list[Plan]:
    """Plans for several scenarios (e.g. modalities or organisms side by side)."""
    if not scenarios:
        raise NeurophantomError("compare needs at least one scenario")
    return [plan(s) for s in scenarios]


def cost_vs_deadline(s: Scenario, deadlines_years: np.ndarray, output: str = "capex_usd",
                     samples: int = 2000) -> dict[str, np.ndarray]:
    """``output`` (point, p05, median, p95) as a function of the deadline."""
    from .uncertainty import sample_inputs

    d = np.asarray(deadlines_years, dtype=float)
    if d.ndim != 1 or not np.all(d > 0):
        raise NeurophantomError("deadlines must be a list of positive years")
    inputs, layout, *_ = build_inputs(s)
    draws = sample_inputs(inputs, samples, s.seed)
    rows = {"point": [], "p05": [], "median": [], "p95": []}
    for years in d:
        c = central_values(inputs)
        c["deadline_years"] = np.array([years])
        rows["point"].append(float(evaluate(c, layout)[output][0]))
        y = evaluate({**draws, "deadline_years": np.full(samples, years)}, layout)[output]
        for k, q in (("p05", 5), ("median", 50), ("p95", 95)):
            rows[k].append(float(np.percentile(y, q)))
    return {"deadline_years": d, **{k: np.array(v) for k, v in rows.items()}}
