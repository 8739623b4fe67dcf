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
   through different faces, so one release site contacts up to 5 partners);
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

MAX_PARTNERS = 5
SEARCH_RADIUS = 8
MAX_ATTEMPTS = 12


@dataclasses.dataclass(frozen=True)
class Group:
    """One contact group: ``rows`` index the Circuit table (synapses or gap junctions)."""

    kind: str  # "synapse" | "gap"
    key: int  # synapse_id or gap row
    pre: int  # neuron index (row in circuit.neurons)
    posts: tuple[int, ...]
    rows: tuple[int, ...]
    target: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Placed:
    """Where a partner row's contact went: host cell, partner cell, host face."""

    kind: str
    row: int
    host: int
    partner: int
    face: int


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


def _assign(lat: RoutingLattice, h: int, g: Group, post_comp: int) -> list[tuple[int, int]] | None:
    busy = lat.mask[h] | lat.cface[h]
    taken: set = set()
    out = []
    for q in g.posts:
        best = None
        for f in range(N_FACES):
            if busy >> f & 1 or f in taken:
                continue
            score = _partner_ok(lat, h + lat.off[f], q, post_comp, f ^ 1)
            if score and (best is None or score > best[0]):
                best = (score, f)
        if best is None:
            return None
        taken.add(best[1])
        out.append((h + lat.off[best[1]], best[1]))
    if lat.owner[h] == FREE:
        # A free host needs one more face through which its own neurite can arrive.
        entry = [f for f in range(N_FACES) if f not in taken and lat.owner[h + lat.off[f]] in (FREE, g.pre)]
        if not entry:
            return None
    return out


def place_group(lat: RoutingLattice, g: Group) -> list[Placed]:
    """Reserve cells and route neurites for one contact group (raises RoutingFailed)."""
    pre_comp = AXON if g.kind == "synapse" else DENDRITE
    post_comp = DENDRITE
    t = np.rint(np.asarray(g.target)).astype(int)
    attempts = 0
    last = "no candidate cell near the target"
    for d in _OFFSETS:
        z, y, x = t[0] + d[0], t[1] + d[1], t[2] + d[2]
        if not (0 <= z < lat.shape[0] and 0 <= y < lat.shape[1] and 0 <= x < lat.shape[2]):
            continue
        h = lat.flat(z, y, x)
        if not _host_ok(lat, h, g.pre, pre_comp):
            continue
        faces = _assign(lat, h, g, post_comp)
        if faces is None:
            continue
        lat.begin()
        try:
            lat.reserve(h, g.pre, pre_comp, ROLE_HOST)
            for (c, f), q in zip(faces, g.posts):
                lat.reserve(c, q, post_comp, ROLE_PARTNER)
                lat.use_contact_face(h, f)
                lat.use_contact_face(c, f ^ 1)
            if not lat.conn[h]:
                lat.route(h, g.pre, pre_comp)
            for (c, _), q in zip(faces, g.posts):
                if not lat.conn[c]:
                    lat.route(c, q, post_comp)
        except RoutingFailed as exc:
            lat.rollback()
            last = str(exc)
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                break
            continue
        lat.commit()
        return [Placed(g.kind, row, h, c, f) for row, (c, f) in zip(g.rows, faces)]
    raise RoutingFailed(f"{g.kind} {g.key}: {last}")


def check_partners(groups: list[Group]) -> None:
    """One-line error for release sites with more partners than a bouton has faces."""
    for g in groups:
        if len(g.posts) > MAX_PARTNERS:
            raise NeurophantomError(
                f"tissue: synapse {g.key} has {len(g.posts)} partners; a bouton touches at most {MAX_PARTNERS}"
            )
