"""A synthetic cortex-like organoid with a stored memory hidden in receptor densities.

:func:`build` makes ``n_neurons`` spiking neurons (``release="spike"``) of three types
(:mod:`.organoid_cells`: pyramidal, PV-like fast-spiking, SST-like adapting), with soma
positions uniform in a slab, per-neuron variability of area and channel densities,
distance- and type-dependent wiring with dyadic release sites and log-normal contact
sizes (:mod:`.organoid_wiring`), and receptor densities from cell-type and size rules,
scrambled by ``receptor_predictability`` and imprinted with ``n_patterns`` memories of
strength ``memory_strength`` (:mod:`.organoid_receptors`).

The header metadata holds what later stages need and must not see during reconstruction:
``memory_patterns`` (lists of neuron ids), ``biophysics`` (the ``default`` preset),
``background_drive`` (the noisy current drive under which the organoid is meant to be
simulated; :func:`background_stimulus` builds it) and the rule tables.

Every random choice comes from ``SeedSequence(seed)`` spawned into one stream per step,
so the same config gives bit-identical tables.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._errors import NeurophantomError
from ..biophysics.library import preset
from ..types import Circuit, Provenance
from ..types.stimulus import Noise, Step, Stimulus
from ._tables import make_circuit
from .organoid_cells import CHANNEL_TYPES, MEMBRANES, TYPES, WORLD_BIOPHYSICS, neuron_table, type_counts
from .organoid_receptors import (BETA, DENSITY, RECEPTOR_TYPES, assembly_wiring, choose_patterns, imprint, pattern_mask,
                                 rule_densities, scramble, structural_imprint)
from .organoid_wiring import P_CONNECT, connection_probability, contact_sizes, draw_contacts, release_sites, site_positions

#: Background drive (per um^2 of membrane, so every type gets the same current density).
BACKGROUND = {"mean_pA_per_um2": 0.003, "sigma_pA_per_um2": 0.01, "tau_ms": 5.0}


class Config(BaseModel):
    """Options of the organoid source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0)
    n_neurons: int = Field(200, ge=10, le=20000)
    pyramidal_fraction: float = Field(0.8, ge=0.0, le=1.0)
    pv_fraction: float = Field(0.1, ge=0.0, le=1.0)
    sst_fraction: float = Field(0.1, ge=0.0, le=1.0)
    slab_um: tuple[float, float, float] = Field((200.0, 200.0, 50.0), description="slab extent (x, y, z) in um")
    connection_length_um: float = Field(100.0, gt=0, description="length constant of exp(-d/length) wiring")
    dyad_probability: float = Field(0.2, ge=0.0, le=1.0, description="chance a release site has two partners")
    contact_median_um2: float = Field(0.1, gt=0)
    contact_sigma_log: float = Field(0.6, ge=0)
    cell_variability: float = Field(0.1, ge=0, le=1.0, description="log-normal sd of per-neuron area and densities")
    receptor_predictability: float = Field(1.0, ge=0.0, le=1.0)
    memory_strength: float = Field(4.0, ge=0.0, description="pattern AMPA/NMDA densities are x (1 + strength)")
    n_patterns: int = Field(3, ge=0)
    pattern_size: int = Field(20, ge=2)
    assembly_connection_probability: float = Field(
        0.0, ge=0.0, le=1.0,
        description="connection probability between members of one pattern, at least (a memory adds synapses as well as receptors)")

    @model_validator(mode="after")
    def _check(self) -> "Config":
        total = self.pyramidal_fraction + self.pv_fraction + self.sst_fraction
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"cell-type fractions must sum to 1, got {total}")
        if min(self.slab_um) <= 0:
            raise ValueError("slab_um extents must be > 0")
        return self


def _streams(seed: int) -> dict[str, np.random.Generator]:
    names = ("cells", "wiring", "sites", "positions", "sizes", "scramble", "patterns")
    return dict(zip(names, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(names)))))


