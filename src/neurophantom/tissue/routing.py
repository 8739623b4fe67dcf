"""Growing neurites on the routing lattice (maze routing with exclusive cells).

Each lattice cell is free or owned by one neuron, as soma, axon or dendrite. A neurite
grows by routing a reserved target cell to the neuron's existing tree (or to a free exit
of its soma) through free cells, then claiming the path: first a short breadth-first
probe from the target (Lee 1961), which also recognises a target walled into a small
pocket, then an A* search (Hart, Nilsson & Raphael 1968) from every free cell next to
the tree toward the target, whose Manhattan heuristic is exact-target and consistent.
Because cells are exclusive and shapes keep a free voxel rim inside their cell, neurons
never overlap or touch except where a contact is drawn on purpose. Each cell in front of
a soma exit is kept for that soma (a stub), so no soma is ever sealed in.

This is a small hand-written maze router (the field's VLSI routers are not Python
packages, and the geometry here is a 6-connected grid with per-neuron goal sets, which
general graph libraries would need rebuilt after every claimed path); the searches are
compiled with numba (:mod:`._search`).

References
----------
Lee, C. Y. (1961). An algorithm for path connections and its applications. IRE Trans.
Electronic Computers EC-10, 346-365.
Hart, P. E., Nilsson, N. J. & Raphael, B. (1968). A formal basis for the heuristic
determination of minimum cost paths. IEEE Trans. Systems Science and Cybernetics 4, 100-107.
"""

from __future__ import annotations

import numpy as np

from .geometry import AXON, DENDRITE, N_FACES, SOMA

FREE, BORDER = -1, -2
STUB = 4  # compartment code of a reserved, still unused cell in front of a soma exit
POCKET_CELLS = 512  # a start whose free surroundings are smaller than this is walled in
ROLE_NONE, ROLE_HOST, ROLE_PARTNER = 0, 1, 2


class RoutingFailed(Exception):
    """A route or contact could not be placed (internal; grow_tissue retries or reports).

    ``explored`` holds the cells a failed search reached when the search was
    ``exhausted`` (none of them can reach the neuron's tree), else only the start cell
    (far from the tree); a caller skips them as later start cells.
    """

    def __init__(self, msg: str, explored: frozenset = frozenset(), exhausted: bool = False, pocket: bool = False):
        super().__init__(msg)
        self.explored = explored
        self.exhausted = exhausted
        self.pocket = pocket


