"""Every assumption of the C. elegans source, as c302 states its BioParameters.

Each :class:`Assumption` is a (value, unit, source, certainty) record; certainty is in
[0, 1] as in c302 (Gleeson et al. 2018), where 0.1 marks a blind guess. The table is
written into the Circuit header (key ``assumptions``) so that a downstream stage knows
which numbers are measurements and which are guesses. Values the user can change are
fields of :class:`~neurophantom.sources.celegans.Config`; the table records the values
actually used.

References
----------
Gleeson P et al. (2018) c302: a multiscale framework for modelling the nervous system of
Caenorhabditis elegans. Phil Trans R Soc B 373:20170379.
Goodman MB, Hall DH, Avery L, Lockery SR (1998) Active currents regulate sensitivity and
dynamic range in C. elegans neurons. Neuron 20:763-772.
Lockery SR, Goodman MB (2009) The quest for action potentials in C. elegans neurons hits
a plateau. Nat Neurosci 12:377-378.
Bargmann CI (1998) Neurobiology of the Caenorhabditis elegans genome. Science
282:2028-2033 (no voltage-gated sodium channel genes).
Wang C et al. (2024) A neurotransmitter atlas of C. elegans males and hermaphrodites.
eLife 13:RP95402.
Fenyves BG, Szilagyi GS, Vassy Z, Soti C, Csermely P (2020) Synaptic polarity and
sign-balance prediction using gene expression data in the Caenorhabditis elegans chemical
synapse neuronal connectome network. PLoS Comput Biol 16:e1007974.
Peden AS et al. (2013) Betaine acts on a ligand-gated ion channel in the nervous system
of the nematode C. elegans. Nat Neurosci 16:1794-1801.
Bentley B et al. (2016) The multilayer connectome of Caenorhabditis elegans. PLoS Comput
Biol 12:e1005283.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .celegans_receptors import BY_SIGN, NO_DATA

@dataclasses.dataclass(frozen=True, kw_only=True)
class Assumption:
    """One modelling assumption: its value, unit, where it comes from, how sure we are."""

    name: str
    value: Any
    unit: str
    source: str
    certainty: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.certainty <= 1.0):
            raise ValueError(f"assumption {self.name}: certainty must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _receptor_rule(cfg) -> tuple[Assumption, ...]:
    if cfg.signs == "expression":
        return (Assumption(
            name="transmitter_to_receptor",
            value={"by_expression": {k: list(v) for k, v in BY_SIGN.items()}, "no_expression_call": {k: list(v) for k, v in NO_DATA.items()},
                   "modulator_only": ["gpcr_exc", "gpcr_inh"], "unknown": cfg.unknown_transmitter_receptor},
            unit="", source="postsynaptic CeNGEN expression (Taylor et al. 2021) of the Fenyves et al. 2020 excitatory/inhibitory receptor genes, via wormneuroatlas; no random draw",
            certainty=0.6),)
    return (
        Assumption(name="transmitter_to_receptor", value={"ACh": "nach", "GABA": "gaba_a", "Glu": "ampa or glucl", "unknown": cfg.unknown_transmitter_receptor},
                   unit="", source="c302-style guess (signs='guess')", certainty=0.3),
        Assumption(name="glucl_fraction_of_glutamate", value=cfg.glucl_fraction, unit="fraction of glutamatergic connections",
                   source="signs='guess': drawn per connection with the seed", certainty=0.2),
    )


def assumptions(cfg) -> tuple[Assumption, ...]:
    """The full table for a Config ``cfg`` (values the config sets are read from it)."""
    A = Assumption
    return (
        A(name="cells", value="neurons and muscles" if cfg.include_muscles else "neurons", unit="",
          source="every neuron of the dataset (cect is_any_neuron); muscles only on request: their excitable membrane is not modelled separately",
          certainty=1.0),
        A(name="cell_type", value="sensory / interneuron / motor / other (muscle)", unit="",
          source="Cook et al. 2019 classes via cect get_SIM_class", certainty=0.9),
        A(name="membrane_area", value=cfg.membrane_area_um2, unit="um^2",
          source="single-compartment neuron of ~1 pF at 1 uF/cm^2; whole-cell C of order 1 pF (Goodman et al. 1998)",
          certainty=0.3),
        A(name="specific_capacitance", value=1.0, unit="uF/cm^2", source="standard biological membrane value", certainty=0.7),
        A(name="leak_density", value=cfg.leak_pS_per_um2, unit="pS/um^2",
          source="input resistance of a few GOhm (Goodman et al. 1998): 1/(area x density)", certainty=0.3),
        A(name="leak_reversal", value=-50.0, unit="mV", source="celegans Biophysics preset; c302 initial_memb_pot -50 mV", certainty=0.3),
        A(name="kdr_density", value=cfg.kdr_per_um2, unit="channels/um^2 (10 pS each)",
          source="outward-rectifying K current dominates, no Na spikes (Goodman et al. 1998; Bargmann 1998); tuned so an isolated cell rests at -50 mV and +2/10/40 pA give about +6/+16/+34 mV (graded, rectifying)",
          certainty=0.1),
        A(name="cal_density", value=cfg.cal_per_um2, unit="channels/um^2 (10 pS each)",
          source="EGL-19 L-type Ca current; kept below the regenerative (plateau) range (Lockery & Goodman 2009)", certainty=0.1),
        A(name="kca_density", value=cfg.kca_per_um2, unit="channels/um^2 (10 pS each)",
          source="Ca-activated K (SLO-1/2) repolarisation; blind guess", certainty=0.1),
        A(name="release", value="graded", unit="", source="most C. elegans neurons signal with graded potentials (Goodman et al. 1998)", certainty=0.7),
        A(name="graded_release_sigmoid", value={"vhalf_mV": -35.0, "slope_mV": 5.0}, unit="mV",
          source="celegans preset; Wicks et al. 1996 graded synapse", certainty=0.2),
        A(name="transmitter_identity", value="Wang et al. 2024 atlas (cect Wang2024Reader; male table for male datasets), or the connection's own transmitter class", unit="",
          source="Wang et al. 2024", certainty=0.8),
        *_receptor_rule(cfg),
        A(name="co_transmission", value="receptor density split equally between a neuron's fast transmitters (and, within one, between its excitatory and inhibitory receptors when the postsynaptic neuron expresses both)", unit="",
          source="no data on per-synapse co-release ratios", certainty=0.1),
        A(name="membrane_classes", value="per-class channel sets" if cfg.neuron_classes else "one graded set", unit="",
          source="AWA calcium spikes (Liu et al. 2018), RMD plateaus (Mellem et al. 2008); other classes share the graded guesses below (sources.celegans_cells)",
          certainty=0.3),
        A(name="extrasynaptic", value={"on": cfg.extrasynaptic, "nS_per_edge_per_receptor": cfg.extrasynaptic_nS}, unit="nS",
          source="Bentley et al. 2016 monoamine and neuropeptide edges (wormneuroatlas); slow gpcr_exc/gpcr_inh pair; conductance a guess",
          certainty=0.1),
        A(name="parameters", value=cfg.parameters, unit="",
          source="fitted: scales and time constants fitted to the Randi et al. 2023 atlas (header 'fitted'); guessed: the values in this table",
          certainty=0.5 if cfg.parameters == "fitted" else 0.1),
        A(name="synapse_per_connection", value="one single-partner release site (synapse_id) per (pre, post) connection", unit="",
          source="cect adjacency matrices do not keep the polyadic partner sets of the EM data", certainty=0.5),
        A(name="contact_area_per_count", value=cfg.contact_area_per_count_um2, unit="um^2 per unit of connection weight",
          source="weight = EM sections (Cook 2019) or synapse count (others); ~0.05 um^2 per unit; blind guess", certainty=0.1),
        A(name="synaptic_conductance_per_count", value=cfg.synapse_nS_per_count, unit="nS (all receptors open) per unit of weight",
          source="blind guess, chosen so that the Cook 2019 network rests at -54..-30 mV (mean ~ -42 mV) instead of saturating, and a 20 pA step into ASH moves its partners by up to ~1.4 mV",
          certainty=0.1),
        A(name="receptor_density", value="synapse_nS_per_count / (contact_area_per_count x g_unit)", unit="receptors/um^2",
          source="derived: density x contact area x unitary conductance = conductance", certainty=0.1),
        A(name="gap_conductance_per_count", value=cfg.gap_nS_per_count, unit="nS per unit of gap-junction weight",
          source="c302 neuron_to_neuron_elec_syn_gbase = 0.0125 nS per connection number (a BlindGuess of c302)", certainty=0.1),
        A(name="connexin_count", value="weight x gap_nS_per_count / gap_unit (100 pS, innexin channel)", unit="effective open channels (fractional)",
          source="derived", certainty=0.1),
        A(name="self_gap_junctions", value="dropped", unit="",
          source="a gap junction of a neuron with itself joins two of its own processes: no current in a point neuron", certainty=1.0),
        A(name="soma_positions", value="schematic layout (sources.celegans_layout)", unit="um",
          source="cect ships no soma positions; stations after the WormAtlas body plan", certainty=0.2),
        A(name="synapse_positions", value="midpoint of the pre- and postsynaptic somata", unit="um", source="schematic", certainty=0.1),
    )
