"""Grow every neuron's arbor so that each contact of the Circuit exists.

A *contact group* is one chemical release site (a ``synapse_id``: one presynaptic
bouton touching every postsynaptic partner) or one gap junction (one cell of ``a``
touching one cell of ``b``). For each group, in a seeded random order:

1. a target point is chosen: the Circuit's synapse position mapped through the soma
   layout when the Circuit has informative synapse positions, otherwise a seeded point
   between the presynaptic soma and the partners' somata (30-70 % of the way, jittered);
2. the nearest suitable *host* cell is found (free, or a cell of the presynaptic
   neuron's axon that hosts no other contact; dendrite for gap junctions) with one
   distinct free face per partner whose neighbour is free or already a cell of that
   partner's dendrite (a bouton of a polyadic synapse touches several dendrites
   through different faces, so one release site contacts up to 5 partners); a contact
   larger than one lattice face is split over several faces of the bouton, each facing
   its own cell of the partner, and one face stays free for the bouton's own neurite, so
   a release site uses at most 5 faces in all;
3. the host and partner cells are reserved and the neurites are routed to them
   (:mod:`neurophantom.tissue.routing`); on failure the changes are rolled back and the
   next candidate is tried.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import NeurophantomError
from .geometry import AXON, DENDRITE, N_FACES
from .routing import FREE, ROLE_HOST, ROLE_NONE, ROLE_PARTNER, RoutingFailed, RoutingLattice

MAX_CONTACT_FACES = 5
SEARCH_RADIUS = 16
MAX_ATTEMPTS = 24
#: Search budget of early attempts; the last attempts get the config's full budget.
QUICK_BUDGET = 20_000
MAX_TRIES = 2000


@dataclasses.dataclass(frozen=True)
class Group:
    """One contact group: ``rows`` index the Circuit table (synapses or gap junctions)."""

    kind: str  # "synapse" | "gap"
    key: int  # synapse_id or gap row
    pre: int  # neuron index (row in circuit.neurons)
    posts: tuple[int, ...]
    rows: tuple[int, ...]
    target: tuple[float, float, float]
    areas: tuple[float, ...] = ()  # biological contact area per partner
    n_faces: tuple[int, ...] = ()  # host faces per partner (1 unless the contact is large)

    def faces_of(self, j: int) -> int:
        return self.n_faces[j] if self.n_faces else 1


@dataclasses.dataclass(frozen=True)
class Placed:
    """One face of a partner row's contact: host cell, partner cell, host face."""

    kind: str
    row: int
    host: int
    partner: int
    face: int
    part: int = 0  # index of this face among the row's faces
    n_parts: int = 1


def _offsets(radius: int) -> list[tuple[int, int, int]]:
    r = np.arange(-radius, radius + 1)
    d = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    d2 = (d ** 2).sum(1)
    keep = d2 <= radius * radius
    d, d2 = d[keep], d2[keep]
    order = np.lexsort((d[:, 2], d[:, 1], d[:, 0], d2))
    return [tuple(int(v) for v in row) for row in d[order]]


_OFFSETS = _offsets(SEARCH_RADIUS)


def _host_ok(lat: RoutingLattice, c: int, pre: int, comp: int) -> bool:
    if lat.role[c] != ROLE_NONE:
        return False
    o = lat.owner[c]
    return o == FREE or (o == pre and lat.comp[c] == comp and lat.conn[c])


def _partner_ok(lat: RoutingLattice, c: int, q: int, comp: int, face_in: int) -> int:
    """2 = existing cell of q's tree, 1 = free cell, 0 = unusable."""
    o = lat.owner[c]
    if o == FREE and lat.role[c] == ROLE_NONE:
        return 1
    if o == q and lat.comp[c] == comp and lat.conn[c] and lat.role[c] != ROLE_HOST:
        if not ((lat.mask[c] | lat.cface[c]) >> face_in & 1):
            return 2
    return 0


