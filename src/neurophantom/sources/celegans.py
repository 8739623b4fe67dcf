"""The C. elegans ground truth: a real connectome from ``cect`` as a graded-neuron Circuit.

:func:`build` reads a dataset that cect ships (Cook et al. 2019 hermaphrodite by default;
any other by name, e.g. ``"Witvliet8"`` for a Witvliet et al. 2021 adult or
``"Varshney"``), offline, and turns it into a Circuit:

- **cells**: every neuron of the dataset (``include_muscles`` adds its muscles), with
  ``cell_type`` the sensory/interneuron/motor class of Cook et al. 2019 (cect's
  ``get_SIM_class``), a schematic soma position (:mod:`.celegans_layout`) and a graded
  membrane (``release="graded"``; leak, delayed-rectifier K, L-type Ca and Ca-activated K
  channels, no Na: C. elegans has no voltage-gated Na channels);
- **chemical synapses**: one single-partner release site per (pre, post) connection.
  Its ``contact_area_um2`` is ``count x contact_area_per_count_um2``, where ``count`` is
  cect's connection weight (EM sections in Cook 2019, synapse counts in most others), so
  the count is recovered exactly as ``contact_area_um2 / contact_area_per_count_um2``.
  Receptors follow the presynaptic neuron's transmitters (Wang et al. 2024 atlas, or the
  transmitter class of the connection when the dataset gives one): acetylcholine ->
  ``nach``, GABA -> ``gaba_a``, glutamate -> ``ampa`` or ``glucl`` (a seeded draw per
  connection, ``glucl_fraction`` of them inhibitory), betaine -> ``nach``, anything else
  (monoamine-only, orphan, unlisted) -> ``unknown_transmitter_receptor``. Each receptor's
  density is ``synapse_nS_per_count / (contact_area_per_count_um2 x g_unit)``, so a
  connection's peak conductance is ``count x synapse_nS_per_count``; a co-transmitting
  neuron's density is split equally between its fast transmitters;
- **gap junctions**: one row per connected pair, ``connexin_count = count x
  gap_nS_per_count / gap_unit`` (100 pS innexin channels); a neuron's gap junctions with
  itself are dropped (no current in a point neuron) and listed in the header.

Connections of other kinds (extrasynaptic monoamine or peptide, contactome, functional)
are not synapses and are left out; the header counts them. Every modelling number is an
:class:`~.celegans_params.Assumption` (value, unit, source, certainty), written to the
header under ``assumptions``; the header's ``biophysics`` names the ``celegans`` preset.

References
----------
Cook SJ et al. (2019) Nature 571:63-71. Witvliet D et al. (2021) Nature 596:257-261.
Varshney LR et al. (2011) PLoS Comput Biol 7:e1001066. Wang C et al. (2024) eLife
13:RP95402. Gleeson P et al. (2018) Phil Trans R Soc B 373:20170379 (c302).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from cect.Cells import PHARYNGEAL_NEURONS, get_SIM_class, is_any_neuron, is_known_muscle
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import NeurophantomError
from ..biophysics.library import preset
from ..types import Circuit, Provenance
from ._tables import make_circuit
from .celegans_data import connections, load_dataset, reader_module, transmitters
from .celegans_layout import soma_positions
from .celegans_params import CHANNEL_TYPES, FAST_TRANSMITTERS, RECEPTOR_TYPES, assumptions

_CHEMICAL, _ELECTRICAL = "Chemical", "GapJunction"


class Config(BaseModel):
    """Options of the C. elegans source (every number is in the ``assumptions`` table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0, description="seed of the glutamate receptor draw and the layout jitter")
    dataset: str = Field("Cook2019Herm", description="cect dataset name (e.g. Cook2019Herm, Witvliet8, Varshney)")
    include_muscles: bool = Field(False, description="add the dataset's muscles as graded cells (default: neurons only)")
    glucl_fraction: float = Field(0.5, ge=0.0, le=1.0, description="fraction of glutamatergic connections that are GluCl (inhibitory)")
    unknown_transmitter_receptor: Literal["nach", "gaba_a", "ampa", "glucl"] = Field(
        "nach", description="receptor for presynaptic neurons without a known fast transmitter")
    membrane_area_um2: float = Field(100.0, gt=0)
    leak_pS_per_um2: float = Field(2.0, gt=0, description="leak conductance density (1 pS channels)")
    kdr_per_um2: float = Field(1.0, ge=0, description="delayed-rectifier K channels (10 pS)")
    cal_per_um2: float = Field(0.1, ge=0, description="L-type Ca channels (10 pS)")
    kca_per_um2: float = Field(0.1, ge=0, description="Ca-activated K channels (10 pS)")
    contact_area_per_count_um2: float = Field(0.05, gt=0)
    synapse_nS_per_count: float = Field(0.005, gt=0, description="peak synaptic conductance per unit of connection weight")
    gap_nS_per_count: float = Field(0.0125, gt=0, description="gap-junction conductance per unit of weight")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        reader_module(name)
        return name


