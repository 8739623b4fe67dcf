"""Growing neurites on the routing lattice (maze routing with exclusive cells).

Each lattice cell is free or owned by one neuron, as soma, axon or dendrite. A neurite
grows by routing: an A* search (Hart, Nilsson & Raphael 1968) from a target cell through
free cells to the nearest cell of the neuron's existing tree (or to a free exit of its
soma), then the path is claimed. Because cells are exclusive and shapes keep a free
voxel rim inside their cell, neurons never overlap or touch except where a contact is
drawn on purpose.

This is a small hand-written maze router (the field's VLSI routers are not Python
packages, and the geometry here is a 6-connected grid with per-neuron goal sets, which
general graph libraries would need rebuilt after every claimed path).

References
----------
Lee, C. Y. (1961). An algorithm for path connections and its applications. IRE Trans.
Electronic Computers EC-10, 346-365.
Hart, P. E., Nilsson, N. J. & Raphael, B. (1968). A formal basis for the heuristic
determination of minimum cost paths. IEEE Trans. Systems Science and Cybernetics 4, 100-107.
"""

from __future__ import annotations

import heapq

import numpy as np

from .geometry import AXON, DENDRITE, N_FACES, SOMA

FREE, BORDER = -1, -2
STUB = 4  # compartment code of a reserved, still unused cell in front of a soma exit
ROLE_NONE, ROLE_HOST, ROLE_PARTNER = 0, 1, 2


class RoutingFailed(Exception):
    """A route or contact could not be placed (internal; grow_tissue retries or reports).

    ``explored`` holds the cells a failed search reached when the search was
    ``exhausted`` (none of them can reach the neuron's tree), else only the start cell
    (far from the tree); a caller skips them as later start cells.
    """

    def __init__(self, msg: str, explored: frozenset = frozenset(), exhausted: bool = False):
        super().__init__(msg)
        self.explored = explored
        self.exhausted = exhausted


