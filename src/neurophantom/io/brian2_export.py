"""Export a Model to Brian2: equations, connectivity, initial state, stimulus, monitors.

:func:`to_brian2` builds Brian2 objects that integrate the same ODE system as the engine
with ``method="exponential_euler"`` (the engine's ``exp_euler`` is that scheme, term for
term), the same spike threshold and refractory period, and the same connectivity and
weights: event synapses ``on_pre: g += w`` (a second, rise-time conductance when a
receptor has one), kinetic (Destexhe et al. 1994) synapses as ``(summed)`` conductances of
the presynaptic open fraction, gap junctions as two ``(summed)`` terms so that the
postsynaptic voltage stays implicit, exactly as in the engine. The NMDA magnesium block is
a per-neuron factor refreshed before each update from the voltage at the start of the step
(Brian2's ``exponential_euler`` needs equations linear in ``v``; the engine freezes it the
same way). Stimuli export as one ``TimedArray`` waveform per component times a per-neuron
target map (the engine's low-rank drive). Noise is not exported (the two simulators draw
different random streams), nor is anything else the engine cannot express in Brian2; those
raise :class:`~neurophantom.NeurophantomError`.

:func:`run_brian2` runs the export in ``runtime`` mode (``codegen_target`` numpy or cython)
or ``cpp_standalone`` mode and returns a :class:`~neurophantom.types.Recording` plus
timings (code generation and compilation apart from the simulation loop).

The equation text and arrays come from :mod:`.brian2_equations` (no Brian2 needed);
this module builds, runs and writes them. Brian2 is an optional dependency: it is
imported inside the functions.

References
----------
Stimberg M, Brette R, Goodman DFM (2019) Brian 2, an intuitive and efficient neural
simulator. eLife 8:e47314.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.recording import Recording
from ..types.stimulus import Stimulus
from .brian2_equations import Brian2Description, describe


def _brian2():
    try:
        import brian2
    except ImportError:  # pragma: no cover - brian2 is installed with the test extra
        raise NeurophantomError("Brian2 is not installed: pip install 'neurophantom[peers]'") from None
    return brian2




@dataclasses.dataclass
class Brian2Network:
    """The exported objects; ``network`` runs them (see :func:`run_brian2`)."""

    network: Any
    neurons: Any
    synapses: dict[str, Any]
    spike_monitor: Any | None
    state_monitor: Any | None
    record: tuple[str, ...]
    neuron_ids: np.ndarray
    dt_ms: float
    equations: str


def _unit(b2, name: str):
    return 1 if name in ("1", "bool") else getattr(b2, name)


def _build(b2, desc: Brian2Description):
    """Live NeuronGroup, Synapses and run_regularly operations of a description."""
    dt = desc.dt_ms * b2.ms
    ns: dict[str, Any] = dict(desc.namespace)
    for k, (vals, unit) in desc.timed_arrays.items():
        ns[k] = b2.TimedArray(vals * _unit(b2, unit), dt=dt)
    b2.defaultclock.dt = dt  # one clock for every object: deterministic code, so standalone builds can be reused
    kw = dict(threshold=desc.threshold, refractory=desc.refractory_ms * b2.ms) if desc.threshold else {}
    group = b2.NeuronGroup(desc.n, desc.equations, method="exponential_euler", namespace=ns, name="neurons", **kw)
    for var, (vals, unit) in desc.state.items():
        setattr(group, var, vals * _unit(b2, unit))
    extra = [group.run_regularly(code, when=when, order=order) for code, when, order in desc.run_regularly]
    syn = {}
    for sp in desc.synapses:
        s = b2.Synapses(group, group, sp.model, on_pre=sp.on_pre, name=sp.name)
        if len(sp.i):
            s.connect(i=sp.i, j=sp.j)
            setattr(s, sp.weight_var, sp.weight_nS * b2.nS)
        syn[sp.name] = s
    return group, syn, extra


def _monitor_var(model: Model, name: str) -> str:
    if name in ("v", "ca"):
        return name
    if name.startswith("g_syn.") and name[6:] in model.meta.receptors:
        return f"gsyn_{name[6:]}"
    if name.startswith("gate."):
        _, ch, gate = name.split(".")
        return f"{gate}_{ch}"
    raise NeurophantomError(f"cannot record {name!r} in the Brian2 export")


def to_brian2(
    model: Model,
    *,
    dt_ms: float,
    duration_ms: float,
    stimulus: Stimulus | None = None,
    init: Mapping[str, Any] | None = None,
    record: Sequence[str] = (),
    record_neurons: Sequence[int] | None = None,
    sample_dt_ms: float | None = None,
    spikes: bool = True,
) -> Brian2Network:
    """Build Brian2 objects for ``model`` (the current Brian2 device must already be set).

    Parameters
    ----------
    model
        A neurophantom Model (see :func:`~neurophantom.biophysics.build_model`).
    dt_ms, duration_ms
        Step and the duration the stimulus waveforms cover.
    stimulus
        Steps, pulses and waveforms (currents or conductances); noise is refused.
    init
        Initial-state overrides as for :func:`~neurophantom.engine.simulate`.
    record, record_neurons, sample_dt_ms
        Variables for a ``StateMonitor`` (``v``, ``ca``, ``g_syn.<receptor>``,
        ``gate.<channel>.<gate>``), neuron indices (default all) and sampling interval.
    spikes
        Attach a ``SpikeMonitor``.
    """
    b2 = _brian2()
    m = model.meta
    desc = describe(model, dt_ms=dt_ms, duration_ms=duration_ms, stimulus=stimulus, init=init)
    group, syn, extra = _build(b2, desc)
    objs: list[Any] = [group, *extra, *syn.values()]
    spk = b2.SpikeMonitor(group, name="spikes") if spikes and m.has_spiking else None
    names = tuple(record)
    mon = None
    if names:
        rec_idx = True if record_neurons is None else np.asarray(record_neurons)
        sdt = (sample_dt_ms or dt_ms) * b2.ms
        # Slot "groups" just before the update: after the summed-variable updaters (order -1,
        # names "event_..."/"kinetic_..."/"gap_..." sort before "states"), so kinetic
        # conductances are those of the step's start state, as the engine records them.
        mon = b2.StateMonitor(group, [_monitor_var(model, x) for x in names], record=rec_idx, dt=sdt, name="states",
                              when="groups", order=-1)
    objs += [o for o in (spk, mon) if o is not None]
    return Brian2Network(
        network=b2.Network(*objs), neurons=group, synapses=syn, spike_monitor=spk, state_monitor=mon,
        record=names, neuron_ids=model.neuron_ids, dt_ms=float(dt_ms), equations=desc.equations,
    )


@contextlib.contextmanager
def _device(b2, mode: str, directory: str | None, codegen_target: str):
    old_target = b2.prefs.codegen.target
    if mode == "runtime":
        b2.prefs.codegen.target = codegen_target
        try:
            yield None
        finally:
            b2.prefs.codegen.target = old_target
        return
    if mode != "cpp_standalone":
        raise NeurophantomError(f"unknown Brian2 mode {mode!r} (expected 'runtime' or 'cpp_standalone')")
    with tempfile.TemporaryDirectory(prefix="np_brian2_") if directory is None else contextlib.nullcontext(directory) as d:
        b2.set_device("cpp_standalone", build_on_run=False, directory=d)
        try:
            yield d
        finally:
            b2.device.reinit()
            b2.device.activate()
            b2.set_device("runtime")


def run_brian2(
    model: Model,
    *,
    duration_ms: float,
    dt_ms: float,
    stimulus: Stimulus | None = None,
    init: Mapping[str, Any] | None = None,
    record: Sequence[str] = (),
    record_neurons: Sequence[int] | None = None,
    sample_dt_ms: float | None = None,
    mode: str = "runtime",
    codegen_target: str = "numpy",
    directory: str | None = None,
) -> tuple[Recording, dict[str, float]]:
    """Export ``model``, run it in Brian2 and return a Recording and timings (s).

    ``spike_step_times_ms`` (and ``spike_times_ms``) hold Brian2's spike times: the start
    of the step in which the threshold was crossed, as the engine's
    ``spike_step_times_ms``. Timings: ``build_s`` (object creation, code generation and,
    in ``cpp_standalone``, compilation), ``run_s`` (the whole run call) and ``loop_s``
    (the simulation loop alone: Brian2's own measurement in ``cpp_standalone``, the run
    call in ``runtime``, which still includes the first-run code generation, so prefer a
    warm cache for timings).
    """
    b2 = _brian2()
    b2.start_scope()
    t0 = time.perf_counter()
    with _device(b2, mode, directory, codegen_target) as d:
        net = to_brian2(model, dt_ms=dt_ms, duration_ms=duration_ms, stimulus=stimulus, init=init, record=record,
                        record_neurons=record_neurons, sample_dt_ms=sample_dt_ms)
        if mode == "runtime":
            t1 = time.perf_counter()
            net.network.run(duration_ms * b2.ms, namespace={})
            t2 = time.perf_counter()
            timings = {"build_s": t1 - t0, "run_s": t2 - t1, "loop_s": t2 - t1}
        else:
            net.network.run(duration_ms * b2.ms, namespace={})
            b2.device.build(directory=d, compile=True, run=False, with_output=False)
            t1 = time.perf_counter()
            b2.device.run(directory=d, with_output=False)
            t2 = time.perf_counter()
            timings = {"build_s": t1 - t0, "run_s": t2 - t1, "loop_s": float(b2.device._last_run_time)}
        engine = f"brian2 {b2.__version__} {mode}" + (f" ({codegen_target})" if mode == "runtime" else "")
        rec = _recording(b2, net, model, {"duration_ms": float(duration_ms), "engine": engine, "timings": timings})
    return rec, timings


def _recording(b2, net: Brian2Network, model: Model, metadata: dict[str, Any]) -> Recording:
    ids = np.zeros(0, np.int64)
    t = np.zeros(0)
    if net.spike_monitor is not None:
        ids = net.neuron_ids[np.asarray(net.spike_monitor.i[:], np.int64)]
        t = np.asarray(net.spike_monitor.t[:] / b2.ms, np.float64)
    order = np.lexsort((ids, t))
    traces, units = {}, {}
    rec_ids = net.neuron_ids
    time_ms = np.zeros(0)
    if net.state_monitor is not None:
        mon = net.state_monitor
        rec_ids = net.neuron_ids[np.asarray(mon.record, np.int64)] if not isinstance(mon.record, bool) else net.neuron_ids
        time_ms = np.asarray(mon.t[:] / b2.ms, np.float64)
        for name in net.record:
            var = _monitor_var(model, name)
            raw = getattr(mon, var + "_")  # unitless SI values, shape (neurons, time)
            scale, unit = (1e3, "mV") if name == "v" else (1e9, "nS") if name.startswith("g_syn.") else (1.0, "uM" if name == "ca" else "1")
            traces[name] = np.asarray(raw, np.float64).T * scale
            units[name] = unit
    return Recording(
        time_ms=time_ms, neuron_ids=rec_ids, traces=traces, units=units, dt_ms=float(net.dt_ms),
        spike_neuron_ids=ids[order], spike_times_ms=t[order], spike_step_times_ms=t[order],
        metadata=metadata,
    )


_SCRIPT = '''"""Brian2 model exported by neurophantom {version} ({source}).

