"""Compile a trained rate network into a conductance-based Circuit of graded neurons.

Mapping (exact in the rate model's own terms; see :mod:`.trained` for the model):

- **Units -> neurons.** Every unit becomes a graded, leak-only point neuron of area
  ``area_um2`` whose leak density gives the unit's membrane time constant
  (``tau = c_m / g_leak``). Its release rate ``sigmoid((V - V_half)/k)`` is the unit's rate.
- **Dale's law by splitting.** A unit whose outgoing weights have both signs becomes a
  population of two *twin* neurons, ``<unit>_E`` (all its positive weights, as AMPA
  receptors) and ``<unit>_I`` (all its negative weights, as GABA-A receptors). Both twins
  receive identical synapses, so they have the same voltage and release; each obeys
  Dale's law. A unit with one sign of output keeps one neuron; a recurrent unit with no
  output at all keeps an ``_E`` neuron for the readout; an input unit with no output is
  dropped.
- **Weights -> receptor densities.** ``|W_ij|`` is a conductance in units of the target's
  leak, so the synapse from ``j``'s twin onto each neuron of ``i`` has peak conductance
  ``|W_ij| g_leak`` (nS). One release site (``synapse_id``) reaches both twins of ``i``: a
  polyadic synapse. Its contact area grows with strength,
  ``0.2 + 0.8 sqrt(g / g_max)`` um^2, and the receptor density is the rest:
  ``g / (area x g_unit)``. Size therefore predicts strength only in part.
- **Inputs -> stimulated neurons; outputs -> recorded neurons.** Input unit ``k`` is
  driven by the current ``g_leak x input_gain_mV x u_k(t)``; outputs are read from the
  recurrent neurons' release rates (:class:`~.pretty_printer_run.Interface`).

The rate model keeps synapses at their steady state; the circuit has Destexhe receptor
kinetics (AMPA ~5 ms, GABA-A ~10 ms). That lag is what fine-tuning
(:mod:`.pretty_printer_finetune`) corrects.

Calibration: :func:`calibrate` measures the compiled neuron type's input-rate curve with
the engine (steady states under a sweep of injected currents, receptor activation read
from probe synapses) and fits leak reversal and conductance, membrane time constant,
release half-point and slope and the receptors' steady-state gains. Compilation takes
``g_leak`` from this fit and refuses a rate network whose unit model disagrees with it.

References
----------
Destexhe A, Mainen ZF, Sejnowski TJ (1994) Neural Comput 6:14-18 (receptor kinetics and
graded release). Shriki O, Hansel D, Sompolinsky H (2003) Neural Comput 15:1809-1841
(rate models of conductance-based networks). Dale's principle: Eccles JC, Fatt P, Koketsu
K (1954) J Physiol 126:524-562.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares

from .._errors import NeurophantomError
from ..biophysics import Biophysics, build_model, preset
from ..engine import simulate
from ..types import Circuit, Provenance
from ..types.stimulus import Step, Stimulus
from ._tables import make_circuit
from .pretty_printer_run import HEADER_KEY, InputPopulation, Interface
from .tasks import get_task
from .trained import RateNetwork, UnitModel, input_unit_names, input_units

AREA_UM2 = 1000.0  # membrane area of every compiled neuron (a small graded neuron)
RECEPTORS = ("ampa", "gaba_a")
SCORE_DT_MS = 0.25  # engine step used to run compiled circuits on task trials


@dataclasses.dataclass(frozen=True, kw_only=True)
class Calibration:
    """Measured input-rate curve of the compiled neuron type (engine steady states)."""

    g_leak_nS: float
    E_leak_mV: float
    tau_ms: float
    vhalf_mV: float
    slope_mV: float
    kappa_exc: float
    kappa_inh: float
    max_residual: float  # largest residual of the receptor-activation fit

    def check(self, unit: UnitModel) -> None:
        """Raise if the rate network's unit model disagrees with the measured curve."""
        pairs = {
            "E_leak_mV": (self.E_leak_mV, unit.E_leak_mV, 0.05),
            "tau_ms": (self.tau_ms, unit.tau_ms, 0.01 * unit.tau_ms),
            "vhalf_mV": (self.vhalf_mV, unit.vhalf_mV, 0.05),
            "slope_mV": (self.slope_mV, unit.slope_mV, 0.01 * unit.slope_mV),
            "kappa_exc": (self.kappa_exc, unit.kappa_exc, 0.01 * unit.kappa_exc),
            "kappa_inh": (self.kappa_inh, unit.kappa_inh, 0.01 * unit.kappa_inh),
        }
        for name, (measured, model, tol) in pairs.items():
            if abs(measured - model) > tol:
                raise NeurophantomError(
                    f"rate network unit {name}={model:g} disagrees with the biophysics ({measured:.4g} measured): "
                    "it was trained for another world"
                )


