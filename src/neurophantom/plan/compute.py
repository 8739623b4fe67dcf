"""Compute to run an emulation: FLOP/s, memory, bandwidth, accelerators and power.

The model level follows the Whole Brain Emulation roadmap (Sandberg & Bostrom 2008): the
finer the level, the more state per synapse and the more operations per synapse per
second. Per-synapse operation counts of the roadmap levels are chosen so that 1e15
synapses reproduce the order of magnitude of the roadmap's CPU demand for that level
(Table 8: ~1e18 FLOP/s for a spiking network, ~1e22 electrophysiology, ~1e25 metabolome,
~1e26 proteome). ``conductance_point`` is neurophantom's own engine (single-compartment
Hodgkin-Huxley neurons with conductance synapses, exponential Euler at 0.025 ms); its
cost per synapse-step is a stated guess unless a benchmark results file gives a measured
one (see :func:`read_engine_benchmark`).

``flops = (synapses * ops_per_synapse_step + neurons * ops_per_neuron_step) * steps``,
``steps = 1000 / dt_ms * realtime_factor``; memory and bandwidth likewise. Accelerators
are the largest of the compute, memory and bandwidth needs, each against the chosen
accelerator's datasheet figures derated by ``utilisation``.

References
----------
Sandberg A, Bostrom N (2008) Whole Brain Emulation: A Roadmap. Technical Report 2008-3,
Future of Humanity Institute, Oxford University.
NVIDIA A100 Tensor Core GPU datasheet (2021); NVIDIA H100 / H200 Tensor Core GPU
datasheets (2023-2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import CorruptDataError, NeurophantomError
from ..instruments.specs import Cited
from .distributions import Dist, fixed
from .inputs import POS, UNIT, Input, assumed, cited_input

ROADMAP = "Sandberg & Bostrom 2008 (WBE roadmap), Table 8 CPU demand at 1e15 synapses, order of magnitude"


@dataclass(frozen=True)
class Level:
    """An emulation level: time step and per-synapse / per-neuron costs."""

    name: str
    label: str
    dt_ms: Cited
    ops_per_synapse_step: Cited
    ops_per_neuron_step: Cited
    bytes_per_synapse: Cited
    bytes_per_neuron: Cited
    bytes_per_synapse_step: Cited


def _a(v: float, unit: str, src: str = "assumption", cert: str = "low") -> Cited:
    return Cited(float(v), unit, src, cert)  # type: ignore[arg-type]


def _roadmap_level(name: str, label: str, dt_ms: float, ops: float, b_syn: float, b_step: float,
                   ops_neu: float, b_neu: float) -> Level:
    return Level(name, label, _a(dt_ms, "ms", f"{ROADMAP} (time resolution of the level)"),
                 _a(ops, "FLOP/synapse-step", ROADMAP), _a(ops_neu, "FLOP/neuron-step"),
                 _a(b_syn, "bytes/synapse"), _a(b_neu, "bytes/neuron"), _a(b_step, "bytes/synapse-step"))


LEVELS: dict[str, Level] = {lv.name: lv for lv in (
    _roadmap_level("spiking_network", "spiking neural network (roadmap level 6)", 1.0, 1.0, 8.0,
                   0.08, 10.0, 32.0),
    _roadmap_level("electrophysiology", "electrophysiology, compartments (roadmap level 7)", 0.01,
                   100.0, 1e3, 1e2, 1e3, 1e4),
    _roadmap_level("metabolome", "metabolome (roadmap level 8)", 0.001, 1e4, 1e5, 1e4, 1e5, 1e6),
    _roadmap_level("proteome", "proteome (roadmap level 9)", 0.001, 1e5, 1e6, 1e5, 1e6, 1e7),
    Level("conductance_point", "neurophantom engine: HH point neurons, conductance synapses",
          _a(0.025, "ms", "neurophantom engine default for HH (exponential Euler)", "medium"),
          _a(2.5e-3, "FLOP/synapse-step", "assumption: event-driven delivery, ~10 FLOP per "
             "spike x 10 Hz mean rate x 0.025 ms (synaptic conductances are per neuron and "
             "receptor, as in the engine)"),
          _a(200.0, "FLOP/neuron-step", "assumption: HH gates (exponentials) and membrane update"),
          _a(16.0, "bytes/synapse", "float32 weight and state, int32 target index", "medium"),
          _a(256.0, "bytes/neuron", "assumption: ~60 float32 parameters and states"),
          _a(2e-3, "bytes/synapse-step", "assumption: 8 bytes read per delivered spike x 10 Hz "
             "x 0.025 ms; neuron state (bytes/neuron) is streamed every step")),
)}
DEFAULT_LEVEL = "conductance_point"


@dataclass(frozen=True)
class Accelerator:
    name: str
    flops: Cited
    memory_bytes: Cited
    bandwidth_bytes_per_s: Cited
    power_w: Cited
    cost_usd: Cited


def _acc(name: str, flops: float, mem: float, bw: float, w: float, usd: float, sheet: str) -> Accelerator:
    return Accelerator(name, _a(flops, "FLOP/s (FP32 peak)", sheet, "high"), _a(mem, "bytes", sheet, "high"),
                       _a(bw, "bytes/s", sheet, "high"), _a(w, "W (board)", sheet, "high"),
                       _a(usd, "USD", "assumption: street price"))


ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in (
    _acc("a100", 19.5e12, 80e9, 2.039e12, 400.0, 1.5e4, "NVIDIA A100 80GB SXM datasheet"),
    _acc("h100", 67e12, 80e9, 3.35e12, 700.0, 3.0e4, "NVIDIA H100 SXM datasheet"),
    _acc("h200", 67e12, 141e9, 4.8e12, 700.0, 3.5e4, "NVIDIA H200 SXM datasheet"),
    Accelerator("cpu_core", _a(1e11, "FLOP/s (FP32 peak)", "assumption: one AVX-512 server core, "
                               "2 FMA units at ~3 GHz"), _a(8e9, "bytes", "assumption: per-core share"),
                _a(5e9, "bytes/s", "assumption: per-core share of DRAM bandwidth"),
                _a(10.0, "W", "assumption: per-core share"), _a(200.0, "USD", "assumption")),
)}
DEFAULT_ACCELERATOR = "h100"


def get_level(name: str) -> Level:
    try:
        return LEVELS[name]
    except KeyError:
        raise NeurophantomError(f"unknown compute level {name!r}; choose one of {sorted(LEVELS)}") from None


def get_accelerator(name: str) -> Accelerator:
    try:
        return ACCELERATORS[name]
    except KeyError:
        raise NeurophantomError(f"unknown accelerator {name!r}; choose one of {sorted(ACCELERATORS)}") from None


@dataclass(frozen=True)
class EngineBenchmark:
    """A measured engine cost: device-seconds per synapse-step on one device."""

    seconds_per_synapse_step: float
    device: str
    path: str
    source: str


#: Where ``make bench`` is expected to leave the engine's measured cost.
DEFAULT_BENCHMARK = Path("benchmarks") / "results" / "engine_cost.json"


#: How a JAX device name in a benchmark file maps onto :data:`ACCELERATORS`.
_DEVICE_ALIASES = {"cpu": "cpu_core"}


def read_engine_benchmark(path: str | Path) -> EngineBenchmark:
    """Read ``{"seconds_per_synapse_step": float, "device": str, "source": str?}``.

    ``device`` names an entry of :data:`ACCELERATORS` (the measured device); the value is
    the wall time of one synapse update on that one device, neuron updates amortised.
    """
    from ..io import read_json

    p = Path(path)
    data = read_json(p, "engine benchmark", max_bytes=1 << 20)
    if not isinstance(data, dict):
        raise CorruptDataError(f"engine benchmark {p} must hold a JSON object")
    # ``make bench`` (benchmarks/cobahh.py) writes ``cost_s_per_synapse_step`` and the
    # machine under ``machine.device`` ("cpu:0", "cuda:0"); a hand-written file may use
    # the short keys. A CPU measurement is one core of the CPU entry.
    sps = data.get("seconds_per_synapse_step", data.get("cost_s_per_synapse_step"))
    dev = data.get("device")
    if dev is None and isinstance(data.get("machine"), dict):
        raw = str(data["machine"].get("device", ""))
        dev = _DEVICE_ALIASES.get(raw.split(":")[0], raw)
    if not isinstance(sps, (int, float)) or isinstance(sps, bool) or not (sps > 0 and math.isfinite(sps)):
        raise CorruptDataError(f"engine benchmark {p}: seconds_per_synapse_step must be a positive number")
    if not isinstance(dev, str) or dev not in ACCELERATORS:
        raise CorruptDataError(f"engine benchmark {p}: device must be one of {sorted(ACCELERATORS)}, got {dev!r}")
    src = data.get("source", "neurophantom benchmark")
    return EngineBenchmark(float(sps), dev, str(p), str(src))


def compute_inputs(level: Level, acc: Accelerator, bench: EngineBenchmark | None = None) -> dict[str, Input]:
    """Inputs of the compute model (a measured benchmark fixes the device and its cost)."""
    if bench is not None:
        acc = get_accelerator(bench.device)
    items = [
        Input("compute.dt_ms", fixed(level.dt_ms.value), "ms", level.dt_ms.source, level.dt_ms.certainty),
        cited_input("compute.ops_per_synapse_step", level.ops_per_synapse_step, 3.0),
        cited_input("compute.ops_per_neuron_step", level.ops_per_neuron_step, 3.0),
        cited_input("compute.bytes_per_synapse", level.bytes_per_synapse, 2.0),
        cited_input("compute.bytes_per_neuron", level.bytes_per_neuron, 2.0),
        cited_input("compute.bytes_per_synapse_step", level.bytes_per_synapse_step, 3.0),
        Input("compute.realtime_factor", fixed(1.0), "x real time", "scenario: emulate in real time",
              "user"),
        Input("compute.utilisation", Dist("uniform", 0.1, 0.5), "of peak",
              "assumption: sustained fraction of peak for sparse, irregular workloads", "low", UNIT),
        assumed("compute.pue", 1.2, "x", "assumption: data-centre power usage effectiveness", 1.1,
                "medium", (1.0, math.inf, True)),
        cited_input("accelerator.flops", acc.flops, 1.0),
        cited_input("accelerator.memory_bytes", acc.memory_bytes, 1.0),
        cited_input("accelerator.bandwidth_bytes_per_s", acc.bandwidth_bytes_per_s, 1.0),
        cited_input("accelerator.power_w", acc.power_w, 1.0),
        cited_input("accelerator.cost_usd", acc.cost_usd, 1.5),
    ]
    if bench is not None:
        items.append(Input("compute.seconds_per_synapse_step", fixed(bench.seconds_per_synapse_step),
                           f"s/synapse-step on one {bench.device}",
                           f"measured: {bench.source} ({bench.path})", "high", POS))
    return {i.name: i for i in items}


def compute_model(v: dict[str, np.ndarray], measured: bool) -> dict[str, np.ndarray]:
    """Vectorised compute outputs from input arrays (see the module docstring)."""
    syn, neu = v["synapses"], v["neurons"]
    steps = 1000.0 / v["compute.dt_ms"] * v["compute.realtime_factor"]
    util = v["compute.utilisation"]
    memory = syn * v["compute.bytes_per_synapse"] + neu * v["compute.bytes_per_neuron"]
    bandwidth = (syn * v["compute.bytes_per_synapse_step"] + neu * v["compute.bytes_per_neuron"]) * steps
    by_mem = memory / v["accelerator.memory_bytes"]
    if measured:
        by_compute = syn * steps * v["compute.seconds_per_synapse_step"]
        flops = by_compute * v["accelerator.flops"] * util
        need = np.maximum(by_compute, by_mem)
    else:
        flops = (syn * v["compute.ops_per_synapse_step"] + neu * v["compute.ops_per_neuron_step"]) * steps
        by_compute = flops / (v["accelerator.flops"] * util)
        by_bw = bandwidth / (v["accelerator.bandwidth_bytes_per_s"] * util)
        need = np.maximum(np.maximum(by_compute, by_mem), by_bw)
    acc = np.maximum(1.0, np.ceil(need * (1.0 - 1e-12)))
    return {"flops": flops, "memory_bytes": memory, "bandwidth_bytes_per_s": bandwidth,
            "accelerators": acc, "power_w": acc * v["accelerator.power_w"] * v["compute.pue"],
            "accelerators_cost_usd": acc * v["accelerator.cost_usd"]}
