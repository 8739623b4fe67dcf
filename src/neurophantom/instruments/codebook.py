"""Codebook design: which barcode each protein type gets.

Serial barcodes are words of length R (rounds) over C colours (one colour per round); the
distance between two words is the number of rounds in which they differ. Parallel
barcodes are k-subsets of F fluorophores, i.e. binary constant-weight words of length F
and weight k; their Hamming distance is ``2 (k - |A & B|)`` (always even).

Both are built as greedy lexicographic codes (lexicodes; Conway & Sloane 1986): scan all
words in lexicographic order and keep each one at distance >= d from all kept so far.
Lexicodes are good codes (binary lexicodes reproduce the Hamming and Golay codes), and the
construction is deterministic. The full lexicode size is the reported capacity (computed
when the word space is small enough to enumerate); an upper bound is reported too:
the Singleton and sphere-packing bounds for serial codes, the Johnson bound for
constant-weight codes (MacWilliams & Sloane 1977, ch. 1 and 17).

References
----------
Conway JH, Sloane NJA (1986) Lexicographic codes: error-correcting codes from game theory.
IEEE Trans Inf Theory 32:337-348.
MacWilliams FJ, Sloane NJA (1977) The Theory of Error-Correcting Codes. North-Holland.
Chen KH, Boettiger AN, Moffitt JR, Wang S, Zhuang X (2015) Spatially resolved, highly
multiplexed RNA profiling in single cells (MERFISH). Science 348:aaa6090.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from .._errors import NeurophantomError
from ..types.scan import Codebook

#: Serial word spaces larger than this are not enumerated in full (capacity then a bound only).
MAX_ENUMERATE = 1 << 22
#: Largest number of k-of-F conjugates a parallel code is designed over.
MAX_CONJUGATES = 1 << 15


def _greedy(words: np.ndarray, d: int, stop_at: int | None) -> np.ndarray:
    """Greedy lexicode from ``words`` (lexicographic order); Hamming distance on rows."""
    buf = np.empty(words.shape, dtype=words.dtype)
    n = 0
    for w in words:
        if n == 0 or int(np.min(np.count_nonzero(buf[:n] != w, axis=1))) >= d:
            buf[n] = w
            n += 1
            if stop_at is not None and n >= stop_at:
                break
    return buf[:n].copy()


def _serial_lexicode(rounds: int, colors: int, d: int, n_words: int, stop_at: int | None) -> np.ndarray:
    """Greedy q-ary lexicode over the first ``n_words`` words (base-``colors`` integers).

    Marking the radius-(d-1) ball of each chosen word as taken costs |code| x |ball|
    instead of |space| x |code| comparisons.
    """
    powers = colors ** np.arange(rounds - 1, -1, -1, dtype=np.int64)
    moves = []  # (positions, shifts (m, s)) of every pattern of 1..d-1 changed rounds
    for s in range(1, d):
        shifts = np.array(list(itertools.product(range(1, colors), repeat=s)), dtype=np.int64)
        moves += [(np.array(pos), shifts) for pos in itertools.combinations(range(rounds), s)]
    free = np.ones(n_words, dtype=bool)
    chosen = []
    i = 0
    while i < n_words:
        chosen.append(i)
        if stop_at is not None and len(chosen) >= stop_at:
            break
        digits = (i // powers) % colors
        for pos, shifts in moves:
            new = (digits[pos][None, :] + shifts) % colors
            j = i + ((new - digits[pos][None, :]) * powers[pos][None, :]).sum(axis=1)
            free[j[j < n_words]] = False
        free[i] = False
        # The next free word: argmax of a boolean array stops at the first True, where
        # flatnonzero would scan (and allocate) the whole rest of the word space each time.
        j = int(np.argmax(free[i:]))
        if not free[i + j]:
            break
        i += j
    idx = np.array(chosen, dtype=np.int64)
    return ((idx[:, None] // powers[None, :]) % colors).astype(np.int64)


def serial_capacity_bound(rounds: int, colors: int, d: int) -> int:
    """min(Singleton, sphere-packing) bound on a q-ary code of length R, distance d."""
    singleton = colors ** (rounds - d + 1)
    t = (d - 1) // 2
    ball = sum(math.comb(rounds, i) * (colors - 1) ** i for i in range(t + 1))
    return int(min(singleton, colors**rounds // ball))


@lru_cache(maxsize=None)
def johnson_bound(n: int, d: int, w: int) -> int:
    """Johnson bound A(n, d, w) on a binary constant-weight code (d even)."""
    delta = (d + 1) // 2  # distance 2*delta
    if w < delta or n < w:
        return 1 if 0 <= w <= n else 0
    if w == delta:
        return n // w
    return (n * johnson_bound(n - 1, d, w - 1)) // w


def design_serial_codebook(proteins, rounds: int, colors: int, min_distance: int = 1) -> Codebook:
    """A serial codebook: one word of ``rounds`` colour symbols per protein type.

    Raises :class:`NeurophantomError` when the lexicode with this distance has fewer words
    than protein types (the message states the capacity).
    """
    proteins = tuple(str(p) for p in proteins)
    if rounds < 1 or colors < 2:
        raise NeurophantomError(f"serial barcodes need rounds >= 1 and colors >= 2, got {rounds} x {colors}")
    if not 1 <= min_distance <= rounds:
        raise NeurophantomError(f"serial min_distance must be in [1, rounds={rounds}], got {min_distance}")
    space = colors**rounds
    full = space <= MAX_ENUMERATE
    code = _serial_lexicode(rounds, colors, min_distance, min(space, MAX_ENUMERATE), None if full else len(proteins))
    capacity = int(code.shape[0]) if full else None
    bound = serial_capacity_bound(rounds, colors, min_distance)
    if code.shape[0] < len(proteins):
        raise NeurophantomError(
            f"serial code {rounds} rounds x {colors} colours with min distance {min_distance} holds "
            f"{capacity if capacity is not None else code.shape[0]} protein types, {len(proteins)} needed")
    return Codebook(scheme="serial", proteins=proteins, codewords=code[: len(proteins)].astype(np.int64),
                    rounds=rounds, colors=colors, fluorophores=None, per_tag=None,
                    min_distance=min_distance, capacity=capacity, capacity_bound=bound)


def design_parallel_codebook(proteins, fluorophores: int, per_tag: int, min_distance: int = 2) -> Codebook:
    """A parallel codebook: one k-of-F fluorophore conjugate per protein type."""
    proteins = tuple(str(p) for p in proteins)
    if fluorophores < 2 or not 1 <= per_tag < fluorophores:
        raise NeurophantomError(f"parallel barcodes need 1 <= per_tag < fluorophores, got {per_tag} of {fluorophores}")
    if not 1 <= min_distance <= 2 * per_tag:
        raise NeurophantomError(f"parallel min_distance must be in [1, 2*per_tag={2 * per_tag}], got {min_distance}")
    if math.comb(fluorophores, per_tag) > MAX_CONJUGATES:
        raise NeurophantomError(f"C({fluorophores}, {per_tag}) conjugates is too many to design a code over")
    words = np.zeros((math.comb(fluorophores, per_tag), fluorophores), dtype=np.int16)
    for i, subset in enumerate(itertools.combinations(range(fluorophores), per_tag)):
        words[i, list(subset)] = 1
    d_eff = min_distance + (min_distance % 2)  # constant-weight distances are even
    code = words if d_eff <= 2 else _greedy(words, d_eff, None)
    if code.shape[0] < len(proteins):
        raise NeurophantomError(
            f"parallel code {per_tag} of {fluorophores} fluorophores with min distance {min_distance} holds "
            f"{code.shape[0]} protein types, {len(proteins)} needed")
    return Codebook(scheme="parallel", proteins=proteins, codewords=code[: len(proteins)].astype(np.int64),
                    rounds=None, colors=None, fluorophores=fluorophores, per_tag=per_tag,
                    min_distance=min_distance, capacity=int(code.shape[0]),
                    capacity_bound=johnson_bound(fluorophores, d_eff, per_tag))


def combinatorial_bound(scheme: str, *, rounds: int | None = None, colors: int | None = None,
                        fluorophores: int | None = None, per_tag: int | None = None) -> int:
    """Every distinct barcode of a shape, at any distance: ``colors ** rounds`` serial
    words or ``C(fluorophores, per_tag)`` conjugates. No code of that shape, and so no
    readout, can tell more protein types apart."""
    if scheme == "serial":
        return int(colors) ** int(rounds)
    if scheme == "parallel":
        return math.comb(int(fluorophores), int(per_tag))
    raise NeurophantomError(f"barcode scheme must be 'serial' or 'parallel', got {scheme!r}")


def protein_library(real, n_types: int) -> tuple[str, ...]:
    """A protein library of ``n_types`` names: the ``real`` types first, then synthetic
    ones (``extra_00``, ...) that stand for the dozens of membrane protein types a brain
    holds and compete with the real ones for codewords."""
    real = tuple(dict.fromkeys(str(p) for p in real))
    if n_types < 1:
        raise NeurophantomError(f"a protein library needs at least one type, got {n_types}")
    extra = max(0, int(n_types) - len(real))
    width = max(2, len(str(extra - 1))) if extra else 2
    return (real + tuple(f"extra_{i:0{width}d}" for i in range(extra)))[: int(n_types)]