class RoutingLattice:
    """Mutable routing state (padded by one blocked cell on every side).

    Cells are addressed by flat indices into the padded grid. State lives in numpy
    arrays shared with the compiled searches of :mod:`._search`.
    """

    def __init__(self, shape: tuple[int, int, int], n_neurons: int, max_expansions: int):
        self.shape = tuple(int(s) for s in shape)
        pz, py, px = (s + 2 for s in self.shape)
        self.padded = (pz, py, px)
        n = pz * py * px
        border = np.ones(self.padded, dtype=bool)
        border[1:-1, 1:-1, 1:-1] = False
        self.owner = np.where(border.ravel(), BORDER, FREE).astype(np.int32)
        self.comp = np.zeros(n, dtype=np.int8)
        self.conn = np.zeros(n, dtype=np.bool_)
        self.mask = np.zeros(n, dtype=np.uint8)
        self.role = np.zeros(n, dtype=np.int8)
        self.cface = np.zeros(n, dtype=np.uint8)
        self.parent = np.full(n, -1, dtype=np.int64)
        self.off = [-py * px, py * px, -px, px, -1, 1]
        self._off = np.asarray(self.off, dtype=np.int64)
        zz, yy, xx = (a.astype(np.int32) for a in np.unravel_index(np.arange(n), self.padded))
        self.zc, self.yc, self.xc = zz, yy, xx
        self._coords_np = (zz, yy, xx)
        # Scratch space of the compiled searches (valid where stamp == the search id).
        cap = 6 * int(max_expansions) + 6 * 4096
        self._stamp = np.zeros(n, dtype=np.int32)
        self._best = np.zeros(n, dtype=np.int32)
        self._came = np.zeros(n, dtype=np.int64)
        self._queue = np.zeros(max(n, 1), dtype=np.int64)
        self._keys = np.zeros(cap, dtype=np.int64)
        self._vals = np.zeros(cap, dtype=np.int64)
        self._sid = 0
        self.trees: dict[tuple[int, int], list[int]] = {}
        self._tree_cache: dict = {}
        self.exits: list[list[tuple[int, int]]] = [[] for _ in range(n_neurons)]
        self.exit_used: dict[int, int] = {}
        self.axon_started = np.zeros(n_neurons, dtype=np.bool_)
        self.needs_axon = np.zeros(n_neurons, dtype=np.bool_)
        self.max_expansions = int(max_expansions)
        self._journal: list | None = None

    # ---------------------------------------------------------------- helpers
    def flat(self, z: int, y: int, x: int) -> int:
        """Flat index of unpadded lattice cell (z, y, x)."""
        return ((z + 1) * self.padded[1] + (y + 1)) * self.padded[2] + (x + 1)

    def coords(self, c: int) -> tuple[int, int, int]:
        """Unpadded lattice coordinates of flat index ``c``."""
        return int(self.zc[c]) - 1, int(self.yc[c]) - 1, int(self.xc[c]) - 1

    def _set(self, name: str, c: int, value) -> None:
        arr = getattr(self, name)
        if self._journal is not None:
            self._journal.append((arr, c, arr[c]))
        arr[c] = value

    def begin(self) -> None:
        """Start recording changes so that :meth:`rollback` can undo them."""
        self._journal = []

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        for arr, c, old in reversed(self._journal or []):
            if c == "append":
                old.pop()
            elif isinstance(arr, dict):
                arr.pop(c, None)
            else:
                arr[c] = old
        self._journal = None

    def tree_array(self, n: int, comp: int) -> np.ndarray:
        """The cells of neuron ``n``'s ``comp`` tree as an array (cached until it grows)."""
        lst = self.trees.get((n, comp), ())
        hit = self._tree_cache.get((n, comp))
        if hit is None or len(hit) != len(lst):
            hit = np.asarray(lst, dtype=np.int64)
            self._tree_cache[(n, comp)] = hit
        return hit

    def _tree_append(self, key: tuple[int, int], c: int) -> None:
        lst = self.trees.setdefault(key, [])
        lst.append(c)
        if self._journal is not None:
            self._journal.append(([], "append", lst))

    # ------------------------------------------------------------------ somata
    def place_soma(self, n: int, origin: tuple[int, int, int], b: int) -> None:
        """Claim a b^3 block for neuron ``n``'s soma; its 6 face-centre cells are exits."""
        h = b // 2
        for dz in range(b):
            for dy in range(b):
                for dx in range(b):
                    c = self.flat(origin[0] + dz, origin[1] + dy, origin[2] + dx)
                    if self.owner[c] != FREE:
                        raise RoutingFailed(f"soma block of neuron {n} overlaps another")
                    self.owner[c], self.comp[c], self.conn[c] = n, SOMA, True
        centre = (origin[0] + h, origin[1] + h, origin[2] + h)
        for f in range(N_FACES):
            d = [0, 0, 0]
            d[f // 2] = h if f % 2 else -h
            exit_cell = self.flat(centre[0] + d[0], centre[1] + d[1], centre[2] + d[2])
            self.exits[n].append((exit_cell, f))
            # The cell in front of each exit is kept for the neuron's own neurites (a
            # stub), so that other neurons' routes can never seal a soma.
            stub = exit_cell + self.off[f]
            if self.owner[stub] != FREE:
                raise RoutingFailed(f"soma exit of neuron {n} is blocked")
            self.owner[stub], self.comp[stub] = n, STUB

    def _exit_allowed(self, n: int, comp: int) -> bool:
        free = sum(1 for c, _ in self.exits[n] if c not in self.exit_used)
        if comp == AXON:
            return not self.axon_started[n] and free > 0
        reserve = 1 if self.needs_axon[n] and not self.axon_started[n] else 0
        return free > reserve

    def _goal_points(self, n: int, comp: int) -> list[int]:
        pts = list(self.trees.get((n, comp), ()))
        if self._exit_allowed(n, comp):
            for c, f in self.exits[n]:
                if c not in self.exit_used:
                    pts.append(c + self.off[f])
        return pts

    # ----------------------------------------------------------------- routing
    def route(self, start: int, n: int, comp: int, budget: int | None = None) -> None:
        """Connect the reserved cell ``start`` to neuron ``n``'s ``comp`` tree (A*).

        If every free path to that tree and to the soma's free exits is walled in by
        other neurons, the neurite joins the neuron's other arbor instead (an
        axon-carrying dendrite, as in hippocampal pyramidal cells; Thome et al. 2014).
        """
        budget = self.max_expansions if budget is None else min(budget, self.max_expansions)
        try:
            return self._search(start, n, comp, join_any=False, budget=budget)
        except RoutingFailed as exc:
            if exc.pocket or not exc.exhausted:
                raise
        return self._search(start, n, comp, join_any=True, budget=budget)

    def _search(self, start: int, n: int, comp: int, join_any: bool, budget: int) -> None:
        from . import _search as K

        stubs = {c + self.off[f]: c for c, f in self.exits[n] if c not in self.exit_used} if self._exit_allowed(n, comp) else {}
        goals = list(self.trees.get((n, comp), ()))
        if join_any:
            other = AXON if comp == DENDRITE else DENDRITE
            goals += list(self.trees.get((n, other), ()))
        if not goals and not stubs:
            raise RoutingFailed(f"neuron {n} has no tree or free soma exit for its {comp} route")
        stub_cells = np.fromiter(stubs, dtype=np.int64, count=len(stubs))
        # 1. A short breadth-first probe from the start: finds nearby trees at once and
        #    recognises a start walled into a small pocket.
        self._sid += 1
        status, m, v = K.probe(start, self.owner, self.comp, self.conn, self._off, n, comp, join_any, stub_cells,
                               POCKET_CELLS, self._stamp, self._sid, self._came, self._queue)
        if status == K.FOUND:
            path = self._queue[:m].tolist()
            if v in stubs:
                return self._claim_path(path + [v], stubs[v], n, comp)
            return self._claim_path(path, v, n, comp)
        if status == K.POCKET:
            raise RoutingFailed(f"neuron {n}: start cell walled into a pocket of {m} cells",
                                frozenset(self._queue[:m].tolist()), exhausted=True, pocket=True)
        # 2. A* from every free cell next to the tree (and every free soma exit) to the
        #    start: one exact target, so the Manhattan heuristic stays tight even when
        #    parts of the tree are walled off.
        g = np.asarray(goals, dtype=np.int64)
        nb = g[:, None] + self._off[None, :]
        free = self.owner[nb] == FREE
        seeds = np.concatenate([nb[free], stub_cells])
        parents = np.concatenate([np.broadcast_to(g[:, None], nb.shape)[free],
                                  np.asarray([stubs[c] for c in stub_cells.tolist()], dtype=np.int64)])
        limit = self._keys.shape[0] // 2
        if len(seeds) > limit:  # keep the seeds nearest the start
            d = (np.abs(self.zc[seeds] - self.zc[start]) + np.abs(self.yc[seeds] - self.yc[start])
                 + np.abs(self.xc[seeds] - self.xc[start]))
            keep = np.argsort(d, kind="stable")[:limit]
            seeds, parents = seeds[keep], parents[keep]
        self._sid += 1
        status, m, anchor = K.reverse_astar(start, self.owner, self._off, self.zc, self.yc, self.xc, seeds, parents,
                                            budget, self._stamp, self._sid, self._best, self._came, self._keys,
                                            self._vals, self._queue)
        if status == K.FOUND:
            path, anchor = self._queue[:m].tolist(), int(anchor)
            if anchor in stubs:  # the path left through a free soma exit's stub
                path, anchor = path + [anchor], stubs[anchor]
            return self._claim_path(path, anchor, n, comp)
        raise RoutingFailed(f"no free path for neuron {n} (compartment {comp}) within {budget} steps",
                            frozenset((start,)), exhausted=status == K.EXHAUSTED)

    def _link(self, a: int, b: int, f: int) -> None:
        """Connect cell a to its neighbour b across a's face f."""
        self._set("mask", a, self.mask[a] | (1 << f))
        self._set("mask", b, self.mask[b] | (1 << (f ^ 1)))
        self._set("parent", a, b)

    def _claim_path(self, path: list, anchor: int, n: int, comp: int) -> None:
        """Claim ``path`` (start first) and connect its last cell to ``anchor`` (a tree
        cell of ``n``, or a soma exit cell when the last cell is that exit's stub)."""
        for c in path:
            if self.owner[c] == FREE or self.comp[c] == STUB:
                self._set("owner", c, n)
                self._set("comp", c, comp)
            self._set("conn", c, True)
            self._tree_append((n, comp), c)
        for a, b in zip(path[:-1], path[1:]):
            self._link(a, b, self.off.index(b - a))
        last = path[-1]
        self._link(last, anchor, self.off.index(anchor - last))
        if self.comp[anchor] == SOMA:
            self.exit_used[anchor] = comp
            if self._journal is not None:
                self._journal.append((self.exit_used, anchor, None))
            if comp == AXON:
                self._set("axon_started", n, True)

    def reserve(self, c: int, n: int, comp: int, role: int) -> None:
        """Give a free cell to neuron ``n`` (not yet connected) with a contact role."""
        if self.owner[c] == FREE:
            self._set("owner", c, n)
            self._set("comp", c, comp)
        self._set("role", c, role)

    def use_contact_face(self, c: int, f: int) -> None:
        self._set("cface", c, self.cface[c] | (1 << f))
