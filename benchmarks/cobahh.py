"""Benchmark: COBAHH (Brette et al. 2007, benchmark 3) in neurophantom and in Brian2.

The same network (``sources.cobahh``, seed 1: 4000 neurons, p = 0.02) and initial state
run in

- neurophantom (``engine.simulate``, float32 and float64): the first call includes JAX
  compilation; the steady-state time is the best of repeated later calls;
- Brian2 ``cpp_standalone``: Brian2's COBAHH example equations, wired with the same
  synapses; compilation apart; the loop time is Brian2's own measurement of its
  simulation loop (``device._last_run_time``, CPU clock);
- Brian2 runtime (Cython target): timed over 200 ms of simulated time and scaled to 1 s
  (the runtime mode is slow).

Brian2 builds go to a fresh temporary folder, so its compile times are cold (the Cython
cache is shared by the two time steps); ``--warm-cache`` reuses ``.cache/brian2_bench``.

for dt 0.1 and 0.025 ms over 1 s of biological time. Both simulators run on one CPU core
(the process is pinned before JAX starts: Brian2's standalone mode is single-threaded by
default); steady-state times are process CPU times, as Brian2's loop time is, with the
wall times beside them. Printed: compile times, loop times, synaptic events per second
(delivered spike x target pairs), and the ratio of each Brian2 mode to neurophantom. Then
a scaling table for N = 1k, 4k, 16k, 64k at a fixed expected in-degree of 80 and the cost
per synapse-step (whole step time over synapses, at the largest N), written to
``benchmarks/results/engine_cost.json`` for the planner. The last line is
``cobahh speedup_vs_brian2_standalone=<float>`` (dt 0.1 ms, N 4000, 1 s, neurophantom
float32 / Brian2 float64 loop times).

Usage: ``python benchmarks/cobahh.py [--quick] [--no-brian2] [--threads] [--warm-cache]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BRIAN2_COBAHH = """
dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-
         g_na*(m*m*m)*h*(v-ENa)-
         g_kd*(n*n*n*n)*(v-EK))/Cm : volt
dm/dt = alpha_m*(1-m)-beta_m*m : 1
dn/dt = alpha_n*(1-n)-beta_n*n : 1
dh/dt = alpha_h*(1-h)-beta_h*h : 1
dge/dt = -ge*(1./taue) : siemens
dgi/dt = -gi*(1./taui) : siemens
alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
"""


def pin_one_core() -> int:
    """Run this process (and the threads JAX will start) on one core; returns its id."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def network(n: int, seed: int = 1, in_degree: float | None = None):
    from neurophantom.sources import build_source
    from neurophantom.sources.cobahh import initial_state

    opts = {"n_neurons": n} | ({"expected_in_degree": in_degree} if in_degree else {})
    c = build_source("cobahh", seed=seed, options=opts)
    return c, initial_state(c, seed)


def events_delivered(circuit, spike_ids) -> int:
    import numpy as np

    out_deg = np.bincount(circuit.index_of(circuit.synapses["pre"].to_numpy()), minlength=circuit.n_neurons)
    return int(out_deg[circuit.index_of(spike_ids)].sum())


def run_neurophantom(circuit, init, *, dt_ms: float, duration_ms: float, dtype: str, repeats: int = 3) -> dict:
    """First call (compile + run) and the best steady-state call, CPU and wall seconds."""
    from neurophantom.biophysics import build_model
    from neurophantom.engine import simulate
    from neurophantom.types.stimulus import Stimulus

    model = build_model(circuit, dtype=dtype)
    stim = Stimulus(duration_ms=duration_ms)
    run = lambda: simulate(model, stim, dt_ms=dt_ms, init=init, record=(), progress=False)  # noqa: E731
    w0, c0 = time.perf_counter(), time.process_time()
    rec = run()
    first_wall, first_cpu = time.perf_counter() - w0, time.process_time() - c0
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        rec = run()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - w0), min(best_cpu, time.process_time() - c0)
    return {"first_wall_s": first_wall, "first_cpu_s": first_cpu, "loop_wall_s": best_wall, "loop_cpu_s": best_cpu,
            "compile_s": max(first_wall - best_wall, 0.0), "spikes": int(rec.spike_neuron_ids.size),
            "events": events_delivered(circuit, rec.spike_neuron_ids)}