def leak_density(bio: Biophysics, tau_ms: float) -> float:
    """Leak channels per um^2 that give membrane time constant ``tau_ms``."""
    return bio.cm_pF_per_um2 / tau_ms / (bio.channel("leak").g_unit_pS * 1e-3)


def calibrate(bio: Biophysics, *, tau_ms: float = 20.0, area_um2: float = AREA_UM2, n_levels: int = 25) -> Calibration:
    """Measure the compiled neuron's input-rate curve with the engine and fit it.

    ``n_levels`` driver neurons (graded, leak only) receive constant currents spanning
    rest to saturation; each sends one AMPA and one GABA-A synapse of 1 nS to its own
    passive probe, whose recorded ``g_syn`` (nS) is the receptor's open fraction. After
    400 ms (20 time constants) the drivers' voltages give ``E_leak`` and ``g_leak`` (a
    line), the probes give ``s(V)``, fitted jointly by
    ``s = kappa T/(kappa T + 1)``, ``T = sigmoid((V - V_half)/k)``; the time constant is
    fitted to the first 20 ms of a driver's charging curve.
    """
    rho = leak_density(bio, tau_ms)
    g_l = rho * area_um2 * bio.channel("leak").g_unit_pS * 1e-3
    currents = np.linspace(0.0, 60.0, n_levels) * g_l  # 0 to 60 mV of depolarisation
    n = 2 * n_levels
    ids = np.arange(n)
    neurons = {
        "id": ids, "name": [f"drv{i}" for i in range(n_levels)] + [f"probe{i}" for i in range(n_levels)],
        "cell_type": ["driver"] * n_levels + ["probe"] * n_levels,
        "x_um": np.zeros(n), "y_um": np.zeros(n), "z_um": np.zeros(n), "area_um2": np.full(n, area_um2),
        "release": ["graded"] * n, "leak": np.full(n, rho),
    }
    g_unit = {r: bio.receptor(r).g_unit_pS * 1e-3 for r in RECEPTORS}
    rows = {k: [] for k in ("synapse_id", "pre", "post", "x_um", "y_um", "z_um", "contact_area_um2", *RECEPTORS)}
    for i in range(n_levels):
        for k, r in enumerate(RECEPTORS):
            rows["synapse_id"].append(2 * i + k); rows["pre"].append(i); rows["post"].append(n_levels + i)
            for c in ("x_um", "y_um", "z_um"):
                rows[c].append(0.0)
            rows["contact_area_um2"].append(1.0)
            for r2 in RECEPTORS:
                rows[r2].append(1.0 / g_unit[r2] if r2 == r else 0.0)  # 1 nS
    circuit = make_circuit(neurons=neurons, synapses=rows, gap_junctions=None, channel_types=("leak",),
                           receptor_types=RECEPTORS, provenance=Provenance(source="pretty-printer-calibration"))
    model = build_model(circuit, bio)
    stim = Stimulus(duration_ms=400.0, components=tuple(
        Step(targets=(i,), amplitude_pA=float(currents[i])) for i in range(n_levels) if currents[i] != 0.0
    ))
    rec = simulate(model, stim, dt_ms=0.25, sample_dt_ms=0.5, record=("v", "g_syn.ampa", "g_syn.gaba_a"), progress=False)
    v = rec.traces["v"][-1, :n_levels]
    s_exc = rec.traces["g_syn.ampa"][-1, n_levels:]
    s_inh = rec.traces["g_syn.gaba_a"][-1, n_levels:]
    slope, e_leak = np.polyfit(currents, v, 1)
    g_fit = 1.0 / slope
    j = n_levels - 1  # the most driven cell: charging curve V(t) = V_ss - (V_ss - E_L) exp(-t/tau)
    t = rec.time_ms[1:41]
    frac = (v[j] - rec.traces["v"][1:41, j]) / (v[j] - e_leak)
    tau_fit = -1.0 / np.polyfit(t, np.log(frac), 1)[0]

    def resid(p):
        vh, k, ke, ki = p
        tr = 1.0 / (1.0 + np.exp(-(v - vh) / k))
        return np.concatenate([ke * tr / (ke * tr + 1) - s_exc, ki * tr / (ki * tr + 1) - s_inh])

    fit = least_squares(resid, x0=[-30.0, 4.0, 3.0, 30.0], xtol=1e-14, ftol=1e-14, gtol=1e-14)
    vh, k, ke, ki = fit.x
    return Calibration(g_leak_nS=float(g_fit), E_leak_mV=float(e_leak), tau_ms=float(tau_fit), vhalf_mV=float(vh),
                       slope_mV=float(k), kappa_exc=float(ke), kappa_inh=float(ki),
                       max_residual=float(np.abs(fit.fun).max()))