def _cell_type(name: str, is_muscle: bool) -> str:
    if is_muscle:
        return "muscle"
    return {"Sensory": "sensory", "Interneuron": "interneuron", "Motorneuron": "motor"}.get(get_SIM_class(name), "other")


def _cells(dataset, include_muscles: bool) -> tuple[list[str], np.ndarray]:
    names, muscle = [], []
    for n in dataset.nodes:
        if is_any_neuron(n) or (include_muscles and is_known_muscle(n)):
            names.append(n)
            muscle.append(not is_any_neuron(n))
    if not names:
        raise NeurophantomError("C. elegans dataset has no neurons")
    return names, np.asarray(muscle, bool)


def _neurons(cfg: Config, names: list[str], muscle: np.ndarray, pos: np.ndarray) -> dict:
    n = len(names)
    return {
        "id": np.arange(n, dtype=np.int64),
        "name": list(names),
        "cell_type": [_cell_type(c, m) for c, m in zip(names, muscle)],
        "x_um": pos[:, 0], "y_um": pos[:, 1], "z_um": pos[:, 2],
        "area_um2": np.full(n, cfg.membrane_area_um2),
        "release": ["graded"] * n,
        "leak": np.full(n, cfg.leak_pS_per_um2),
        "kdr": np.full(n, cfg.kdr_per_um2),
        "cal": np.full(n, cfg.cal_per_um2),
        "kca": np.full(n, cfg.kca_per_um2),
    }


def _receptor_choices(classes: set[str], pre_name: str, cfg: Config) -> list[str]:
    """Receptor keys (``glutamate`` = the AMPA/GluCl draw) for one connection's classes."""
    fast = [c for c in classes if c in FAST_TRANSMITTERS]
    if not fast and classes & {"Generic_CS"}:
        atlas = transmitters(male="male" in cfg.dataset.lower())
        fast = [t for t in atlas.get(pre_name, ()) if t in FAST_TRANSMITTERS]
    keys = list(dict.fromkeys(FAST_TRANSMITTERS[t] for t in fast))
    return keys or [cfg.unknown_transmitter_receptor]


def _synapses(cfg: Config, conns, pos: np.ndarray, rng: np.random.Generator) -> dict:
    """One release site per (pre, post) chemical connection (see module docstring)."""
    chem = conns.syntype == _CHEMICAL
    groups: dict[tuple[int, int], tuple[float, set[str]]] = {}
    for a, b, w, c in zip(conns.pre[chem], conns.post[chem], conns.number[chem], conns.synclass[chem]):
        count, classes = groups.get((int(a), int(b)), (0.0, set()))
        # Transmitter classes label one anatomical contact (Wang 2024-based readers): max, not sum.
        groups[(int(a), int(b))] = (max(count, float(w)), classes | {c})
    pairs = sorted(groups)
    m = len(pairs)
    bio = preset("celegans")
    out = {"synapse_id": np.arange(m, dtype=np.int64), "pre": np.zeros(m, np.int64), "post": np.zeros(m, np.int64)}
    out.update({r: np.zeros(m) for r in RECEPTOR_TYPES})
    area = np.zeros(m)
    glu_is_inhibitory = rng.random(m) < cfg.glucl_fraction
    for k, (a, b) in enumerate(pairs):
        count, classes = groups[(a, b)]
        out["pre"][k], out["post"][k] = a, b
        area[k] = count * cfg.contact_area_per_count_um2
        keys = _receptor_choices(classes, conns.cells[a], cfg)
        for key in keys:
            rec = ("glucl" if glu_is_inhibitory[k] else "ampa") if key == "glutamate" else key
            g_unit = bio.receptor(rec).g_unit_pS * 1e-3
            out[rec][k] += cfg.synapse_nS_per_count / (cfg.contact_area_per_count_um2 * g_unit) / len(keys)
    mid = 0.5 * (pos[out["pre"]] + pos[out["post"]])
    out.update({"x_um": mid[:, 0], "y_um": mid[:, 1], "z_um": mid[:, 2], "contact_area_um2": area})
    return out