def _brian2_network(b2, circuit, init, dt_ms: float):
    import numpy as np
    from brian2 import cm, ms, msiemens, mV, nS, siemens, ufarad, umetre

    area = 20000 * umetre**2
    ns = dict(Cm=(1 * ufarad * cm**-2) * area, gl=(5e-5 * siemens * cm**-2) * area, El=-60 * mV, EK=-90 * mV, ENa=50 * mV,
              g_na=(100 * msiemens * cm**-2) * area, g_kd=(30 * msiemens * cm**-2) * area, VT=-63 * mV, taue=5 * ms,
              taui=10 * ms, Ee=0 * mV, Ei=-80 * mV, we=6 * nS, wi=67 * nS)
    b2.defaultclock.dt = dt_ms * ms
    P = b2.NeuronGroup(circuit.n_neurons, BRIAN2_COBAHH, threshold="v>-20*mV", refractory=3 * ms,
                       method="exponential_euler", namespace=ns)
    syn = circuit.synapses
    exc = syn["ampa"].to_numpy() > 0
    pre, post = circuit.index_of(syn["pre"].to_numpy()), circuit.index_of(syn["post"].to_numpy())
    Ce = b2.Synapses(P, P, on_pre="ge+=we", namespace=ns)
    Ci = b2.Synapses(P, P, on_pre="gi+=wi", namespace=ns)
    Ce.connect(i=pre[exc], j=post[exc])
    Ci.connect(i=pre[~exc], j=post[~exc])
    P.v = np.asarray(init["v"]) * mV
    P.ge = np.asarray(init["g_syn.ampa"]) * nS
    P.gi = np.asarray(init["g_syn.gaba_a"]) * nS
    S = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, S), S


def run_brian2_standalone(circuit, init, *, dt_ms: float, duration_ms: float, build_root: Path, tag: str) -> dict:
    import brian2 as b2
    import numpy as np

    d = build_root / f"standalone_{tag}"
    d.mkdir(parents=True, exist_ok=True)
    b2.start_scope()
    b2.set_device("cpp_standalone", build_on_run=False, directory=str(d))
    try:
        t0 = time.perf_counter()
        net, S = _brian2_network(b2, circuit, init, dt_ms)
        net.run(duration_ms * b2.ms)
        b2.device.build(directory=str(d), compile=True, run=False, with_output=False)
        t1 = time.perf_counter()
        b2.device.run(directory=str(d), with_output=False)
        t2 = time.perf_counter()
        ids = np.asarray(S.i[:], np.int64)
        return {"compile_s": t1 - t0, "run_wall_s": t2 - t1, "loop_cpu_s": float(b2.device._last_run_time),
                "spikes": int(ids.size), "events": events_delivered(circuit, circuit.neuron_ids[ids])}
    finally:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")


def run_brian2_runtime(circuit, init, *, dt_ms: float, duration_ms: float, build_root: Path) -> dict:
    """Cython runtime over ``duration_ms`` (first a 1-step run to compile); times per 1 s."""
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = "cython"
    b2.prefs.codegen.runtime.cython.cache_dir = str(build_root / "cython")
    t0 = time.perf_counter()
    net, S = _brian2_network(b2, circuit, init, dt_ms)
    net.run(dt_ms * b2.ms)
    t1 = time.perf_counter()
    w0, c0 = time.perf_counter(), time.process_time()
    net.run(duration_ms * b2.ms)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    scale = 1000.0 / duration_ms
    return {"compile_s": t1 - t0, "loop_wall_s": wall * scale, "loop_cpu_s": cpu * scale, "spikes": int(S.num_spikes)}


def fmt(x: float) -> str:
    return f"{x:8.3f}"


def compare(args) -> float:
    """The main table at N = 4000; returns the dt 0.1 ms float32 speedup over standalone."""
    circuit, init = network(4000)
    T = args.duration_ms
    headline = float("nan")
    print(f"\nCOBAHH N=4000, {len(circuit.synapses)} synapses, {T:g} ms biological time")
    print(f"{'dt':>6} {'simulator':<30} {'compile s':>9} {'loop s':>8} {'wall s':>8} {'spikes':>8} {'events/s':>10} {'B2sa/x':>7} {'B2rt/x':>7}")
    for dt in args.dts:
        rows = {}
        for dtype in ("float32", "float64"):
            rows[f"neurophantom {dtype}"] = run_neurophantom(circuit, init, dt_ms=dt, duration_ms=T, dtype=dtype, repeats=args.repeats)
        sa = rt = None
        if args.brian2:
            sa = run_brian2_standalone(circuit, init, dt_ms=dt, duration_ms=T, build_root=args.build_root, tag=f"n4000_dt{dt:g}_T{T:g}")
            rt = run_brian2_runtime(circuit, init, dt_ms=dt, duration_ms=args.runtime_ms, build_root=args.build_root)
            rows["brian2 cpp_standalone"] = {"compile_s": sa["compile_s"], "loop_cpu_s": sa["loop_cpu_s"],
                                             "loop_wall_s": sa["run_wall_s"], "spikes": sa["spikes"], "events": sa["events"]}
            rows["brian2 runtime (cython)"] = {**rt, "events": None, "spikes": -1}
        for name, r in rows.items():
            ev = f"{r['events'] / r['loop_cpu_s']:10.3g}" if r.get("events") else f"{'':>10}"
            ratio_sa = f"{sa['loop_cpu_s'] / r['loop_cpu_s']:7.2f}" if sa else ""
            ratio_rt = f"{rt['loop_cpu_s'] / r['loop_cpu_s']:7.2f}" if rt else ""
            spikes = f"{r['spikes']:8d}" if r["spikes"] >= 0 else f"{'-':>8}"
            print(f"{dt:6g} {name:<30} {fmt(r['compile_s'])} {fmt(r['loop_cpu_s'])} {fmt(r['loop_wall_s'])} {spikes} {ev} {ratio_sa} {ratio_rt}")
        if sa and dt == 0.1:
            headline = sa["loop_cpu_s"] / rows["neurophantom float32"]["loop_cpu_s"]
    print("loop s: steady-state CPU seconds per run (Brian2 runtime: per simulated second); "
          "B2sa/x, B2rt/x: Brian2 standalone / runtime loop time divided by the row's")
    return headline