def _assign(lat: RoutingLattice, h: int, g: Group, post_comp: int, dead: set) -> list[list[tuple[int, int]]] | None:
    """Faces of host ``h`` for each partner (existing partner cells preferred), or None."""
    busy = lat.mask[h] | lat.cface[h]
    taken: set = set()
    out = []
    for j, q in enumerate(g.posts):
        options = []
        for f in range(N_FACES):
            if busy >> f & 1 or f in taken or h + lat.off[f] in dead:
                continue
            score = _partner_ok(lat, h + lat.off[f], q, post_comp, f ^ 1)
            if score:
                options.append((-score, f))
        need = g.faces_of(j)
        if len(options) < need:
            return None
        chosen = [f for _, f in sorted(options)[:need]]
        taken.update(chosen)
        out.append([(h + lat.off[f], f) for f in chosen])
    if lat.owner[h] == FREE:
        # A free host needs one more face through which its own neurite can arrive.
        entry = [f for f in range(N_FACES) if f not in taken and lat.owner[h + lat.off[f]] in (FREE, g.pre)]
        if not entry:
            return None
    return out


def _near_trees(lat: RoutingLattice, g: Group, pre_comp: int, post_comp: int) -> list[int]:
    """Host cells beside the first partner's dendrite or the presynaptic arbor, closest
    to the other arbors first.

    Candidates are free cells (or presynaptic cells) that share a free face with a cell
    of the first partner's dendrite or of the presynaptic tree; the score is the
    Manhattan distance to the presynaptic tree and to every partner's tree (0 for a tree
    the cell already belongs to or touches) plus a quarter of the distance to the
    group's target point.
    """
    from scipy.spatial import cKDTree

    found = []
    for n, comp in ((g.posts[0], post_comp), (g.pre, pre_comp)):
        tree = lat.tree_array(n, comp)
        if not len(tree):
            continue
        tree = tree[lat.role[tree] != ROLE_HOST]
        busy = (lat.mask[tree] | lat.cface[tree]).astype(np.int64)
        nb = tree[:, None] + lat._off[None, :]
        face_free = ((busy[:, None] >> np.arange(N_FACES)[None, :]) & 1) == 0
        owner = lat.owner[nb]
        ok = face_free & (lat.role[nb] == ROLE_NONE) & (
            (owner == FREE) | ((owner == g.pre) & (lat.comp[nb] == pre_comp) & lat.conn[nb]))
        found.append(nb[ok])
    cand = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    if not len(cand):
        return []
    zz, yy, xx = lat._coords_np
    xyz = np.stack([zz[cand], yy[cand], xx[cand]], 1)
    score = 0.25 * np.abs(xyz - (np.asarray(g.target) + 1)).sum(1)
    for n, comp in [(g.pre, pre_comp)] + [(q, post_comp) for q in g.posts]:
        goals = lat.tree_array(n, comp)
        stubs = [c + lat.off[f] for c, f in lat.exits[n] if c not in lat.exit_used] if lat._exit_allowed(n, comp) else []
        if stubs:
            goals = np.concatenate([goals, np.asarray(stubs, dtype=np.int64)])
        if not len(goals):
            continue
        dist, _ = cKDTree(np.stack([zz[goals], yy[goals], xx[goals]], 1)).query(xyz, p=1)
        score += np.where(lat.owner[cand] == n, 0.0, dist)
    return cand[np.lexsort((cand, score))].tolist()


def _around_target(lat: RoutingLattice, g: Group):
    t = np.rint(np.asarray(g.target)).astype(int)
    for d in _OFFSETS:
        z, y, x = t[0] + d[0], t[1] + d[1], t[2] + d[2]
        if 0 <= z < lat.shape[0] and 0 <= y < lat.shape[1] and 0 <= x < lat.shape[2]:
            yield lat.flat(z, y, x)