def _gap_junctions(cfg: Config, conns, pos: np.ndarray) -> tuple[dict, list[str]]:
    """One row per connected pair (a < b); self-contacts are returned separately."""
    elec = conns.syntype == _ELECTRICAL
    pairs: dict[tuple[int, int], float] = {}
    selfs = set()
    for a, b, w in zip(conns.pre[elec], conns.post[elec], conns.number[elec]):
        a, b = int(a), int(b)
        if a == b:
            selfs.add(conns.cells[a])
            continue
        key = (min(a, b), max(a, b))
        pairs[key] = max(pairs.get(key, 0.0), float(w))  # listed once per direction
    keys = sorted(pairs)
    a = np.array([k[0] for k in keys], dtype=np.int64)
    b = np.array([k[1] for k in keys], dtype=np.int64)
    count = np.array([pairs[k] for k in keys], dtype=np.float64)
    mid = 0.5 * (pos[a] + pos[b]) if len(keys) else np.zeros((0, 3))
    g_unit_nS = preset("celegans").gap_unit_pS * 1e-3
    gj = {"a": a, "b": b, "connexin_count": count * cfg.gap_nS_per_count / g_unit_nS,
          "x_um": mid[:, 0], "y_um": mid[:, 1], "z_um": mid[:, 2]}
    return gj, sorted(selfs)


def build(config: Config) -> Circuit:
    """Build the C. elegans Circuit for ``config`` (see module docstring)."""
    dataset = load_dataset(config.dataset)
    names, muscle = _cells(dataset, config.include_muscles)
    conns = connections(dataset, names)
    kinds = set(conns.syntype)
    if not kinds & {_CHEMICAL, _ELECTRICAL}:
        raise NeurophantomError(f"C. elegans dataset {config.dataset!r} has no chemical or electrical synapses (has: {sorted(kinds)})")
    seq = np.random.SeedSequence(config.seed)
    rng_layout, rng_glu = (np.random.default_rng(s) for s in seq.spawn(2))
    pos = soma_positions(names, set(PHARYNGEAL_NEURONS), rng_layout)
    gj, self_gaps = _gap_junctions(config, conns, pos)
    other = ~np.isin(conns.syntype, [_CHEMICAL, _ELECTRICAL])
    meta = {
        "biophysics": preset("celegans").to_dict(),
        "assumptions": [a.to_dict() for a in assumptions(config)],
        "dropped_self_gap_junctions": self_gaps,
        "ignored_connections": {str(k): int(v) for k, v in zip(*np.unique(conns.synclass[other].astype(str), return_counts=True))},
        "count_units": {"contact_area_per_count_um2": config.contact_area_per_count_um2,
                        "gap_nS_per_count": config.gap_nS_per_count},
    }
    return make_circuit(
        neurons=_neurons(config, names, muscle, pos),
        synapses=_synapses(config, conns, pos, rng_glu),
        gap_junctions=gj,
        channel_types=CHANNEL_TYPES,
        receptor_types=RECEPTOR_TYPES,
        provenance=Provenance(source="celegans", dataset=config.dataset, seed=config.seed,
                              config=config.model_dump(), metadata=meta),
    )