# --------------------------------------------------------------------------- compile
@dataclasses.dataclass(frozen=True)
class _Pop:
    unit: int  # column of W
    name: str
    is_input: bool
    exc: int | None  # neuron id of the _E twin
    inh: int | None  # neuron id of the _I twin

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(i for i in (self.exc, self.inh) if i is not None)


def _populations(net: RateNetwork) -> list[_Pop]:
    task = get_task(net.task)
    names = list(input_unit_names(task)) + [f"h{i:02d}" for i in range(net.n_units)]
    pops, nid = [], 0
    for j, name in enumerate(names):
        is_input = j < net.n_inputs
        out = net.W[:, j]
        has_e, has_i = bool(np.any(out > 0)), bool(np.any(out < 0))
        if not is_input and not (has_e or has_i):
            has_e = True
        exc = inh = None
        if has_e:
            exc, nid = nid, nid + 1
        if has_i:
            inh, nid = nid, nid + 1
        if exc is not None or inh is not None:
            pops.append(_Pop(j, name, is_input, exc, inh))
    return pops


def _neuron_table(pops: list[_Pop], rho: float, rng: np.random.Generator) -> dict:
    cols = {k: [] for k in ("id", "name", "cell_type", "x_um", "y_um", "z_um")}
    for p in pops:
        # Inputs on a sheet at z = 0; recurrent units in a 200 um cube above it; twins 10 um apart.
        centre = rng.uniform([0, 0, 0], [200, 200, 0 if p.is_input else 200]) + ([0, 0, 0] if p.is_input else [0, 0, 50])
        for nid, kind in ((p.exc, "E"), (p.inh, "I")):
            if nid is None:
                continue
            pos = centre + (np.array([5.0, 0, 0]) if kind == "I" else np.array([-5.0, 0, 0]))
            cols["id"].append(nid)
            cols["name"].append(f"{p.name}_{kind}")
            cols["cell_type"].append(f"{'input' if p.is_input else 'recurrent'}_{'exc' if kind == 'E' else 'inh'}")
            for c, x in zip(("x_um", "y_um", "z_um"), pos):
                cols[c].append(float(x))
    n = len(cols["id"])
    cols.update({"area_um2": np.full(n, AREA_UM2), "release": ["graded"] * n, "leak": np.full(n, rho)})
    cols["id"] = np.asarray(cols["id"], dtype=np.int64)
    return cols


