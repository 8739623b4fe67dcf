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

Brian2 is an optional dependency: it is imported inside the functions.

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


def _brian2():
    try:
        import brian2
    except ImportError:  # pragma: no cover - brian2 is installed with the test extra
        raise NeurophantomError("Brian2 is not installed: pip install 'neurophantom[peers]'") from None
    return brian2


def _gate(name: str, ch: str, inf: str, tau_ms: str) -> list[str]:
    return [f"{name}_inf_{ch} = {inf} : 1", f"tau_{name}_{ch} = ({tau_ms})*ms : second",
            f"d{name}_{ch}/dt = ({name}_inf_{ch} - {name}_{ch})/tau_{name}_{ch} : 1"]


def _rates(name: str, ch: str, alpha: str, beta: str) -> list[str]:
    return [f"alpha_{name}_{ch} = ({alpha})/ms : Hz", f"beta_{name}_{ch} = ({beta})/ms : Hz",
            f"d{name}_{ch}/dt = alpha_{name}_{ch}*(1 - {name}_{ch}) - beta_{name}_{ch}*{name}_{ch} : 1"]


def channel_equations(ch: str, p: Mapping[str, float]) -> list[str]:
    """Brian2 gate equations of library channel ``ch`` (voltage ``vm`` in mV, calcium ``ca`` in uM).

    The same expressions as ``biophysics/channels/*.py`` (the JAX kinetics cannot be
    translated automatically, so each channel's form is written here once; the reference
    tests compare both simulators on every channel). Raises for a channel without one.
    """
    vt = f"({p.get('VT_mV', 0.0)!r})"
    if ch == "na":
        return (_rates("m", ch, f"0.32*4/exprel((13 - vm + {vt})/4)", f"0.28*5/exprel((vm - {vt} - 40)/5)")
                + _rates("h", ch, f"0.128*exp((17 - vm + {vt})/18)", f"4/(1 + exp((40 - vm + {vt})/5))"))
    if ch == "kdr":
        return _rates("n", ch, f"0.032*5/exprel((15 - vm + {vt})/5)", f"0.5*exp((10 - vm + {vt})/40)")
    if ch == "leak":
        return []
    if ch == "ka":
        return (_gate("a", ch, "(0.0761*exp((vm + 94.22)/31.84)/(1 + exp((vm + 1.17)/28.93)))**(1.0/3.0)",
                      "0.3632 + 1.158/(1 + exp((vm + 55.96)/20.12))")
                + _gate("b", ch, "1/(1 + exp((vm + 53.3)/14.54))**4", "1.24 + 2.678/(1 + exp((vm + 50)/16.027))"))
    if ch == "cal":
        vh, k, tau = p.get("vhalf_mV", 0.0), p.get("k_mV", 1.0), p.get("tau_ms", 1.0)
        return _gate("m", ch, f"1/(1 + exp(-(vm - ({vh!r}))/{k!r}))", repr(tau))
    if ch == "kca":
        hill, kd, tau = p.get("hill", 1.0), p.get("kd_uM", 1.0), p.get("tau_ms", 1.0)
        can = f"clip(ca, 0, inf)**{hill!r}"
        return _gate("z", ch, f"{can}/({can} + {kd!r}**{hill!r})", repr(tau))
    if ch == "hcn":
        return _gate("h", ch, "1/(1 + exp((vm + 75)/5.5))", "1/(exp(-14.59 - 0.086*vm) + exp(-1.87 + 0.0701*vm))")
    raise NeurophantomError(f"channel {ch!r} has no Brian2 form; cannot export this model")


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


def _p(model: Model, name: str) -> np.ndarray:
    return np.asarray(model.params[name], dtype=np.float64)