class RoutingLattice:
    """Mutable routing state (padded by one blocked cell on every side).

    Cells are addressed by flat indices into the padded grid. State is kept in Python
    lists (the A* inner loop reads single elements, where lists beat numpy scalars).
    """

    def __init__(self, shape: tuple[int, int, int], n_neurons: int, max_expansions: int):
        self.shape = tuple(int(s) for s in shape)
        pz, py, px = (s + 2 for s in self.shape)
        self.padded = (pz, py, px)
        n = pz * py * px
        border = np.ones(self.padded, dtype=bool)
        border[1:-1, 1:-1, 1:-1] = False
        self.owner = np.where(border.ravel(), BORDER, FREE).tolist()
        self.comp = [0] * n
        self.conn = [False] * n
        self.mask = [0] * n
        self.role = [ROLE_NONE] * n
        self.cface = [0] * n
        self.parent = [-1] * n
        self.off = [-py * px, py * px, -px, px, -1, 1]
        zz, yy, xx = np.unravel_index(np.arange(n), self.padded)
        self.zc, self.yc, self.xc = zz.tolist(), yy.tolist(), xx.tolist()
        self._coords_np = (zz, yy, xx)
        self.trees: dict[tuple[int, int], list[int]] = {}
        self.exits: list[list[tuple[int, int]]] = [[] for _ in range(n_neurons)]
        self.exit_used: dict[int, int] = {}
        self.axon_started = [False] * n_neurons
        self.needs_axon = [False] * n_neurons
        self.max_expansions = int(max_expansions)
        self._journal: list | None = None

    # ---------------------------------------------------------------- helpers
    def flat(self, z: int, y: int, x: int) -> int:
        """Flat index of unpadded lattice cell (z, y, x)."""
        return ((z + 1) * self.padded[1] + (y + 1)) * self.padded[2] + (x + 1)

    def coords(self, c: int) -> tuple[int, int, int]:
        """Unpadded lattice coordinates of flat index ``c``."""
        return self.zc[c] - 1, self.yc[c] - 1, self.xc[c] - 1

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
            if not exc.exhausted:
                raise
        return self._search(start, n, comp, join_any=True, budget=budget)

    def _search(self, start: int, n: int, comp: int, join_any: bool, budget: int) -> None:
        goals = self._goal_points(n, comp)
        if join_any:
            other = AXON if comp == DENDRITE else DENDRITE
            goals = goals + list(self.trees.get((n, other), ()))
        if not goals:
            raise RoutingFailed(f"neuron {n} has no tree or free soma exit for its {comp} route")
        zc, yc, xc = self.zc, self.yc, self.xc
        g_arr = np.asarray(goals)
        zz, yy, xx = self._coords_np
        d = np.abs(zz[g_arr] - zc[start]) + np.abs(yy[g_arr] - yc[start]) + np.abs(xx[g_arr] - xc[start])
        t = int(g_arr[int(np.argmin(d))])
        tz, ty, tx = zc[t], yc[t], xc[t]
        owner, cmp_, conn, off = self.owner, self.comp, self.conn, self.off
        stubs = {c + self.off[f]: c for c, f in self.exits[n] if c not in self.exit_used} if self._exit_allowed(n, comp) else {}
        best = {start: 0}
        came = {start: -1}
        # Heap key (f, -g, counter): among equal f the deepest node first, so that an open
        # grid is crossed in O(path length) expansions instead of the whole box of ties.
        heap = [(abs(zc[start] - tz) + abs(yc[start] - ty) + abs(xc[start] - tx), 0, 0, start)]
        counter = 0
        expansions = 0
        while heap:
            _, g, _, u = heapq.heappop(heap)
            g = -g
            if g > best[u]:
                continue
            expansions += 1
            if expansions > budget:
                break
            for f in range(N_FACES):
                v = u + off[f]
                o = owner[v]
                if o == FREE:
                    ng = g + 1
                    if ng < best.get(v, 1 << 60):
                        best[v] = ng
                        came[v] = u
                        counter += 1
                        heapq.heappush(heap, (ng + abs(zc[v] - tz) + abs(yc[v] - ty) + abs(xc[v] - tx), -ng, counter, v))
                elif o == n:
                    if conn[v] and (cmp_[v] == comp or (join_any and cmp_[v] in (AXON, DENDRITE))):
                        return self._claim(u, came, v, f, n, comp)
                    if cmp_[v] == STUB and v in stubs:
                        came[v] = u
                        return self._claim(v, came, stubs[v], self.off.index(stubs[v] - v), n, comp)
        exhausted = expansions <= budget
        raise RoutingFailed(f"no free path for neuron {n} (compartment {comp}) after {expansions} steps",
                            frozenset(best) if exhausted else frozenset((start,)), exhausted=exhausted)

    def _link(self, a: int, b: int, f: int) -> None:
        """Connect cell a to its neighbour b across a's face f."""
        self._set("mask", a, self.mask[a] | (1 << f))
        self._set("mask", b, self.mask[b] | (1 << (f ^ 1)))
        self._set("parent", a, b)

    def _claim(self, u: int, came: dict, v: int, f: int, n: int, comp: int) -> None:
        path = [u]
        while came[path[-1]] != -1:
            path.append(came[path[-1]])
        path.reverse()  # start ... u
        for c in path:
            if self.owner[c] == FREE or self.comp[c] == STUB:
                self._set("owner", c, n)
                self._set("comp", c, comp)
            self._set("conn", c, True)
            self._tree_append((n, comp), c)
        for a, b in zip(path[:-1], path[1:]):
            fa = self.off.index(b - a)
            self._link(a, b, fa)
        self._link(u, v, f)
        if self.comp[v] == SOMA:
            self.exit_used[v] = comp
            if self._journal is not None:
                self._journal.append((self.exit_used, v, None))
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