def _timed_row(n: int, in_degree: float, T: float, dt: float, repeats: int) -> dict:
    circuit, init = network(n, in_degree=in_degree)
    r = run_neurophantom(circuit, init, dt_ms=dt, duration_ms=T, dtype="float32", repeats=repeats)
    return {"n": n, "in_degree": in_degree, "synapses": len(circuit.synapses), "steps": T / dt, "cpu_s": r["loop_cpu_s"],
            "wall_s": r["loop_wall_s"], "rate_hz": r["spikes"] / n / (T / 1000.0), "events": r["events"]}


def scaling(args) -> dict:
    """Time per simulated second vs synapses at a fixed expected in-degree (neurophantom float32).

    The cost per synapse-step is the whole step time over the synapses (neurons and
    delivery included, at ~35 Hz): the number a planner multiplies by synapses x steps.
    """
    T, dt, reps = args.scaling_ms, 0.1, max(1, args.repeats - 1)
    print(f"\nScaling (neurophantom float32, dt {dt} ms, expected in-degree 80, timed over {T:g} ms)")
    print(f"{'N':>8} {'synapses':>10} {'s per sim s':>12} {'wall':>8} {'us/step':>8} {'rate Hz':>8} {'ns/syn-step':>12}")
    rows = []
    for n in args.sizes:
        r = _timed_row(n, 80.0, T, dt, reps)
        r["s_per_synapse_step"] = r["cpu_s"] / r["steps"] / r["synapses"]
        rows.append(r)
        print(f"{n:8d} {r['synapses']:10d} {r['cpu_s'] * 1000.0 / T:12.3f} {r['wall_s'] * 1000.0 / T:8.3f} "
              f"{r['cpu_s'] / r['steps'] * 1e6:8.1f} {r['rate_hz']:8.1f} {r['s_per_synapse_step'] * 1e9:12.3f}")
    return {"all_in_per_synapse_step_s": rows[-1]["s_per_synapse_step"], "rows": rows}


def write_cost(cost: dict, headline: float, core: int | None) -> None:
    from neurophantom.io import atomic_write_json

    import jax

    out = ROOT / "benchmarks" / "results" / "engine_cost.json"
    atomic_write_json(out, {
        "what": "neurophantom engine cost on COBAHH (float32, exponential Euler, dt 0.1 ms, expected in-degree 80)",
        "cost_s_per_synapse_step": cost["all_in_per_synapse_step_s"],
        "scaling": cost["rows"],
        "note": "cost_s_per_synapse_step is the whole step time divided by synapses at the largest N and in-degree 80 "
                "(networks like COBAHH, ~35 Hz); the scaling rows give it per size",
        "speedup_vs_brian2_standalone": headline if headline == headline else None,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cores_used": 1 if core is not None else os.cpu_count(),
                    "jax": jax.__version__, "device": str(jax.devices()[0])},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    print(f"cost per synapse-step written to {out.relative_to(ROOT)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N 4000 at dt 0.1 only, 200 ms, sizes 1k-16k")
    ap.add_argument("--no-brian2", dest="brian2", action="store_false", help="skip Brian2")
    ap.add_argument("--threads", action="store_true", help="do not pin to one core")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm-cache", action="store_true",
                    help="reuse Brian2 builds in .cache/brian2_bench (default: a fresh folder, so compile times are cold)")
    args = ap.parse_args(argv)
    core = None if args.threads else pin_one_core()
    args.duration_ms = 200.0 if args.quick else 1000.0
    args.dts = (0.1,) if args.quick else (0.1, 0.025)
    args.runtime_ms = 50.0 if args.quick else 200.0
    args.scaling_ms = 100.0 if args.quick else 500.0
    args.sizes = (1000, 4000, 16000) if args.quick else (1000, 4000, 16000, 64000)
    import jax

    print(f"COBAHH benchmark on {platform.processor() or platform.machine()}, JAX {jax.__version__} ({jax.devices()[0]}), "
          + ("1 core" if core is not None else f"{os.cpu_count()} cores"))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="np_bench_") as tmp:
        args.build_root = ROOT / ".cache" / "brian2_bench" if args.warm_cache else Path(tmp)
        headline = compare(args)
    cost = scaling(args)
    write_cost(cost, headline, core)
    print(f"cobahh speedup_vs_brian2_standalone={headline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