def _synapse_table(net: RateNetwork, pops: list[_Pop], g_l: float, bio: Biophysics, xyz: dict, rng) -> dict:
    by_unit = {p.unit: p for p in pops}
    g_unit = {r: bio.receptor(r).g_unit_pS * 1e-3 for r in RECEPTORS}
    g_max = float(np.abs(net.W).max()) * g_l
    rows = {k: [] for k in ("synapse_id", "pre", "post", "x_um", "y_um", "z_um", "contact_area_um2", *RECEPTORS)}
    sid = 0
    for i in range(net.n_units):
        target = by_unit[net.n_inputs + i]
        for j in range(net.W.shape[1]):
            w = net.W[i, j]
            if w == 0.0 or j not in by_unit:
                continue
            src = by_unit[j]
            pre, rec = (src.exc, "ampa") if w > 0 else (src.inh, "gaba_a")
            g = abs(w) * g_l
            area = 0.2 + 0.8 * np.sqrt(g / g_max)
            tgt = np.mean([xyz[m] for m in target.members], axis=0)
            site = xyz[pre] + 0.7 * (tgt - xyz[pre]) + rng.normal(0.0, 2.0, 3)
            for post in target.members:
                rows["synapse_id"].append(sid); rows["pre"].append(pre); rows["post"].append(post)
                for c, x in zip(("x_um", "y_um", "z_um"), site):
                    rows[c].append(float(x))
                rows["contact_area_um2"].append(float(area))
                for r in RECEPTORS:
                    rows[r].append(g / (area * g_unit[r]) if r == rec else 0.0)
            sid += 1
    return rows


def compile_network(
    net: RateNetwork, *, bio: Biophysics | None = None, seed: int = 0, calibration: Calibration | None = None
) -> tuple[Circuit, Interface]:
    """The Circuit and task Interface of ``net`` (see module docstring); deterministic.

    ``seed`` only places somata and release sites in space; the dynamics do not depend on it.
    """
    bio = bio or preset("default")
    cal = calibration or calibrate(bio, tau_ms=net.unit.tau_ms)
    cal.check(net.unit)
    task = get_task(net.task)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    pops = _populations(net)
    rho = leak_density(bio, net.unit.tau_ms)
    neurons = _neuron_table(pops, rho, rng)
    xyz = {int(i): np.array([x, y, z]) for i, x, y, z in zip(neurons["id"], neurons["x_um"], neurons["y_um"], neurons["z_um"])}
    synapses = _synapse_table(net, pops, cal.g_leak_nS, bio, xyz, rng)
    name_of = dict(zip(neurons["id"].tolist(), neurons["name"]))
    by_unit = {p.unit: p for p in pops}
    inputs = []
    for k, ((ch, sign), uname) in enumerate(zip(input_units(task), input_unit_names(task))):
        members = by_unit[k].members if k in by_unit else ()
        inputs.append(InputPopulation(unit=uname, channel=ch, sign=sign, neurons=tuple(name_of[m] for m in members),
                                      ids=members, current_pA_per_unit=cal.g_leak_nS * net.unit.input_gain_mV))
    rec_pops = [by_unit[net.n_inputs + i] for i in range(net.n_units)]
    interface = Interface(
        task=net.task, dt_ms=SCORE_DT_MS, input_sample_dt_ms=task.dt_ms, inputs=tuple(inputs),
        readout_units=tuple(tuple(name_of[m] for m in p.members) for p in rec_pops),
        readout_ids=tuple(p.members for p in rec_pops),
        readout_weights=net.C, readout_bias=net.d,
        release_vhalf_mV=bio.release["graded"].vhalf_mV, release_slope_mV=bio.release["graded"].slope_mV,
    )
    circuit = make_circuit(
        neurons=neurons, synapses=synapses, gap_junctions=None, channel_types=("leak",), receptor_types=RECEPTORS,
        provenance=Provenance(
            source="pretty-printer", seed=seed, config={"task": net.task, "seed": seed},
            metadata={"biophysics": bio.to_dict(), "task": net.task, HEADER_KEY: interface.to_dict()},
        ),
    )
    return circuit, interface
