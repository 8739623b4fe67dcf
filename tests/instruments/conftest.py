"""Small specimens and phantoms built by hand (fast, independent of the tissue stage)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurophantom.instruments.specimen import Specimen
from neurophantom.types.phantom import Phantom, empty_phantom_table

VOXEL_NM = (40.0, 40.0, 40.0)


def box_labels(shape=(30, 36, 36)) -> np.ndarray:
    """Three touching boxes (labels 1..3) in extracellular space (0)."""
    lab = np.zeros(shape, np.uint32)
    z, y, x = shape
    lab[3:z // 2, 3:y - 3, 3:x // 2] = 1
    lab[z // 2:z - 3, 3:y - 3, 3:x - 3] = 2
    lab[3:z // 2, 3:y // 2, x // 2:x - 3] = 3
    return lab


def lattice_specimen(n_types: int, extent_nm=(1600.0, 1600.0, 1600.0), step_nm=(400.0, 200.0, 200.0),
                     seed: int = 0) -> Specimen:
    """Molecules on a lattice (puncta well apart at 11x ExM), random protein types."""
    g = [np.arange(s / 2 + 100, e - 100, s) for e, s in zip(extent_nm, step_nm)]
    pos = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
    prot = np.random.default_rng(seed).integers(0, n_types, len(pos))
    lab = box_labels(tuple(int(e / v) for e, v in zip(extent_nm, VOXEL_NM)))
    return Specimen(lab, VOXEL_NM, pos, prot, tuple(f"p{i}" for i in range(n_types)))


def make_phantom(labels: np.ndarray, pos_nm: np.ndarray, proteins: list[str], chunks=(16, 16, 16)) -> Phantom:
    ids = np.unique(labels[labels > 0]).astype(np.int64)
    neurons = pd.DataFrame({
        "neuron_id": ids, "label": ids, "name": [f"n{i}" for i in ids], "cell_type": ["box"] * len(ids),
        "soma_z_um": np.ones(len(ids)), "soma_y_um": np.ones(len(ids)), "soma_x_um": np.ones(len(ids)),
        "soma_radius_um": np.full(len(ids), 0.2), "membrane_area_um2": np.ones(len(ids)),
    })
    owner = labels[tuple(np.floor(pos_nm / np.array(VOXEL_NM)).astype(int).T)].astype(np.int64)
    owner = np.where(owner > 0, owner, ids[0])
    molecules = pd.DataFrame({
        "z_nm": pos_nm[:, 0], "y_nm": pos_nm[:, 1], "x_nm": pos_nm[:, 2], "protein": proteins,
        "kind": ["receptor"] * len(proteins), "neuron_id": owner,
        "synapse_id": np.full(len(proteins), -1), "gap_id": np.full(len(proteins), -1),
    })
    import dask.array as da

    return Phantom(labels=da.from_array(labels, chunks=chunks), voxel_size_nm=VOXEL_NM, neurons=neurons,
                   synapses=empty_phantom_table("synapses"), gap_junctions=empty_phantom_table("gap_junctions"),
                   molecules=molecules, skeletons=empty_phantom_table("skeletons"), provenance={"source": "test"},
                   config={}, seed=0)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory):
    """A saved phantom: three boxes, 27 molecules of three protein types."""
    spec = lattice_specimen(3, extent_nm=(800.0, 960.0, 960.0), step_nm=(200.0, 240.0, 240.0), seed=2)
    names = [spec.proteins[i] for i in spec.molecule_protein]
    p = tmp_path_factory.mktemp("phantom") / "phantom"
    make_phantom(np.asarray(spec.labels), spec.molecule_pos_nm, names).save(p)
    return p


@pytest.fixture(scope="session")
def make_lattice():
    """Factory: ``make_lattice(n_types, extent_nm=..., step_nm=..., seed=...) -> Specimen``."""
    return lattice_specimen