def place_group(lat: RoutingLattice, g: Group) -> list[Placed]:
    """Reserve cells and route neurites for one contact group (raises RoutingFailed).

    Hosts are tried first where the arbors already (nearly) meet
    (:func:`_near_trees`), then around the group's target point.
    """
    import itertools

    pre_comp = AXON if g.kind == "synapse" else DENDRITE
    post_comp = DENDRITE
    attempts = tries = 0
    last = "no candidate cell near the target"
    dead: set = set()  # cells a failed search showed to be walled off
    for h in itertools.chain(_near_trees(lat, g, pre_comp, post_comp), _around_target(lat, g)):
        if h in dead or not _host_ok(lat, h, g.pre, pre_comp):
            continue
        faces = _assign(lat, h, g, post_comp, dead)
        if faces is None:
            continue
        lat.begin()
        try:
            lat.reserve(h, g.pre, pre_comp, ROLE_HOST)
            for cells, q in zip(faces, g.posts):
                for c, f in cells:
                    lat.reserve(c, q, post_comp, ROLE_PARTNER)
                    lat.use_contact_face(h, f)
                    lat.use_contact_face(c, f ^ 1)
            budget = QUICK_BUDGET if attempts < MAX_ATTEMPTS - 2 else None
            if not lat.conn[h]:
                lat.route(h, g.pre, pre_comp, budget)
            for cells, q in zip(faces, g.posts):
                for c, _ in cells:
                    if not lat.conn[c]:
                        lat.route(c, q, post_comp, budget)
        except RoutingFailed as exc:
            lat.rollback()
            dead |= exc.explored
            last = str(exc)
            # A start cell in a small walled-in pocket fails fast and says nothing about
            # the rest of the neuropil: such tries do not count (up to a hard cap).
            pocket = exc.pocket
            attempts += 0 if pocket else 1
            tries += 1
            if attempts >= MAX_ATTEMPTS or tries >= MAX_TRIES:
                break
            continue
        lat.commit()
        return [Placed(g.kind, row, h, c, f, k, len(cells))
                for row, cells in zip(g.rows, faces) for k, (c, f) in enumerate(cells)]
    raise RoutingFailed(f"{g.kind} {g.key}: {last}")


def grow_trunk(lat: RoutingLattice, n: int, comp: int, target: np.ndarray) -> bool:
    """Grow neuron ``n``'s first ``comp`` neurite from its soma toward ``target``.

    Trunks are grown for every neuron before any contact is placed, so that each arbor
    exists (and cannot be walled in at its soma) before the neuropil fills up. Returns
    False when no cell near the target could be reached (the contacts then start the
    neurite themselves).
    """
    t = np.rint(np.asarray(target)).astype(int)
    dead: set = set()
    tries = 0
    for d in _OFFSETS:
        z, y, x = t[0] + d[0], t[1] + d[1], t[2] + d[2]
        if not (0 <= z < lat.shape[0] and 0 <= y < lat.shape[1] and 0 <= x < lat.shape[2]):
            continue
        c = lat.flat(z, y, x)
        if c in dead or lat.owner[c] != FREE:
            continue
        lat.begin()
        try:
            lat.reserve(c, n, comp, ROLE_NONE)
            lat.route(c, n, comp)
        except RoutingFailed as exc:
            lat.rollback()
            dead |= exc.explored
            tries += 1
            if tries >= MAX_ATTEMPTS:
                return False
            continue
        lat.commit()
        return True
    return False


def check_partners(groups: list[Group]) -> None:
    """One-line error for release sites that need more faces than a bouton has."""
    for g in groups:
        need = sum(g.faces_of(j) for j in range(len(g.posts)))
        if need > MAX_CONTACT_FACES:
            raise NeurophantomError(
                f"tissue: {g.kind} {g.key} needs {need} contact faces ({len(g.posts)} partners); a bouton has "
                f"{MAX_CONTACT_FACES}: lower geometry_scale or raise lattice_pitch_nm"
            )
