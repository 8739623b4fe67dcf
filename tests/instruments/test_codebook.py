"""Codebooks against known codes and bounds; decoding of exact and corrupted vectors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.instruments.codebook import (
    design_parallel_codebook,
    design_serial_codebook,
    johnson_bound,
    serial_capacity_bound,
)
from neurophantom.instruments.parallel import crosstalk_matrix
from neurophantom.reconstruct.barcodes import UNKNOWN, decode_parallel, decode_serial
from neurophantom.types.scan import Codebook


def names(n):
    return [f"p{i}" for i in range(n)]


def test_lexicodes_reproduce_perfect_codes():
    # Conway & Sloane 1986: lexicodes give the Hamming codes. Binary [7,4,3]: 16 words;
    # ternary [4,2,3]: 9 words; both meet the sphere-packing bound (perfect codes).
    b = design_serial_codebook(names(16), rounds=7, colors=2, min_distance=3)
    assert b.capacity == 16 == serial_capacity_bound(7, 2, 3)
    t = design_serial_codebook(names(9), rounds=4, colors=3, min_distance=3)
    assert t.capacity == 9 == serial_capacity_bound(4, 3, 3)
    # Fano plane: 7 lines of 3 points, pairwise meeting once -> binary distance 4, the Johnson bound.
    f = design_parallel_codebook(names(7), fluorophores=7, per_tag=3, min_distance=4)
    assert f.capacity == 7 == johnson_bound(7, 4, 3)
    assert all(int(a @ c) == 1 for a, c in itertools.combinations(f.codewords, 2))


@pytest.mark.parametrize("rounds,colors,d", [(6, 4, 1), (6, 4, 2), (6, 4, 3), (5, 3, 4), (7, 3, 3)])
def test_serial_codebook_distance_and_capacity(rounds, colors, d):
    cb = design_serial_codebook(names(3), rounds, colors, d)
    assert cb.achieved_min_distance >= d
    assert cb.capacity <= cb.capacity_bound <= colors ** (rounds - d + 1)  # Singleton
    if d == 1:
        assert cb.capacity == colors**rounds
    else:
        full = design_serial_codebook(names(cb.capacity), rounds, colors, d)  # the whole code is valid
        assert full.achieved_min_distance >= d


@pytest.mark.parametrize("f,k,d", [(8, 3, 2), (8, 3, 4), (10, 4, 4), (10, 4, 6), (12, 3, 4)])
def test_parallel_codebook_constant_weight(f, k, d):
    cb = design_parallel_codebook(names(2), f, k, d)
    assert (cb.codewords.sum(axis=1) == k).all()
    full = design_parallel_codebook(names(cb.capacity), f, k, d)
    assert full.achieved_min_distance >= d
    assert cb.capacity <= cb.capacity_bound
    if d == 2:
        assert cb.capacity == cb.capacity_bound  # every k-subset


def test_too_many_proteins_names_the_capacity():
    with pytest.raises(NeurophantomError, match="holds 9 protein types, 10 needed"):
        design_serial_codebook(names(10), 4, 3, 3)
    with pytest.raises(NeurophantomError, match="holds 7 protein types, 8 needed"):
        design_parallel_codebook(names(8), 7, 3, 4)


def test_codebook_json_round_trip_and_validation():
    cb = design_serial_codebook(names(5), 6, 4, 3)
    back = Codebook.from_json(cb.to_json())
    assert back.proteins == cb.proteins and np.array_equal(back.codewords, cb.codewords)
    bad = cb.to_json()
    bad["codewords"][1] = bad["codewords"][0]  # distance 0
    with pytest.raises(NeurophantomError, match="below min_distance"):
        Codebook.from_json(bad)


def one_hot(words, colors):
    n, r = words.shape
    v = np.zeros((n, r, colors))
    v[np.arange(n)[:, None], np.arange(r)[None, :], words] = 1.0
    return v.reshape(n, r * colors)


def test_serial_decoding_exact_corrected_and_ambiguous():
    cb = design_serial_codebook(names(20), 6, 4, 3)
    v = one_hot(cb.codewords, 4)
    assert np.array_equal(decode_serial(v, cb).index, np.arange(20))
    # one wrong round is corrected at d = 3
    bad = cb.codewords.copy()
    bad[:, 2] = (bad[:, 2] + 1) % 4
    assert np.array_equal(decode_serial(one_hot(bad, 4), cb).index, np.arange(20))
    # two wrong rounds: never silently accepted as the right word; d = 3 cannot correct them
    bad[:, 4] = (bad[:, 4] + 1) % 4
    dec = decode_serial(one_hot(bad, 4), cb)
    assert not np.any(dec.index == np.arange(20))
    # erasure (dark round) + no error is fine at d = 3; at d = 1 an erasure makes it unknown
    dark = one_hot(cb.codewords, 4).reshape(20, 6, 4)
    dark[:, 0] = 0
    assert np.array_equal(decode_serial(dark.reshape(20, -1), cb).index, np.arange(20))
    cb1 = design_serial_codebook(names(20), 6, 4, 1)
    d1 = one_hot(cb1.codewords, 4).reshape(20, 6, 4)
    d1[:, 0] = 0
    assert np.all(decode_serial(d1.reshape(20, -1), cb1).index == UNKNOWN)


def test_parallel_decoding_exact_and_crosstalk_unmixed():
    cb = design_parallel_codebook(names(56), 8, 3, 2)
    x = crosstalk_matrix(8, 0.3)
    assert np.allclose(x.sum(axis=0), 1.0)
    spectra = 100.0 * cb.codewords @ x.T
    dec = decode_parallel(spectra, cb, x)
    assert np.array_equal(dec.index, np.arange(56)) and np.all(dec.distance == 0)
    # ignoring the crosstalk (identity) misreads some conjugates: unmixing matters
    assert np.any(decode_parallel(spectra, cb, np.eye(8)).index != np.arange(56))
    # a dark punctum is unknown
    assert decode_parallel(np.zeros((1, 8)), cb, x).index[0] == UNKNOWN


def test_decoder_cannot_reach_ground_truth():
    # reconstruct/ sees only what an instrument produced: no Phantom, tissue or instrument internals
    import ast
    import inspect

    import neurophantom.reconstruct.barcodes as mod

    tree = ast.parse(inspect.getsource(mod))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(("phantom" in m) or ("tissue" in m) or ("instruments" in m) for m in imported), imported
