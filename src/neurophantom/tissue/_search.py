"""Compiled path searches on the routing lattice (numba).

Hand-written because the routing state changes after every claimed path: a graph
library would need its graph rebuilt per route, and a dense grid search
(``skimage.graph.MCP``) re-initialises arrays the size of the lattice on every call,
which costs more than the few hundred cells a typical route visits. Scratch arrays are
kept between calls and invalidated with a visit stamp, so a search touches only the
cells it visits.

Status codes: ``FOUND`` (path returned), ``POCKET`` (the start's free surroundings are
smaller than ``pocket`` cells and hold no goal; the pocket is returned), ``EXHAUSTED``
(no path at all), ``BUDGET`` (gave up after ``budget`` expansions).
"""

from __future__ import annotations

from numba import njit

FOUND, POCKET, EXHAUSTED, BUDGET = 0, 1, 2, 3
_FREE = -1
_AXON, _DENDRITE, _STUB = 1, 2, 4


@njit(cache=True)
def _is_goal(v, owner, comp, conn, n, c, join_any, stubs):
    if owner[v] != n:
        return False
    k = comp[v]
    if conn[v] and (k == c or (join_any and (k == _AXON or k == _DENDRITE))):
        return True
    if k == _STUB:
        for s in stubs:
            if s == v:
                return True
    return False


@njit(cache=True)
def probe(start, owner, comp, conn, off, n, c, join_any, stubs, pocket, stamp, sid, came, queue):
    """Breadth-first probe from ``start`` over free cells, up to ``pocket`` cells.

    Returns (status, path length, goal cell); on FOUND the path (start first) is in
    ``queue[:length]``; on POCKET the pocket's cells are ``queue[:length]``.
    """
    stamp[start] = sid
    came[start] = -1
    queue[0] = start
    head, tail = 0, 1
    while head < tail:
        u = queue[head]
        head += 1
        for f in range(6):
            v = u + off[f]
            if stamp[v] == sid:
                continue
            if _is_goal(v, owner, comp, conn, n, c, join_any, stubs):
                # Rebuild the path start..u into the front of queue (it is no longer needed).
                m = 0
                w = u
                while w != -1:
                    m += 1
                    w = came[w]
                w = u
                for i in range(m - 1, -1, -1):
                    queue[i] = w
                    w = came[w]
                return FOUND, m, v
            if owner[v] == _FREE:
                stamp[v] = sid
                came[v] = u
                queue[tail] = v
                tail += 1
        if tail > pocket:
            return BUDGET, 0, -1
    return POCKET, tail, -1


@njit(cache=True)
def _sift_up(keys, vals, i):
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= keys[i]:
            break
        keys[p], keys[i] = keys[i], keys[p]
        vals[p], vals[i] = vals[i], vals[p]
        i = p


@njit(cache=True)
def _sift_down(keys, vals, size):
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        j = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            j = left + 1
        if keys[i] <= keys[j]:
            break
        keys[i], keys[j] = keys[j], keys[i]
        vals[i], vals[j] = vals[j], vals[i]
        i = j


@njit(cache=True)
def reverse_astar(start, owner, off, zc, yc, xc, seeds, seed_parent, budget, stamp, sid, best, came, keys, vals, path):
    """A* from every seed (free cells next to the tree, with their tree parent) to ``start``.

    The heuristic is the Manhattan distance to the single target ``start`` (consistent);
    among equal f the deepest node is popped first (key packs f, then -g). Returns
    (status, path length, anchor): on FOUND ``path[:length]`` runs from ``start`` to the
    cell next to ``anchor`` (a tree cell or soma exit cell).
    """
    sz, sy, sx = zc[start], yc[start], xc[start]
    size = 0
    cap = keys.shape[0]
    gmax = 1 << 20
    for i in range(seeds.shape[0]):
        v = seeds[i]
        if v == start:
            path[0] = start
            return FOUND, 1, seed_parent[i]
        if stamp[v] == sid and best[v] <= 1:
            continue
        stamp[v] = sid
        best[v] = 1
        came[v] = seed_parent[i]
        h = abs(zc[v] - sz) + abs(yc[v] - sy) + abs(xc[v] - sx)
        keys[size] = ((1 + h) << 21) | (gmax - 1)
        vals[size] = v
        size += 1
        _sift_up(keys, vals, size - 1)
    expansions = 0
    while size > 0:
        key = keys[0]
        u = vals[0]
        size -= 1
        keys[0] = keys[size]
        vals[0] = vals[size]
        _sift_down(keys, vals, size)
        g = gmax - (key & ((1 << 21) - 1))
        if g > best[u]:
            continue
        expansions += 1
        if expansions > budget:
            return BUDGET, 0, -1
        ng = g + 1
        for f in range(6):
            v = u + off[f]
            if v == start:
                path[0] = start
                m = 1
                w = u
                while True:
                    path[m] = w
                    m += 1
                    nxt = came[w]
                    if owner[nxt] != _FREE:  # w is a seed: nxt is its tree or exit cell
                        return FOUND, m, nxt
                    w = nxt
            if owner[v] == _FREE and (stamp[v] != sid or ng < best[v]):
                stamp[v] = sid
                best[v] = ng
                came[v] = u
                if size >= cap:
                    return BUDGET, 0, -1
                h = abs(zc[v] - sz) + abs(yc[v] - sy) + abs(xc[v] - sx)
                keys[size] = ((ng + h) << 21) | (gmax - ng)
                vals[size] = v
                size += 1
                _sift_up(keys, vals, size - 1)
    return EXHAUSTED, 0, -1
