"""The C. elegans ground truth: a real connectome from ``cect`` as a graded-neuron Circuit.

:func:`build` reads a dataset that cect ships (Cook et al. 2019 hermaphrodite by default;
any other by name, e.g. ``"Witvliet8"`` for a Witvliet et al. 2021 adult or
``"Varshney"``), offline, and turns it into a Circuit:

- **cells**: every neuron of the dataset (``include_muscles`` adds its muscles), with
  ``cell_type`` the sensory/interneuron/motor class of Cook et al. 2019 (cect's
  ``get_SIM_class``), a schematic soma position (:mod:`.celegans_layout`) and a graded
  membrane (``release="graded"``; leak, delayed-rectifier K, L-type Ca and Ca-activated K
  channels, no Na: C. elegans has no voltage-gated Na channels); with ``neuron_classes``
  (default) each membrane class has its own channel set (:mod:`.celegans_cells`: AWA
  fires calcium spikes, RMD has plateaus);
- **chemical synapses**: one single-partner release site per (pre, post) connection.
  Its ``contact_area_um2`` is ``count x contact_area_per_count_um2``, where ``count`` is
  cect's connection weight (EM sections in Cook 2019, synapse counts in most others), so
  the count is recovered exactly as ``contact_area_um2 / contact_area_per_count_um2``.
  Receptors follow the presynaptic neuron's transmitters (Wang et al. 2024 atlas, or the
  transmitter class of the connection when the dataset gives one) and, with
  ``signs="expression"`` (default), the postsynaptic neuron's measured receptor genes
  (:mod:`.celegans_receptors`: no random draw); ``signs="guess"`` keeps the old rule with
  a seeded AMPA/GluCl draw. Each receptor's density is ``synapse_nS_per_count /
  (contact_area_per_count_um2 x g_unit)`` times its share, so a connection's peak
  conductance is ``count x synapse_nS_per_count``;
- **gap junctions**: one row per connected pair, ``connexin_count = count x
  gap_nS_per_count / gap_unit`` (100 pS innexin channels); a neuron's gap junctions with
  itself are dropped (no current in a point neuron) and listed in the header;
- **extrasynaptic pathway** (``extrasynaptic=True``): the monoaminergic and
  neuropeptidergic connectome of Bentley et al. (2016) as release sites carrying only the
  slow metabotropic receptors ``gpcr_exc`` and ``gpcr_inh``, ``extrasynaptic_nS`` each;
- **fitted parameters** (``parameters="fitted"``, default for Cook2019Herm): the
  per-receptor, per-class and per-neuron scales and time constants fitted to the
  signal-propagation atlas (:mod:`.celegans_fitted`; the header's ``fitted`` says on which
  data and split); ``parameters="guessed"`` keeps the c302-style guesses.

Connections of other kinds in the cect dataset (contactome, functional, its own
extrasynaptic lists) are not synapses and are left out; the header counts them. Every modelling number is an
:class:`~.celegans_params.Assumption` (value, unit, source, certainty), written to the
header under ``assumptions``; the header's ``biophysics`` names the ``celegans`` preset.

References
----------
Cook SJ et al. (2019) Nature 571:63-71. Witvliet D et al. (2021) Nature 596:257-261.
Varshney LR et al. (2011) PLoS Comput Biol 7:e1001066. Wang C et al. (2024) eLife
13:RP95402. Gleeson P et al. (2018) Phil Trans R Soc B 373:20170379 (c302).
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from cect.Cells import PHARYNGEAL_NEURONS, get_SIM_class, is_any_neuron, is_known_muscle
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import NeurophantomError
from ..biophysics.library import preset
from ..types import Circuit, Provenance
from . import celegans_fitted
from ._tables import make_circuit
from .celegans_cells import CHANNEL_TYPES, densities, membrane_class, pair_class
from .celegans_data import connections, load_dataset, reader_module, transmitters
from .celegans_layout import soma_positions
from .celegans_params import assumptions
from .celegans_receptors import MODULATORS, RECEPTOR_TYPES, SLOW, expression_receptors, fast_transmitters, guessed_receptors

_CHEMICAL, _ELECTRICAL = "Chemical", "GapJunction"


class Config(BaseModel):
    """Options of the C. elegans source (every number is in the ``assumptions`` table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0, description="seed of the layout jitter (and of the glutamate draw with signs='guess')")
    dataset: str = Field("Cook2019Herm", description="cect dataset name (e.g. Cook2019Herm, Witvliet8, Varshney)")
    include_muscles: bool = Field(False, description="add the dataset's muscles as graded cells (default: neurons only)")
    signs: Literal["expression", "guess"] = Field("expression", description="receptors from measured expression, or the seeded guess")
    glucl_fraction: float = Field(0.5, ge=0.0, le=1.0, description="signs='guess' only: fraction of glutamatergic connections that are GluCl")
    unknown_transmitter_receptor: Literal["nach", "gaba_a", "ampa", "glucl"] = Field(
        "nach", description="receptor for presynaptic neurons without any known transmitter")
    neuron_classes: bool = Field(True, description="per-class channel sets (AWA spikes, RMD plateaus); False: one graded set")
    extrasynaptic: bool = Field(False, description="add the slow monoamine/neuropeptide pathway (Bentley et al. 2016)")
    extrasynaptic_nS: float = Field(0.002, gt=0, description="peak conductance of one extrasynaptic edge (each slow receptor)")
    parameters: Literal["fitted", "guessed"] = Field("fitted", description="atlas-fitted parameters (shipped) or the c302-style guesses")
    fitted_file: Optional[str] = Field(None, description="a fitted-parameter JSON (default: the one shipped with neurophantom)")
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


