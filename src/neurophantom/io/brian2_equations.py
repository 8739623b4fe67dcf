"""A Model as Brian2 equations: the text and the arrays of an export, without Brian2.

:func:`describe` turns a Model (and optionally a stimulus) into a
:class:`Brian2Description`: the neuron equations (:func:`neuron_equations`, one
``exponential_euler``-ready block per channel from :func:`channel_equations`), the synapse
groups with their equations, indices and weights (event synapses ``on_pre: g += w``,
kinetic synapses as ``(summed)`` conductances, gap junctions as two ``(summed)`` terms),
the initial state and the stimulus waveforms. Everything here is plain text and numpy;
:mod:`.brian2_export` builds, runs and writes it with Brian2.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.stimulus import Stimulus


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
