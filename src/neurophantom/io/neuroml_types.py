"""Custom LEMS ComponentTypes of the NeuroML export: the engine's equations where NeuroML's
standard elements have no exact form.

Written into the NeuroML document itself (``<ComponentType>`` elements, valid under the
NeuroML 2.3.1 schema), so that the ``.net.nml`` file carries every equation it uses:

- gate steady states and time constants of the A-type K (Connor-Stevens), HCN
  (Huguenard-McCormick) and Ca-activated K (Hill function of the calcium pool) channels;
- ``npKineticSynapse``: the Destexhe et al. (1994) kinetic synapse of graded (and
  kinetic-release) transmission, ``dr/dt = alpha T (1 - r) - r/tau_decay`` with
  ``T = 1/(1 + exp(-(V_pre - vhalf)/slope))``, ``r`` starting at its steady state for the
  presynaptic start voltage, optionally with the NMDA magnesium block;
- ``npConductancePulse``: a conductance step ``g (erev - v)`` over a window (stimulus
  conductance pulses);
- ``npDecayingConductance``: an initial synaptic conductance that decays as the engine's
  event conductance does (``g0 exp(-t/tau)``, with the magnesium block where the receptor
  has one), the initial state ``g_syn.<receptor>`` of :func:`~neurophantom.engine.simulate`.

Everything in SI inside LEMS; the constants ``MV`` and ``MS`` make the literature's
formulas (in mV and ms) dimensionally consistent.

References
----------
Cannon RC et al. (2014) LEMS: a language for expressing complex biological models in
concise and hierarchical form and its use in underpinning NeuroML 2. Front Neuroinform 8:79.
Connor JA, Stevens CF (1971) J Physiol 213:21-30; Dayan P, Abbott LF (2001) eq. 6.14-6.16.
Huguenard JR, McCormick DA (1992) J Neurophysiol 68:1373-1383.
Destexhe A, Mainen ZF, Sejnowski TJ (1994) Neural Comput 6:14-18.
Jahr CE, Stevens CF (1990) J Neurosci 10:3178-3182.
"""

from __future__ import annotations

from typing import Mapping

#: LEMS constants (name, dimension, value) that make the literature's mV and ms formulas dimensional.
MV, MS = ("MV", "voltage", "1mV"), ("MS", "time", "1ms")


def _ct(nml, name: str, extends: str, *, value: str, exposure: str, dimension: str, consts=(), requirement=None, desc=""):
    """A ComponentType with one DerivedVariable ``exposure = value`` (a gate rate expression)."""
    dyn = nml.Dynamics(DerivedVariable=[nml.DerivedVariable(name=exposure, dimension=dimension, exposure=exposure, value=value)])
    return nml.ComponentType(
        name=name, extends=extends, description=desc,
        Constant=[nml.Constant(name=n, dimension=d, value=v) for n, d, v in consts],
        Requirement=[nml.Requirement(name=r, dimension=d) for r, d in (requirement or [])],
        Dynamics=[dyn],
    )


def gate_types(nml, channels: Mapping[str, Mapping[str, float]]) -> list:
    """ComponentTypes for the gates of ``channels`` (name -> kinetic params) that need one."""
    out = []
    if "ka" in channels:
        out += [
            _ct(nml, "np_ka_a_inf", "baseVoltageDepVariable", exposure="x", dimension="none", consts=[MV],
                value="(0.0761 * exp((v/MV + 94.22)/31.84) / (1 + exp((v/MV + 1.17)/28.93)))^(1/3)",
                desc="Connor-Stevens A-current activation a_inf (Dayan & Abbott 2001 eq. 6.15)"),
            _ct(nml, "np_ka_a_tau", "baseVoltageDepTime", exposure="t", dimension="time", consts=[MV, MS],
                value="MS * (0.3632 + 1.158 / (1 + exp((v/MV + 55.96)/20.12)))"),
            _ct(nml, "np_ka_b_inf", "baseVoltageDepVariable", exposure="x", dimension="none", consts=[MV],
                value="1 / (1 + exp((v/MV + 53.3)/14.54))^4"),
            _ct(nml, "np_ka_b_tau", "baseVoltageDepTime", exposure="t", dimension="time", consts=[MV, MS],
                value="MS * (1.24 + 2.678 / (1 + exp((v/MV + 50)/16.027)))"),
        ]
    if "hcn" in channels:
        out.append(_ct(nml, "np_hcn_h_tau", "baseVoltageDepTime", exposure="t", dimension="time", consts=[MV, MS],
                       value="MS / (exp(-14.59 - 0.086 * v/MV) + exp(-1.87 + 0.0701 * v/MV))",
                       desc="Huguenard & McCormick 1992 I_h time constant"))
    if "kca" in channels:
        p = channels["kca"]
        out.append(_ct(nml, "np_kca_z_inf", "baseVoltageConcDepVariable", exposure="x", dimension="none",
                       consts=[("KD", "concentration", f"{p['kd_uM'] * 1e-3!r}mM")],
                       value=f"(caConc/KD)^{p['hill']!r} / ((caConc/KD)^{p['hill']!r} + 1)",
                       desc="SK channel Hill activation by intracellular calcium (Hirschberg et al. 1998)"))
    return out


