"""grow_tissue: fold a Circuit into a Phantom (the stage's one entry point)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import NeurophantomError
from ..types import Circuit
from ..types.phantom import Phantom
from .config import TissueConfig
from .geometry import Geometry, choose_geometry
from .layout import SiteMap, soma_sites
from .routing import RoutingFailed, RoutingLattice
from .wiring import Group, Placed, check_partners, place_group

RETRIES = 4


@dataclasses.dataclass(frozen=True)
class Grown:
    """The routed lattice and where every contact went."""

    lat: RoutingLattice
    geom: Geometry
    block_origin: np.ndarray  # (N, 3) lattice cell of each soma block's low corner
    placed: list[Placed]
    gap_cells: int
    border_cells: int


def _positions(df, cols=("z_um", "y_um", "x_um")) -> np.ndarray:
    return df[list(cols)].to_numpy(dtype=float)


def _groups(circuit: Circuit, site_map: SiteMap, to_cell, rng: np.random.Generator) -> tuple[list[Group], list[int]]:
    """Contact groups with targets (lattice coordinates), and dropped autapse rows."""
    syn = circuit.synapses
    index = {int(i): k for k, i in enumerate(circuit.neuron_ids)}
    soma_cell = to_cell(site_map.sites.astype(float))
    pos = _positions(syn)
    pre_idx = np.asarray([index[int(p)] for p in syn["pre"]], dtype=np.int64)
    post_idx = np.asarray([index[int(p)] for p in syn["post"]], dtype=np.int64)
    informative = False
    if len(syn) and site_map.sites_per_um > 0:
        soma_pos = _positions(circuit.neurons)
        at_soma = np.all(pos == soma_pos[pre_idx], axis=1).mean()
        informative = bool(np.ptp(pos, axis=0).max() > 0 and at_soma < 0.5)
    groups: list[Group] = []
    dropped = [int(r) for r in np.flatnonzero(post_idx == pre_idx)]
    for sid, rows in syn.groupby("synapse_id", sort=True).indices.items():
        rows = [int(r) for r in rows if post_idx[r] != pre_idx[r]]
        if not rows:
            continue
        pre = int(pre_idx[rows[0]])
        posts = tuple(int(post_idx[r]) for r in rows)
        groups.append(Group("synapse", int(sid), pre, posts, tuple(rows), _target(
            informative, to_cell(site_map.to_site(pos[rows[0]][None]))[0], soma_cell[pre], soma_cell[list(posts)].mean(0), rng)))
    gj = circuit.gap_junctions
    gpos = _positions(gj)
    ginf = bool(len(gj) and site_map.sites_per_um > 0 and np.ptp(gpos, axis=0).max() > 0)
    for r in range(len(gj)):
        a, b = index[int(gj["a"].iloc[r])], index[int(gj["b"].iloc[r])]
        groups.append(Group("gap", r, a, (b,), (r,), _target(
            ginf, to_cell(site_map.to_site(gpos[r][None]))[0], soma_cell[a], soma_cell[b], rng)))
    return groups, sorted(dropped)


def _target(informative: bool, mapped: np.ndarray, pre: np.ndarray, posts: np.ndarray, rng) -> tuple:
    u = rng.uniform(0.3, 0.7)
    jitter = rng.normal(0.0, 1.0, 3)
    if informative:
        return tuple(float(v) for v in mapped)
    return tuple(float(v) for v in pre + u * (posts - pre) + jitter)


def _grow_once(circuit: Circuit, config: TissueConfig, geom: Geometry, site_map: SiteMap,
               gap_cells: int, border: int, progress: bool) -> tuple[Grown, list[int]]:
    b = geom.soma_cells
    spacing = b + gap_cells
    shape = tuple(int(v) for v in 2 * border + site_map.sites.max(axis=0) * spacing + b)
    lat = RoutingLattice(shape, circuit.n_neurons, config.max_route_expansions)
    origins = border + site_map.sites * spacing
    for n, o in enumerate(origins):
        lat.place_soma(n, tuple(int(v) for v in o), b)

    def to_cell(site: np.ndarray) -> np.ndarray:
        c = border + np.asarray(site, float) * spacing + b // 2
        return np.clip(c, 0, np.asarray(shape) - 1)

    ss = np.random.SeedSequence(config.seed, spawn_key=(0,))
    rng = np.random.default_rng(ss)
    groups, dropped = _groups(circuit, site_map, to_cell, rng)
    check_partners(groups)
    for g in groups:
        if g.kind == "synapse":
            lat.needs_axon[g.pre] = True
    order = rng.permutation(len(groups))
    placed: list[Placed] = []
    from rich.progress import Progress
    from rich.console import Console

    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        job = bar.add_task("growing neurites", total=len(groups))
        for i in order:
            placed.extend(place_group(lat, groups[i]))
            bar.advance(job)
    return Grown(lat, geom, origins, placed, gap_cells, border), dropped


def grow_tissue(circuit: Circuit, config: TissueConfig | None = None, *, progress: bool = False) -> Phantom:
    """Fold ``circuit`` into a 3D Phantom.

    Somata are placed from the Circuit's positions (:mod:`~neurophantom.tissue.layout`),
    axons and dendrites are routed on a lattice so that every synapse is a contact
    between the presynaptic bouton and each postsynaptic dendrite and every gap junction
    a contact between the two neurons (:mod:`~neurophantom.tissue.wiring`), and membrane
    molecules are placed (:mod:`~neurophantom.tissue.molecules`). The label volume is
    lazy (rendered per chunk by :mod:`~neurophantom.tissue.render`).

    Parameters
    ----------
    circuit : Circuit
        The ground truth. Autapses (pre == post) cannot be seen in a label volume: their
        rows are not drawn and are listed in ``phantom.metadata["autapse_rows"]``.
    config : TissueConfig, optional
        Geometry, voxel size, seed (defaults: :class:`TissueConfig`).
    progress : bool
        Show a progress bar while growing.

    Returns
    -------
    Phantom
        With ``labels`` a dask array; ``Phantom.save`` writes it chunk by chunk.
    """
    from .assemble import assemble_phantom

    config = config or TissueConfig()
    if not isinstance(circuit, Circuit):
        raise NeurophantomError(f"tissue: expected a Circuit, got {type(circuit).__name__}")
    if circuit.n_neurons == 0:
        raise NeurophantomError("tissue: the circuit has no neurons")
    areas = [0.0]
    if len(circuit.synapses):
        areas.append(float(circuit.synapses["contact_area_um2"].max()))
    if len(circuit.gap_junctions):
        areas.append(float(circuit.gap_junctions["connexin_count"].max()) / config.connexin_density_per_um2)
    geom = choose_geometry(config, max(areas))
    site_map = soma_sites(_positions(circuit.neurons), config)
    last = None
    for attempt in range(RETRIES):
        try:
            grown, dropped = _grow_once(circuit, config, geom, site_map,
                                        config.soma_gap_cells + 2 * attempt, config.border_cells + attempt, progress)
            break
        except RoutingFailed as exc:
            last = exc
    else:
        raise NeurophantomError(
            f"tissue: could not route every contact ({last}); raise soma_gap_cells or site_slack"
        )
    return assemble_phantom(circuit, config, grown, site_map, dropped, progress=progress)