def _event_norm(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Peak normalisation of each receptor's double exponential (1 for single exponentials)."""
    tr, td = _p(model, "tau_rise_ms"), _p(model, "tau_decay_ms")
    rise = tr > 0
    trs = np.where(rise, tr, 0.5 * td)
    t_peak = td * trs / (td - trs) * np.log(td / trs)
    peak = np.exp(-t_peak / td) - np.exp(-t_peak / trs)
    return np.where(rise, 1.0 / peak, 1.0), rise


def _check_exportable(model: Model, stimulus: Stimulus | None) -> None:
    from ..types.stimulus import Noise

    if stimulus is not None and any(isinstance(c, Noise) for c in stimulus.components):
        raise NeurophantomError("cannot export stimulus noise to Brian2 (the random streams differ); drop the noise component")
    for ch in model.meta.channels:
        channel_equations(ch, {})  # raises for channels without a Brian2 form


def neuron_equations(model: Model, n_i: int = 0, n_g: int = 0) -> str:
    """The Brian2 equations of the Model's neurons (``n_i``/``n_g`` stimulus components)."""
    m = model.meta
    lines = ["vm = v/mV : 1", "C : farad (constant)", "is_spiking : boolean (constant)"]
    i_terms, ca_lines = [], []
    for c, (ch, gates, powers) in enumerate(zip(m.channels, m.gates, m.powers)):
        kin = {k: float(_p(model, f"kin.{ch}.{k}")) for k in m.kinetic_param_names[c]}
        lines += channel_equations(ch, kin)
        lines.append(f"gbar_{ch} : siemens (constant)")
        opening = "*".join(f"{g}_{ch}**{pw}" if pw > 1 else f"{g}_{ch}" for g, pw in zip(gates, powers)) or "1"
        lines.append(f"I_{ch} = gbar_{ch}*{opening}*({float(_p(model, 'E_ch_mV')[c])!r}*mV - v) : amp")
        i_terms.append(f"I_{ch}")
    if m.has_calcium:
        lines += ["dca/dt = (ca_rest - ca)/ca_tau + k_ca*I_ca/pA/ms : 1", "k_ca : 1 (constant)"]
        i_ca = f"I_{m.channels[m.calcium_channel]}" if m.calcium_channel >= 0 else "0*pA"
        lines.append(f"I_ca = {i_ca} : amp")
        ca_lines = [f"ca_rest = {float(_p(model, 'ca_rest_uM'))!r} : 1", f"ca_tau = {float(_p(model, 'ca_tau_ms'))!r}*ms : second"]
    lines += ca_lines
    lines += _synapse_equations(model)
    if m.receptors:
        i_terms.append("I_syn")
    if m.n_gap:
        lines += ["gc_gap : siemens", "gd_gap : amp"]
        i_terms.append("(gd_gap - gc_gap*v)")
    stim = [f"i_wave_{k}(t)*i_map_{k}" for k in range(n_i)]
    stim += [f"g_wave_{k}(t)*g_map_{k}*(g_E_{k}*mV - v)" for k in range(n_g)]
    lines += [f"i_map_{k} : 1 (constant)" for k in range(n_i)] + [f"g_map_{k} : 1 (constant)" for k in range(n_g)]
    if stim:
        lines.append("I_stim = " + " + ".join(stim) + " : amp")
        i_terms.append("I_stim")
    lines.insert(0, "dv/dt = (" + " + ".join(i_terms) + ")/C : volt")
    return "\n".join(lines)


def _synapse_equations(model: Model) -> list[str]:
    """Per receptor: event conductances ``ga - gb``, kinetic ``gk`` and open fraction ``r``."""
    m = model.meta
    if not m.receptors:
        return []
    lines, i_syn = [], []
    E = _p(model, "E_syn_mV")
    alpha, td, tr = _p(model, "alpha_per_mM_ms"), _p(model, "tau_decay_ms"), _p(model, "tau_rise_ms")
    if m.n_kinetic_edges:
        lines += ["vhalf : 1 (constant)", "slope : 1 (constant)", "T_release = 1/(1 + exp(-(vm - vhalf)/slope)) : 1"]
    for k, r in enumerate(m.receptors):
        lines.append(f"dga_{r}/dt = -ga_{r}/({float(td[k])!r}*ms) : siemens")
        if tr[k] > 0:
            lines.append(f"dgb_{r}/dt = -gb_{r}/({float(tr[k])!r}*ms) : siemens")
        else:
            lines.append(f"gb_{r} : siemens")
        g = f"(ga_{r} - gb_{r}"
        if m.n_kinetic_edges:
            lines.append(f"dr_{r}/dt = {float(alpha[k])!r}*T_release*(1 - r_{r})/ms - r_{r}/({float(td[k])!r}*ms) : 1")
            lines.append(f"gk_{r} : siemens")
            g += f" + gk_{r}"
        g += ")"
        if m.mg_block[k]:
            lines.append(f"B_{r} : 1")
            g += f"*B_{r}"
        lines.append(f"gsyn_{r} = {g} : siemens")
        i_syn.append(f"gsyn_{r}*({float(E[k])!r}*mV - v)")
    lines.append("I_syn = " + " + ".join(i_syn) + " : amp")
    return lines


def _drive_arrays(model: Model, stimulus: Stimulus | None, dt_ms: float, duration_ms: float):
    from ..engine.drive import compile_drive

    n_steps = max(int(round(duration_ms / dt_ms)), 1)
    stim = stimulus if stimulus is not None else Stimulus(duration_ms=duration_ms)
    return compile_drive(stim, model, dt_ms=dt_ms, n_steps=n_steps)


@dataclasses.dataclass
class SynapseSpec:
    """One Brian2 ``Synapses`` object: model, pre code, connectivity and weights (nS)."""

    name: str
    model: str
    on_pre: str | None
    i: np.ndarray
    j: np.ndarray
    weight_var: str
    weight_nS: np.ndarray


@dataclasses.dataclass
class Brian2Description:
    """Everything Brian2 needs, as plain strings and arrays (units named per array).

    :func:`to_brian2` builds live objects from it; :func:`write_brian2_script` writes it as
    a standalone script plus an ``.npz`` of arrays.
    """

    n: int
    dt_ms: float
    duration_ms: float
    equations: str
    threshold: str | None
    refractory_ms: float
    namespace: dict[str, float]
    timed_arrays: dict[str, tuple[np.ndarray, str]]
    state: dict[str, tuple[np.ndarray, str]]
    run_regularly: list[tuple[str, str, int]]
    synapses: list[SynapseSpec]
    neuron_ids: np.ndarray


def describe(model: Model, *, dt_ms: float, duration_ms: float, stimulus: Stimulus | None = None,
             init: Mapping[str, Any] | None = None) -> Brian2Description:
    """The Brian2 form of ``model`` under ``stimulus`` from ``init`` (see module docstring)."""
    _check_exportable(model, stimulus)
    m = model.meta
    drive = _drive_arrays(model, stimulus, dt_ms, duration_ms)
    n_i, n_g = drive.i_map.shape[0], drive.g_map.shape[0]
    timed = {f"i_wave_{k}": (np.asarray(drive.i_wave[:, k], np.float64), "pA") for k in range(n_i)}
    timed |= {f"g_wave_{k}": (np.asarray(drive.g_wave[:, k], np.float64), "nS") for k in range(n_g)}
    rr = []
    for r, blocked in zip(m.receptors, m.mg_block):
        if blocked:
            # before the StateMonitor (slot "start", order 0) and the update: the block at the step's start voltage
            rr.append((f"B_{r} = 1/(1 + {float(_p(model, 'mg_mM'))!r}/3.57*exp(-0.062*vm))", "start", -1))
    if m.has_calcium:
        rr.append(("ca = clip(ca, 0, inf)", "after_groups", 0))
    return Brian2Description(
        n=m.n, dt_ms=float(dt_ms), duration_ms=float(duration_ms), equations=neuron_equations(model, n_i, n_g),
        threshold=f"v > {m.spike_threshold_mV!r}*mV and is_spiking" if m.has_spiking else None,
        refractory_ms=float(m.refractory_ms), namespace={f"g_E_{k}": float(drive.g_E_mV[k]) for k in range(n_g)},
        timed_arrays=timed, state=_state(model, drive, init), run_regularly=rr, synapses=_synapses(model),
        neuron_ids=model.neuron_ids,
    )


def _state(model: Model, drive, init) -> dict[str, tuple[np.ndarray, str]]:
    """Initial values and per-neuron constants of every NeuronGroup variable."""
    from ..engine.integrate import init_state

    m = model.meta
    st = init_state(model, drive, init)
    arr = lambda x: np.asarray(x, np.float64)  # noqa: E731
    out = {"C": (_p(model, "C_pF"), "pF"), "is_spiking": (np.asarray(model.index["spiking"], bool), "bool"),
           "v": (arr(st.v), "mV")}
    col = 0
    g = _p(model, "g_nS")
    for c, (ch, gates) in enumerate(zip(m.channels, m.gates)):
        out[f"gbar_{ch}"] = (g[:, c], "nS")
        for gate in gates:
            out[f"{gate}_{ch}"] = (arr(st.gates[col]), "1")
            col += 1
    if m.has_calcium:
        out["ca"] = (arr(st.ca), "1")
        out["k_ca"] = (np.broadcast_to(_p(model, "ca_per_pA_ms"), (m.n,)).copy(), "1")
    R = len(m.receptors)
    for k, r in enumerate(m.receptors):
        out[f"ga_{r}"] = (arr(st.syn_a)[k * m.n:(k + 1) * m.n], "nS")
        out[f"gb_{r}"] = (arr(st.syn_b)[k * m.n:(k + 1) * m.n], "nS")
        if m.n_kinetic_edges:
            out[f"r_{r}"] = (arr(st.r[k]), "1")
    if R and m.n_kinetic_edges:
        out["vhalf"] = (_p(model, "release_vhalf_mV"), "1")
        out["slope"] = (_p(model, "release_slope_mV"), "1")
    for k in range(drive.i_map.shape[0]):
        out[f"i_map_{k}"] = (arr(drive.i_map[k]), "1")
    for k in range(drive.g_map.shape[0]):
        out[f"g_map_{k}"] = (arr(drive.g_map[k]), "1")
    return out


def _synapses(model: Model) -> list[SynapseSpec]:
    """Event edges per receptor, kinetic edges per receptor, gap junctions (both directions)."""
    m, idx = model.meta, model.index
    out: list[SynapseSpec] = []
    norm, rise = _event_norm(model) if m.receptors else (np.ones(0), np.zeros(0, bool))
    if m.n_event_edges:
        pre, slot, w = np.asarray(idx["ev_pre"]), np.asarray(idx["ev_slot"]), _p(model, "w_event_nS")
        for k, r in enumerate(m.receptors):
            sel = slot // m.n == k
            if sel.any():
                on_pre = f"ga_{r}_post += w" + (f"\ngb_{r}_post += w" if rise[k] else "")
                out.append(SynapseSpec(f"event_{r}", "w : siemens (constant)", on_pre, pre[sel], slot[sel] % m.n, "w", w[sel] * norm[k]))
    if m.n_kinetic_edges:
        pre, slot, rec, w = (np.asarray(idx["kin_pre"]), np.asarray(idx["kin_slot"]), np.asarray(idx["kin_rec"]),
                             _p(model, "w_kinetic_nS"))
        for k, r in enumerate(m.receptors):
            sel = rec == k  # an empty object still keeps gk_<r> at 0 (the equations declare it)
            eqs = f"w : siemens (constant)\ngk_{r}_post = w*r_{r}_pre : siemens (summed)"
            out.append(SynapseSpec(f"kinetic_{r}", eqs, None, pre[sel], slot[sel] % m.n, "w", w[sel]))
    if m.n_gap:
        a, b, g = np.asarray(idx["gap_a"]), np.asarray(idx["gap_b"]), _p(model, "g_gap_nS")
        eqs = "g : siemens (constant)\ngc_gap_post = g : siemens (summed)\ngd_gap_post = g*v_pre : amp (summed)"
        out.append(SynapseSpec("gap", eqs, None, np.concatenate([a, b]), np.concatenate([b, a]), "g", np.concatenate([g, g])))
    return out


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