def gates(nml, ch: str, p: Mapping[str, float]) -> dict:
    """``ionChannelHH`` gate keyword arguments of library channel ``ch`` (cal, ka, kca, hcn)."""
    var = lambda t, **kw: nml.HHVariable(type=t, **kw)  # noqa: E731
    tim = lambda t, **kw: nml.HHTime(type=t, **kw)  # noqa: E731
    if ch == "cal":  # m_inf = 1/(1 + exp(-(v - vhalf)/k)): HHSigmoidVariable exactly
        g = [nml.GateHHTauInf(id="m", instances=2, steady_state=var("HHSigmoidVariable", rate=1.0, midpoint=f"{p['vhalf_mV']!r}mV",
                                                                        scale=f"{p['k_mV']!r}mV"),
                              time_course=tim("fixedTimeCourse", tau=f"{p['tau_ms']!r}ms"))]
    elif ch == "ka":
        g = [nml.GateHHTauInf(id="a", instances=3, steady_state=var("np_ka_a_inf"), time_course=tim("np_ka_a_tau")),
             nml.GateHHTauInf(id="b", instances=1, steady_state=var("np_ka_b_inf"), time_course=tim("np_ka_b_tau"))]
    elif ch == "hcn":  # h_inf = 1/(1 + exp((v + 75)/5.5)): HHSigmoidVariable with a negative scale
        g = [nml.GateHHTauInf(id="h", instances=1, steady_state=var("HHSigmoidVariable", rate=1.0, midpoint="-75mV", scale="-5.5mV"),
                              time_course=tim("np_hcn_h_tau"))]
    elif ch == "kca":
        g = [nml.GateHHTauInf(id="z", instances=1, steady_state=var("np_kca_z_inf"), time_course=tim("fixedTimeCourse", tau=f"{p['tau_ms']!r}ms"))]
    else:
        raise KeyError(ch)
    return {"gate_hh_tau_infs": g}


def _param(nml, name, dim):
    return nml.Parameter(name=name, dimension=dim)


