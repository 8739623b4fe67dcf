"""Receptor models: kinetics, reversal potentials and unitary conductances.

Values are the standard ones of the modelling literature; each carries its reference.
Unitary conductances are single-channel values, so ``density x contact area x g_unit``
gives the synapse's peak conductance.
"""

from ._receptor import ReceptorType as ReceptorType

AMPA = ReceptorType(
    name="ampa", transmitter="glutamate", E_mV=0.0, g_unit_pS=10.0,
    tau_rise_ms=0.2, tau_decay_ms=5.0, alpha_per_mM_ms=1.1,
    reference="Destexhe et al. 1994; Hestrin 1992 (decay ~5 ms); unitary ~10 pS (Smith & Howe 2000)",
)
NMDA = ReceptorType(
    name="nmda", transmitter="glutamate", E_mV=0.0, g_unit_pS=50.0,
    tau_rise_ms=2.0, tau_decay_ms=100.0, alpha_per_mM_ms=0.072, mg_block=True,
    reference="Destexhe et al. 1994; Mg block of Jahr & Stevens 1990; unitary ~50 pS",
)
GABA_A = ReceptorType(
    name="gaba_a", transmitter="gaba", E_mV=-80.0, g_unit_pS=20.0,
    tau_rise_ms=0.5, tau_decay_ms=10.0, alpha_per_mM_ms=5.0,
    reference="Destexhe et al. 1994; Brette et al. 2007 (tau 10 ms, E -80 mV); unitary ~20 pS",
)
GABA_B = ReceptorType(
    name="gaba_b", transmitter="gaba", E_mV=-95.0, g_unit_pS=5.0,
    tau_rise_ms=30.0, tau_decay_ms=200.0, alpha_per_mM_ms=0.09,
    reference="Destexhe & Sejnowski 1995 (slow K+ via GIRK, E_K), simplified to first order",
)
NACH = ReceptorType(
    name="nach", transmitter="acetylcholine", E_mV=0.0, g_unit_pS=40.0,
    tau_rise_ms=0.5, tau_decay_ms=10.0, alpha_per_mM_ms=1.0,
    reference="C. elegans levamisole/nicotinic AChR, excitatory cation channel (Richmond & Jorgensen 1999); c302 excitatory graded synapse E 0 mV",
)
GLUCL = ReceptorType(
    name="glucl", transmitter="glutamate", E_mV=-70.0, g_unit_pS=20.0,
    tau_rise_ms=0.5, tau_decay_ms=15.0, alpha_per_mM_ms=1.0,
    reference="C. elegans glutamate-gated chloride channels (Cully et al. 1994; Dent et al. 1997); E_Cl ~ -70 mV",
)

ACC = ReceptorType(
    name="acc", transmitter="acetylcholine", E_mV=-70.0, g_unit_pS=20.0,
    tau_rise_ms=0.5, tau_decay_ms=15.0, alpha_per_mM_ms=1.0,
    reference="C. elegans acetylcholine-gated chloride channels ACC-1..4, LGC-47..49 (Putrenko et al. 2005); inhibitory, E_Cl as GLUCL",
)
EXP1 = ReceptorType(
    name="exp1", transmitter="gaba", E_mV=0.0, g_unit_pS=20.0,
    tau_rise_ms=0.5, tau_decay_ms=10.0, alpha_per_mM_ms=5.0,
    reference="C. elegans excitatory GABA receptors EXP-1 (a GABA-gated cation channel; Beg & Jorgensen 2003) and LGC-35",
)
GPCR_EXC = ReceptorType(
    name="gpcr_exc", transmitter="modulator", E_mV=0.0, g_unit_pS=5.0,
    tau_rise_ms=0.0, tau_decay_ms=1000.0, alpha_per_mM_ms=0.005,
    reference="slow metabotropic (peptide or monoamine GPCR) drive of a cation conductance, effective first-order kinetics of about a second; certainty low",
)
GPCR_INH = ReceptorType(
    name="gpcr_inh", transmitter="modulator", E_mV=-80.0, g_unit_pS=5.0,
    tau_rise_ms=0.0, tau_decay_ms=1000.0, alpha_per_mM_ms=0.005,
    reference="slow metabotropic (peptide or monoamine GPCR) opening of a K+ conductance (GIRK-like, as GABA-B), about a second; certainty low",
)

#: Every receptor type of the default library, keyed by name.
RECEPTORS: dict[str, ReceptorType] = {r.name: r for r in (AMPA, NMDA, GABA_A, GABA_B, NACH, GLUCL)}
#: Receptor types only the ``celegans`` Biophysics preset carries (the C. elegans sign
#: data's inhibitory ACh and excitatory GABA channels, and the slow extrasynaptic pathway).
WORM_RECEPTORS: dict[str, ReceptorType] = {r.name: r for r in (ACC, EXP1, GPCR_EXC, GPCR_INH)}