{n} neurons, dt {dt_ms} ms, {duration_ms} ms; exponential Euler as in the engine.
Arrays (initial state, per-neuron constants, stimulus waveforms, synapses) are in
``arrays.npz`` beside this file; the equations are below.

Run: python model.py [spikes.npz]   (writes spike neuron indices ``i`` and times ``t_ms``)
Code generation target: Brian2's default, or $BRIAN2_CODEGEN_TARGET (numpy, cython).
"""

import json
import os
import sys
from pathlib import Path

import brian2 as b2
import numpy as np

HERE = Path(__file__).resolve().parent
SPEC = json.loads((HERE / "spec.json").read_text())
EQUATIONS = (HERE / "equations.txt").read_text()


def unit(name):
    return 1 if name in ("1", "bool") else getattr(b2, name)


def build():
    if os.environ.get("BRIAN2_CODEGEN_TARGET"):
        b2.prefs.codegen.target = os.environ["BRIAN2_CODEGEN_TARGET"]
    data = np.load(HERE / "arrays.npz", allow_pickle=False)
    dt = SPEC["dt_ms"] * b2.ms
    b2.defaultclock.dt = dt
    ns = dict(SPEC["namespace"])
    for k, u in SPEC["timed_arrays"].items():
        ns[k] = b2.TimedArray(data["ta_" + k] * unit(u), dt=dt)
    kw = {{}}
    if SPEC["threshold"]:
        kw = dict(threshold=SPEC["threshold"], refractory=SPEC["refractory_ms"] * b2.ms)
    group = b2.NeuronGroup(SPEC["n"], EQUATIONS, method="exponential_euler", namespace=ns, name="neurons", **kw)
    for var, u in SPEC["state"].items():
        setattr(group, var, data["st_" + var] * unit(u))
    objs = [group] + [group.run_regularly(c, when=w, order=o) for c, w, o in SPEC["run_regularly"]]
    for sp in SPEC["synapses"]:
        s = b2.Synapses(group, group, sp["model"], on_pre=sp["on_pre"], name=sp["name"])
        i, j = data["syn_i_" + sp["name"]], data["syn_j_" + sp["name"]]
        if len(i):
            s.connect(i=i, j=j)
            setattr(s, sp["weight_var"], data["syn_w_" + sp["name"]] * b2.nS)
        objs.append(s)
    spikes = b2.SpikeMonitor(group) if SPEC["threshold"] else None
    return b2.Network(*objs, *([spikes] if spikes is not None else [])), spikes


if __name__ == "__main__":
    net, spikes = build()
    net.run(SPEC["duration_ms"] * b2.ms, report="text")
    if spikes is not None:
        print(f"{{spikes.num_spikes}} spikes")
        if len(sys.argv) > 1:
            np.savez(sys.argv[1], i=np.asarray(spikes.i[:]), t_ms=np.asarray(spikes.t[:] / b2.ms))
'''


def write_brian2_script(desc: Brian2Description, out_dir, *, source: str = "") -> Path:
    """Write ``desc`` as a runnable Brian2 script folder (atomically): ``model.py``,
    ``equations.txt``, ``spec.json`` (names, units, codes) and ``arrays.npz`` (no pickles)."""
    import io
    import json

    from .. import __version__
    from ._atomic import atomic_dir

    arrays = {f"ta_{k}": v for k, (v, _u) in desc.timed_arrays.items()}
    arrays |= {f"st_{k}": v for k, (v, _u) in desc.state.items()}
    for sp in desc.synapses:
        arrays |= {f"syn_i_{sp.name}": sp.i.astype(np.int64), f"syn_j_{sp.name}": sp.j.astype(np.int64),
                   f"syn_w_{sp.name}": np.asarray(sp.weight_nS, np.float64)}
    arrays["neuron_ids"] = desc.neuron_ids
    spec = {
        "n": desc.n, "dt_ms": desc.dt_ms, "duration_ms": desc.duration_ms, "threshold": desc.threshold,
        "refractory_ms": desc.refractory_ms, "namespace": desc.namespace,
        "timed_arrays": {k: u for k, (_v, u) in desc.timed_arrays.items()},
        "state": {k: u for k, (_v, u) in desc.state.items()},
        "run_regularly": [list(x) for x in desc.run_regularly],
        "synapses": [{"name": sp.name, "model": sp.model, "on_pre": sp.on_pre, "weight_var": sp.weight_var} for sp in desc.synapses],
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with atomic_dir(out_dir) as tmp:
        (tmp / "arrays.npz").write_bytes(buf.getvalue())
        (tmp / "spec.json").write_text(json.dumps(spec, indent=1))
        (tmp / "equations.txt").write_text(desc.equations + "\n")
        (tmp / "model.py").write_text(_SCRIPT.format(version=__version__, source=source or "a Model", n=desc.n, dt_ms=desc.dt_ms,
                                                      duration_ms=desc.duration_ms))
    return Path(out_dir)