def _neurons(cfg: Config, names: list[str], types: list[str], classes: list[str], pos: np.ndarray) -> dict:
    n = len(names)
    base = {"leak": cfg.leak_pS_per_um2, "kdr": cfg.kdr_per_um2, "cal": cfg.cal_per_um2, "kca": cfg.kca_per_um2}
    dens = [densities(c, base) for c in classes]
    out = {
        "id": np.arange(n, dtype=np.int64),
        "name": list(names),
        "cell_type": list(types),
        "x_um": pos[:, 0], "y_um": pos[:, 1], "z_um": pos[:, 2],
        "area_um2": np.full(n, cfg.membrane_area_um2),
        "release": ["graded"] * n,
    }
    out.update({ch: np.array([d[ch] for d in dens]) for ch in CHANNEL_TYPES})
    return out


def _connection_groups(conns) -> dict[tuple[int, int], tuple[float, set[str]]]:
    chem = conns.syntype == _CHEMICAL
    groups: dict[tuple[int, int], tuple[float, set[str]]] = {}
    for a, b, w, c in zip(conns.pre[chem], conns.post[chem], conns.number[chem], conns.synclass[chem]):
        count, classes = groups.get((int(a), int(b)), (0.0, set()))
        # Transmitter classes label one anatomical contact (Wang 2024-based readers): max, not sum.
        groups[(int(a), int(b))] = (max(count, float(w)), classes | {c})
    return groups


