"""Oracle: the instrument's own amplitude functions. The decoder's signature of one
molecule must equal what the virtual instrument renders for it; mixtures of molecules are
solved exactly when the codewords are independent; ambiguous single puncta are undecided."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.instruments.codebook import design_parallel_codebook, design_serial_codebook
from neurophantom.instruments.parallel import ParallelBarcode, crosstalk_matrix, parallel_amplitudes
from neurophantom.instruments.serial import SerialBarcode, serial_amplitudes
from neurophantom.reconstruct import DecodeConfig
from neurophantom.reconstruct.barcodes import UNKNOWN
from neurophantom.reconstruct.puncta import MIXTURE, SignatureModel, decode_vectors
from neurophantom.reconstruct.synapses import protein_kind

PROTEINS = ("ampa", "gaba_a", "gaba_b", "kca", "kdr", "leak", "na", "nmda")


def _serial_model(bc: SerialBarcode, photons: float) -> SignatureModel:
    book = design_serial_codebook(PROTEINS, bc.rounds, bc.colors, bc.min_distance)
    r = np.arange(bc.rounds)
    a = photons * (1 - bc.signal_loss) ** r * (1 - bc.degradation) ** r
    sig = serial_amplitudes(book.codewords, np.full(len(PROTEINS), photons), bc, np.random.default_rng(0)).T
    d = bc.rounds * bc.colors
    return SignatureModel("serial", PROTEINS, tuple(range(d)), sig, np.zeros(d), np.ones(d), 1.0, a, None, book)


def test_serial_signature_is_what_the_instrument_renders():
    from neurophantom.instruments.exm import ExpansionLightSheet
    from neurophantom.instruments.specimen import Specimen
    from neurophantom.instruments.static import scan
    from neurophantom.reconstruct.puncta import signature_model

    bc = SerialBarcode(rounds=4, colors=4, min_distance=3, degradation=0.0, registration_nm=0.0, washout=0.05)
    spec = Specimen(np.zeros((4, 4, 4), np.uint32), (40.0, 40.0, 40.0), np.array([[80.0, 80.0, 80.0]]), np.array([0]), PROTEINS)
    s = scan(spec, ExpansionLightSheet(camera_voxel_nm=(440.0,) * 3, barcode=bc, punctum_photons=300.0), seed=0)
    model = signature_model(s)
    ref = serial_amplitudes(s.codebook.codewords, np.full(len(PROTEINS), 300.0), bc, np.random.default_rng(0)).T
    assert model.signatures == pytest.approx(ref, rel=1e-12)
    assert model.identifiable and model.efficiency == pytest.approx(0.7)


@pytest.mark.parametrize("seed", range(3))
def test_mixtures_are_solved_exactly_and_singles_are_called(seed):
    bc = SerialBarcode(rounds=4, colors=4, min_distance=3, degradation=0.0)
    model = _serial_model(bc, 300.0)
    assert model.identifiable
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, size=(30, len(PROTEINS))).astype(float)
    counts[:8] = 0.0
    counts[np.arange(8), rng.integers(0, len(PROTEINS), 8)] = 1.0  # eight single molecules
    vec = counts @ model.signatures.T
    got, call, unknown = decode_vectors(vec, model, DecodeConfig())
    assert got == pytest.approx(counts, abs=1e-9)
    assert (call[:8] == counts[:8].argmax(axis=1)).all() and (call[8:][counts[8:].sum(1) > 1.5] == MIXTURE).all()
    assert (unknown == 0).all()


def test_an_ambiguous_single_molecule_is_undecided_not_typed():
    bc = SerialBarcode(rounds=4, colors=4, min_distance=3, degradation=0.0, washout=0.0)
    model = _serial_model(bc, 300.0)
    # A word two rounds away from every codeword: beyond the correcting radius (d = 3 corrects one).
    import itertools

    cw = model.codebook.codewords
    word = next(w for w in itertools.product(range(4), repeat=4) if (np.asarray(w) != cw).sum(axis=1).min() >= 2)
    v = np.zeros((4, 4))
    v[np.arange(4), word] = model.round_brightness
    got, call, unknown = decode_vectors(v.reshape(1, -1), model, DecodeConfig())
    assert call[0] == UNKNOWN and got.sum() == 0.0 and unknown[0] == pytest.approx(1.0)


def test_parallel_mixtures_with_crosstalk():
    bc = ParallelBarcode(fluorophores=10, per_tag=3, min_distance=2, crosstalk=0.15, brightness_cv=0.0, unmixing_error=0.0)
    book = design_parallel_codebook(PROTEINS, bc.fluorophores, bc.per_tag, bc.min_distance)
    x = crosstalk_matrix(bc.fluorophores, bc.crosstalk)
    sig = 200.0 * x @ book.codewords.T.astype(float)
    model = SignatureModel("parallel", PROTEINS, tuple(range(10)), sig, np.zeros(10), np.ones(10), 1.0, None, x, book)
    assert model.identifiable
    # The instrument's renderer gives the same photons for one molecule of each type.
    ref = parallel_amplitudes(book.codewords, np.full(len(PROTEINS), 200.0), bc, x, np.random.default_rng(0))
    assert ref == pytest.approx(sig.T)
    counts = np.array([[0, 0, 0, 0, 0, 0, 1, 0], [3, 0, 2, 0, 0, 1, 0, 4]], float)
    got, call, _ = decode_vectors(counts @ sig.T, model, DecodeConfig())
    assert got == pytest.approx(counts, abs=1e-9) and call.tolist() == [6, MIXTURE]


def test_protein_kinds_come_from_the_biophysics_library():
    assert [protein_kind(p) for p in ("ampa", "na", "connexin", "gfp")] == ["receptor", "channel", "connexin", "other"]


@pytest.mark.parametrize("dilation, lo, hi", [(1, 0.97, 1.03), (0, 0.0, 0.95)])
def test_isolated_molecules_are_counted_without_bias(dilation, lo, hi):
    """Oracle: the number of molecules placed. 512 isolated AMPA molecules at random
    sub-voxel positions, fully labelled, imaged with shot and read noise: the decoded
    counts sum to 512 within 3% when a punctum's dim edge is counted (basins grown by one
    voxel). The control (voxels above the threshold only) loses the light of every
    punctum's edge and counts more than 5% low."""
    from neurophantom.instruments.exm import ExpansionLightSheet
    from neurophantom.instruments.specimen import Specimen
    from neurophantom.instruments.static import scan
    from neurophantom.reconstruct.chunks import Grid, WorkStore
    from neurophantom.reconstruct.puncta import find_and_decode

    rng = np.random.default_rng(4)
    g = (np.stack(np.meshgrid(*[np.arange(4, 64, 8)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + rng.uniform(0, 1, (512, 3))) * 40.0
    spec = Specimen(np.zeros((64, 64, 64), np.uint32), (40.0, 40.0, 40.0), g, np.zeros(len(g), np.int64), ("ampa", "leak"))
    bc = ParallelBarcode(fluorophores=6, per_tag=2, min_distance=2)
    s = scan(spec, ExpansionLightSheet(camera_voxel_nm=(440.0,) * 3, barcode=bc, labelling_efficiency=1.0, distortion_nm=0.0), seed=1)
    grid = Grid(s.shape, (32, 32, 32))
    store = WorkStore(grid)
    store.array("segmentation", np.uint32)
    store.array("lost", np.uint8)
    _, puncta = find_and_decode(s, grid, store, DecodeConfig(basin_dilation_vox=dilation))
    store.close()
    found = float(puncta[["ampa", "leak"]].to_numpy().sum())
    assert lo <= found / len(g) <= hi, found / len(g)
