"""grow_tissue: fold a Circuit into a Phantom (the stage's one entry point)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import NeurophantomError
from ..types import Circuit
from ..types.phantom import Phantom
from .config import TissueConfig
from .geometry import AXON, DENDRITE, Geometry, choose_geometry
from .layout import SiteMap, soma_sites
from .routing import RoutingFailed, RoutingLattice
from .wiring import MAX_CONTACT_FACES, Group, Placed, check_partners, grow_trunk, place_group

RETRIES = 4
#: Neuropil cells a contact face costs on average (host, partner and route cells);
#: with ``neuropil_fill`` it sizes the neuropil's depth.
CELLS_PER_CONTACT = 12


@dataclasses.dataclass(frozen=True)
class Grown:
    """The routed lattice and where every contact went."""

    lat: RoutingLattice
    geom: Geometry
    block_origin: np.ndarray  # (N, 3) lattice cell of each soma block's low corner
    placed: list[Placed]
    frame: "Frame"
    attempt: int = 0


def _positions(df, cols=("z_um", "y_um", "x_um")) -> np.ndarray:
    return df[list(cols)].to_numpy(dtype=float)


def _groups(circuit: Circuit, config: TissueConfig) -> tuple[list[Group], list[int]]:
    """Contact groups (targets still unset) and the dropped autapse rows."""
    syn = circuit.synapses
    index = {int(i): k for k, i in enumerate(circuit.neuron_ids)}
    pre_idx = np.asarray([index[int(p)] for p in syn["pre"]], dtype=np.int64)
    post_idx = np.asarray([index[int(p)] for p in syn["post"]], dtype=np.int64)
    dropped = [int(r) for r in np.flatnonzero(post_idx == pre_idx)]
    groups: list[Group] = []
    area = syn["contact_area_um2"].to_numpy()
    for sid, rows in syn.groupby("synapse_id", sort=True).indices.items():
        rows = [int(r) for r in rows if post_idx[r] != pre_idx[r]]
        if rows:
            groups.append(Group("synapse", int(sid), int(pre_idx[rows[0]]), tuple(int(post_idx[r]) for r in rows),
                                tuple(rows), (0.0, 0.0, 0.0), tuple(float(area[r]) for r in rows)))
    gj = circuit.gap_junctions
    garea = gj["connexin_count"].to_numpy() / config.connexin_density_per_um2
    for r in range(len(gj)):
        a, b = index[int(gj["a"].iloc[r])], index[int(gj["b"].iloc[r])]
        groups.append(Group("gap", r, a, (b,), (r,), (0.0, 0.0, 0.0), (float(garea[r]),)))
    return groups, dropped


@dataclasses.dataclass(frozen=True)
class Frame:
    """Where the soma sheet and the neuropil lie on the lattice (in cells)."""

    border: int
    gap: int
    soma_cells: int
    neuropil_depth: int
    sheet: tuple[int, int]  # sites per row and column

    @property
    def spacing(self) -> int:
        return self.soma_cells + self.gap

    @property
    def shape(self) -> tuple[int, int, int]:
        b, s = self.soma_cells, self.spacing
        return (2 * self.border + b + self.neuropil_depth,
                2 * self.border + (self.sheet[0] - 1) * s + b,
                2 * self.border + (self.sheet[1] - 1) * s + b)

    @property
    def neuropil(self) -> tuple[int, int]:
        """First and last+1 z cell of the neuropil."""
        lo = self.border + self.soma_cells
        return lo, lo + self.neuropil_depth

    def origins(self, sites: np.ndarray) -> np.ndarray:
        o = np.empty((len(sites), 3), dtype=np.int64)
        o[:, 0] = self.border
        o[:, 1:] = self.border + np.asarray(sites) * self.spacing
        return o

    def lateral_cell(self, site: np.ndarray) -> np.ndarray:
        """(y, x) cell of float site coordinates (clipped to the lattice)."""
        c = self.border + np.asarray(site, float) * self.spacing + self.soma_cells // 2
        return np.clip(c, 0, np.asarray(self.shape[1:]) - 1)


def _targets(groups: list[Group], site_map: SiteMap, frame: Frame, rng: np.random.Generator) -> list[Group]:
    """Each group's target cell (z, y, x): laterally a seeded point 30-70 % of the way
    from the presynaptic soma to the partners' somata (jittered by one cell), at a
    uniformly drawn depth of the neuropil."""
    soma = frame.lateral_cell(site_map.sites.astype(float))
    lo, hi = frame.neuropil
    out = []
    for g in groups:
        u = rng.uniform(0.3, 0.7)
        jitter = rng.normal(0.0, 1.0, 2)
        depth = rng.uniform(lo + 0.5, hi - 1.5)
        lateral = soma[g.pre] + u * (soma[list(g.posts)].mean(0) - soma[g.pre]) + jitter
        out.append(dataclasses.replace(g, target=(float(depth), float(lateral[0]), float(lateral[1]))))
    return out


def _trunks(lat: RoutingLattice, groups: list[Group], soma_cell: np.ndarray, rng: np.random.Generator) -> None:
    """First axon and dendrite of every neuron, aimed at the mean of its contact targets,
    reaching two thirds of the way from the soma (neurons in a seeded random order)."""
    n = len(soma_cell)
    sums = np.zeros((n, 2, 3))
    counts = np.zeros((n, 2))
    for g in groups:
        t = np.asarray(g.target)
        k = 0 if g.kind == "synapse" else 1
        sums[g.pre, k] += t
        counts[g.pre, k] += 1
        for q in g.posts:
            sums[q, 1] += t
            counts[q, 1] += 1
    jobs = [(i, k) for i in range(n) for k in (0, 1) if counts[i, k]]
    for j in rng.permutation(len(jobs)):
        i, k = jobs[j]
        aim = soma_cell[i] + (sums[i, k] / counts[i, k] - soma_cell[i]) * 2.0 / 3.0
        grow_trunk(lat, i, AXON if k == 0 else DENDRITE, aim)


def _neuropil_depth(config: TissueConfig, groups: list[Group], frame: Frame, stretch: float) -> int:
    faces = sum(sum(g.n_faces) if g.n_faces else len(g.posts) for g in groups)
    footprint = frame.shape[1] * frame.shape[2]
    need = CELLS_PER_CONTACT * (faces + len(groups)) / (config.neuropil_fill * footprint)
    return max(4, int(np.ceil(need * stretch)))


def _grow_once(circuit: Circuit, config: TissueConfig, geom: Geometry, site_map: SiteMap, groups: list[Group],
               stretch: float, progress: bool) -> Grown:
    sheet = tuple(int(v) + 1 for v in site_map.sites.max(axis=0))
    groups = [dataclasses.replace(g, n_faces=tuple(int(m) for m in geom.faces_needed(np.asarray(g.areas) * geom.scale ** 2)))
              for g in groups]
    check_partners(groups)
    frame = Frame(config.border_cells, config.soma_gap_cells, geom.soma_cells, 4, sheet)
    frame = dataclasses.replace(frame, neuropil_depth=_neuropil_depth(config, groups, frame, stretch))
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0,)))
    groups = _targets(groups, site_map, frame, rng)
    lat = RoutingLattice(frame.shape, circuit.n_neurons, config.max_route_expansions)
    origins = frame.origins(site_map.sites)
    for n, o in enumerate(origins):
        lat.place_soma(n, tuple(int(v) for v in o), geom.soma_cells)
    for g in groups:
        if g.kind == "synapse":
            lat.needs_axon[g.pre] = True
    _trunks(lat, groups, origins + geom.soma_cells // 2, rng)
    order = rng.permutation(len(groups))
    placed: list[Placed] = []
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        job = bar.add_task("growing neurites", total=len(groups))
        for i in order:
            placed.extend(place_group(lat, groups[i]))
            bar.advance(job)
    return Grown(lat, geom, origins, placed, frame)


def grow_tissue(circuit: Circuit, config: TissueConfig | None = None, *, progress: bool = False) -> Phantom:
    """Fold ``circuit`` into a 3D Phantom.

    Somata form a sheet (:mod:`~neurophantom.tissue.layout`) under a neuropil where axons
    and dendrites are routed on a lattice so that every synapse is a contact between the
    presynaptic bouton and each postsynaptic dendrite and every gap junction a contact
    between the two neurons (:mod:`~neurophantom.tissue.wiring`); membrane molecules are
    placed by documented counting rules (:mod:`~neurophantom.tissue.molecules`). The
    label volume is lazy (rendered per chunk by :mod:`~neurophantom.tissue.render`).

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
    groups, dropped = _groups(circuit, config)
    areas = np.asarray([a for g in groups for a in g.areas], dtype=float)
    gid = np.asarray([k for k, g in enumerate(groups) for _ in g.areas], dtype=np.int64)
    geom = choose_geometry(config, areas, gid, MAX_CONTACT_FACES)
    site_map = soma_sites(_positions(circuit.neurons), config)
    last = None
    for attempt in range(RETRIES):
        try:
            grown = dataclasses.replace(_grow_once(circuit, config, geom, site_map, groups, 1.5 ** attempt, progress),
                                        attempt=attempt)
            break
        except RoutingFailed as exc:
            last = exc
    else:
        raise NeurophantomError(
            f"tissue: could not route every contact ({last}); lower neuropil_fill or raise soma_gap_cells"
        )
    return assemble_phantom(circuit, config, grown, site_map, dropped, progress=progress)