def _synapses(cfg: Config, conns, pos: np.ndarray, rng: np.random.Generator) -> dict:
    """One release site per (pre, post) chemical connection (see module docstring), then
    the extrasynaptic sites when asked for."""
    groups = _connection_groups(conns)
    pairs = sorted(groups)
    atlas = transmitters(male="male" in cfg.dataset.lower())
    expr = None
    if cfg.signs == "expression":
        from .celegans_atlas import receptor_expression

        expr = receptor_expression()
    bio = preset("celegans")
    unit = {r: cfg.synapse_nS_per_count / (cfg.contact_area_per_count_um2 * bio.receptor(r).g_unit_pS * 1e-3) for r in RECEPTOR_TYPES}
    glu_is_inhibitory = rng.random(len(pairs)) < cfg.glucl_fraction
    rows: list[tuple[int, int, float, dict[str, float]]] = []
    for k, (a, b) in enumerate(pairs):
        count, classes = groups[(a, b)]
        pre_name, post_name = conns.cells[a], conns.cells[b]
        entry = atlas.get(pre_name, ())
        fast = fast_transmitters(classes, entry)
        if expr is not None:
            shares = expression_receptors(fast, bool(set(entry) & MODULATORS), post_name, expr, cfg.unknown_transmitter_receptor)
        else:
            shares = guessed_receptors(fast, bool(glu_is_inhibitory[k]), cfg.unknown_transmitter_receptor)
        rows.append((a, b, count * cfg.contact_area_per_count_um2, {r: unit[r] * f for r, f in shares}))
    n_wired = len(rows)
    if cfg.extrasynaptic:
        rows += _extrasynaptic_rows(cfg, conns.cells, bio)
    m = len(rows)
    out = {"synapse_id": np.arange(m, dtype=np.int64), "pre": np.array([r[0] for r in rows], np.int64),
           "post": np.array([r[1] for r in rows], np.int64), "contact_area_um2": np.array([r[2] for r in rows])}
    out.update({r: np.array([row[3].get(r, 0.0) for row in rows]) for r in RECEPTOR_TYPES})
    mid = 0.5 * (pos[out["pre"]] + pos[out["post"]]) if m else np.zeros((0, 3))
    out.update({"x_um": mid[:, 0], "y_um": mid[:, 1], "z_um": mid[:, 2]})
    out["_n_wired"] = n_wired
    return out


def _extrasynaptic_rows(cfg: Config, cells, bio) -> list:
    from .celegans_atlas import extrasynaptic

    index = {c: k for k, c in enumerate(cells)}
    edges = sorted({(index[p], index[q]) for p, q, *_ in extrasynaptic() if p in index and q in index})
    area = cfg.contact_area_per_count_um2
    dens = {r: cfg.extrasynaptic_nS / (area * bio.receptor(r).g_unit_pS * 1e-3) for r in SLOW}
    return [(a, b, area, dict(dens)) for a, b in edges]


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
    types = [_cell_type(c, m) for c, m in zip(names, muscle)]
    classes = [membrane_class(c, t) if config.neuron_classes else (t if t != "muscle" else "other") for c, t in zip(names, types)]
    neurons = _neurons(config, names, types, classes, pos)
    synapses = _synapses(config, conns, pos, rng_glu)
    n_wired = synapses.pop("_n_wired")
    gj, self_gaps = _gap_junctions(config, conns, pos)
    gap_classes = [pair_class(types[a], types[b]) for a, b in zip(gj["a"], gj["b"])]
    bio = preset("celegans")
    fitted = None
    if config.parameters == "fitted":
        fitted = celegans_fitted.load(config.fitted_file)
        bio = celegans_fitted.apply(fitted, names, classes, neurons, synapses, gj, gap_classes, bio)
    other = ~np.isin(conns.syntype, [_CHEMICAL, _ELECTRICAL])
    meta = {
        "biophysics": bio.to_dict(),
        "assumptions": [a.to_dict() for a in assumptions(config)],
        "membrane_classes": dict(zip(names, classes)),
        "gap_pair_classes": sorted(set(gap_classes)),
        "extrasynaptic_sites": int(len(synapses["pre"]) - n_wired),
        "fitted": None if fitted is None else fitted["header"],
        "dropped_self_gap_junctions": self_gaps,
        "ignored_connections": {str(k): int(v) for k, v in zip(*np.unique(conns.synclass[other].astype(str), return_counts=True))},
        "count_units": {"contact_area_per_count_um2": config.contact_area_per_count_um2,
                        "gap_nS_per_count": config.gap_nS_per_count},
    }
    return make_circuit(
        neurons=neurons,
        synapses=synapses,
        gap_junctions=gj,
        channel_types=CHANNEL_TYPES,
        receptor_types=RECEPTOR_TYPES,
        provenance=Provenance(source="celegans", dataset=config.dataset, seed=config.seed,
                              config=config.model_dump(), metadata=meta),
    )