def build(config: Config) -> Circuit:
    """Build the organoid Circuit for ``config`` (see module docstring)."""
    rng = _streams(config.seed)
    counts = type_counts(config.n_neurons, {"pyramidal": config.pyramidal_fraction, "pv": config.pv_fraction,
                                           "sst": config.sst_fraction})
    n_pyr = counts["pyramidal"]
    if config.n_patterns * config.pattern_size > n_pyr:
        raise NeurophantomError(f"{config.n_patterns} patterns of {config.pattern_size} cells need more than {n_pyr} pyramidal cells")
    nrn = neuron_table(counts, config.slab_um, config.cell_variability, rng["cells"])
    t = np.array([TYPES.index(x) for x in nrn["cell_type"]])
    pos = np.stack([nrn["x_um"], nrn["y_um"], nrn["z_um"]], axis=1)
    patterns = choose_patterns(np.arange(n_pyr), config.n_patterns, config.pattern_size, rng["patterns"]) if config.n_patterns else []
    p = assembly_wiring(connection_probability(t, pos, config.connection_length_um), patterns, config.assembly_connection_probability)
    pre, post = draw_contacts(p, rng["wiring"])
    site = release_sites(pre, post, config.dyad_probability, rng["sites"])
    where = site_positions(site, pre, post, pos, rng["positions"])
    size = contact_sizes(len(pre), config.contact_median_um2, config.contact_sigma_log, rng["sizes"])
    mask = pattern_mask(pre, post, patterns)
    # The memory shows in shape to the degree receptor densities follow shape at all.
    size, density_factor = structural_imprint(size, mask, config.memory_strength, config.receptor_predictability)
    dens = scramble(rule_densities(t[pre], t[post], size, config.contact_median_um2), config.receptor_predictability, rng["scramble"])
    dens = imprint(dens, mask, density_factor - 1.0)
    order = np.lexsort((post, site))  # rows grouped by release site
    synapses = {"synapse_id": site[order], "pre": pre[order], "post": post[order],
                "x_um": where[order, 0], "y_um": where[order, 1], "z_um": where[order, 2],
                "contact_area_um2": size[order], **{r: dens[r][order] for r in RECEPTOR_TYPES}}
    meta = {
        "biophysics": preset("default").override(WORLD_BIOPHYSICS).to_dict(),
        "memory_patterns": patterns,
        "background_drive": dict(BACKGROUND),
        "cell_type_counts": counts,
        "rules": {"membranes": MEMBRANES, "connection_probability": P_CONNECT,
                  "receptor_density_per_um2": {f"{a}->{b}": v for (a, b), v in DENSITY.items()},
                  "size_exponent": BETA},
    }
    return make_circuit(
        neurons=nrn, synapses=synapses, gap_junctions=None,
        channel_types=CHANNEL_TYPES, receptor_types=RECEPTOR_TYPES,
        provenance=Provenance(source="organoid", seed=config.seed, config=config.model_dump(mode="json"), metadata=meta),
    )


def background_stimulus(circuit: Circuit, duration_ms: float, *, scale: float = 1.0, extra: tuple = ()) -> Stimulus:
    """The organoid's background drive: a mean current plus OU noise on every neuron.

    Amplitudes are the header's ``background_drive`` densities times each neuron's area,
    applied per cell type at the type's mean area; ``scale`` multiplies both; ``extra``
    components (cues, probes) are appended.
    """
    bg = circuit.provenance.metadata.get("background_drive")
    if bg is None:
        raise NeurophantomError("circuit has no 'background_drive' in its header (not an organoid?)")
    comps = []
    nrn = circuit.neurons
    for ctype, grp in nrn.groupby("cell_type", sort=True):
        ids = tuple(int(i) for i in grp["id"])
        area = float(grp["area_um2"].mean())
        comps.append(Step(targets=ids, amplitude_pA=scale * bg["mean_pA_per_um2"] * area))
        comps.append(Noise(targets=ids, sigma_pA=scale * bg["sigma_pA_per_um2"] * area, tau_ms=bg["tau_ms"]))
    return Stimulus(duration_ms=duration_ms, components=tuple(comps) + tuple(extra))