def synapse_and_input_types(nml) -> list:
    """``npKineticSynapse``, ``npConductancePulse`` and ``npDecayingConductance`` (module docstring)."""
    block = "1 / (1 + (mg / MGSCALE) * exp(-0.062 * v/MV))"
    kinetic = nml.ComponentType(
        name="npKineticSynapse", extends="baseGradedSynapse",
        description="Destexhe et al. 1994 kinetic synapse: dr/dt = alpha T (1 - r) - r/tauDecay, T = 1/(1 + exp(-(vpeer - vhalf)/slope)) mM; "
                    "conductance weight * gbase * r * block(v), block = 1/(1 + mg/3.57mM exp(-0.062 v/mV)) (mg = 0: none)",
        Property=[nml.LEMS_Property(name="weight", dimension="none", default_value=1.0)],
        Parameter=[_param(nml, "gbase", "conductance"), _param(nml, "erev", "voltage"), _param(nml, "alpha", "per_time"),
                   _param(nml, "tauDecay", "time"), _param(nml, "vhalf", "voltage"), _param(nml, "slope", "voltage"),
                   _param(nml, "mg", "concentration")],
        Constant=[nml.Constant(name="MV", dimension="voltage", value="1mV"), nml.Constant(name="MGSCALE", dimension="concentration", value="3.57mM")],
        Exposure=[nml.Exposure(name="i", dimension="current"), nml.Exposure(name="g", dimension="conductance"),
                  nml.Exposure(name="r", dimension="none")],
        Requirement=[nml.Requirement(name="v", dimension="voltage")],
        InstanceRequirement=[nml.InstanceRequirement(name="peer", type="baseGradedSynapse")],
        Dynamics=[nml.Dynamics(
            StateVariable=[nml.StateVariable(name="r", dimension="none", exposure="r")],
            DerivedVariable=[
                nml.DerivedVariable(name="vpeer", dimension="voltage", select="peer/v"),
                nml.DerivedVariable(name="T", dimension="none", value="1 / (1 + exp(0 - (vpeer - vhalf)/slope))"),
                nml.DerivedVariable(name="g", dimension="conductance", exposure="g", value=f"weight * gbase * r * {block}"),
                nml.DerivedVariable(name="i", dimension="current", exposure="i", value="g * (erev - v)"),
            ],
            TimeDerivative=[nml.TimeDerivative(variable="r", value="alpha * T * (1 - r) - r / tauDecay")],
            OnStart=nml.OnStart(StateAssignment=[nml.StateAssignment(
                variable="r", value="alpha * tauDecay / (1 + exp(0 - (vpeer - vhalf)/slope)) / (alpha * tauDecay / (1 + exp(0 - (vpeer - vhalf)/slope)) + 1)")]),
        )],
    )
    pulse = nml.ComponentType(
        name="npConductancePulse", extends="baseVoltageDepSynapse",
        description="Conductance weight * gbase over [delay, delay + duration): i = g (erev - v)",
        Property=[nml.LEMS_Property(name="weight", dimension="none", default_value=1.0)],
        Parameter=[_param(nml, "gbase", "conductance"), _param(nml, "erev", "voltage"), _param(nml, "delay", "time"),
                   _param(nml, "duration", "time")],
        Dynamics=[nml.Dynamics(
            StateVariable=[nml.StateVariable(name="g", dimension="conductance")],
            DerivedVariable=[nml.DerivedVariable(name="i", dimension="current", exposure="i", value="g * (erev - v)")],
            OnStart=nml.OnStart(StateAssignment=[nml.StateAssignment(variable="g", value="0 * gbase")]),
            OnCondition=[nml.OnCondition(test="t .lt. delay", StateAssignment=[nml.StateAssignment(variable="g", value="0 * gbase")]),
                         nml.OnCondition(test="t .geq. delay .and. t .lt. duration + delay",
                                         StateAssignment=[nml.StateAssignment(variable="g", value="weight * gbase")]),
                         nml.OnCondition(test="t .geq. duration + delay", StateAssignment=[nml.StateAssignment(variable="g", value="0 * gbase")])],
        )],
    )
    decay = nml.ComponentType(
        name="npDecayingConductance", extends="baseVoltageDepSynapse",
        description="Initial synaptic conductance weight * gbase * exp(-t/tauDecay) (an event conductance present at t = 0), "
                    "with the magnesium block of npKineticSynapse (mg = 0: none)",
        Property=[nml.LEMS_Property(name="weight", dimension="none", default_value=1.0)],
        Parameter=[_param(nml, "gbase", "conductance"), _param(nml, "erev", "voltage"), _param(nml, "tauDecay", "time"),
                   _param(nml, "mg", "concentration")],
        Constant=[nml.Constant(name="MV", dimension="voltage", value="1mV"), nml.Constant(name="MGSCALE", dimension="concentration", value="3.57mM")],
        Dynamics=[nml.Dynamics(
            StateVariable=[nml.StateVariable(name="g0", dimension="conductance")],
            DerivedVariable=[nml.DerivedVariable(name="i", dimension="current", exposure="i", value=f"g0 * {block} * (erev - v)")],
            TimeDerivative=[nml.TimeDerivative(variable="g0", value="-g0 / tauDecay")],
            OnStart=nml.OnStart(StateAssignment=[nml.StateAssignment(variable="g0", value="weight * gbase")]),
        )],
    )
    return [kinetic, pulse, decay]
