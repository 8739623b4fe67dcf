"""Shared phantoms, scans and reconstructions for the reconstruction checks.

The tissue is drawn with axons of 0.25 um (biological) radius, so that at 40 nm voxels
every neurite has a lumen (a neurite thinner than two membrane voxels has none and cannot
be told from a contact by a membrane stain; see ``neurophantom.reconstruct.segment``), and
with channel molecules capped at 2000, one free lattice cell around the tissue and a
dense neuropil, so that the volumes stay small and the scans render fast. Scans are 11x ExM
with a camera voxel that gives 40 nm specimen voxels (the phantom's own).
"""

from __future__ import annotations

import dataclasses
import functools
import types

import pytest

from neurophantom.instruments.exm import ExpansionLightSheet
from neurophantom.instruments.static import scan
from neurophantom.reconstruct import ReconstructConfig, reconstruct
from neurophantom.sources import build_source
from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.validate.scores import score

GEOMETRY_SCALE = 0.35  # TissueConfig's default, passed on to the reconstruction
#: 11x expansion with a camera voxel that gives 40 nm specimen voxels (the phantom's).
CAMERA_40NM = (440.0, 440.0, 440.0)
NOISE_FREE = {"shot_noise": False, "read_noise_e": 0.0, "distortion_nm": 0.0}
SERIAL = {"kind": "serial", "rounds": 4, "colors": 4, "min_distance": 3, "degradation": 0.0, "registration_nm": 0.0}


@functools.lru_cache(maxsize=None)
def organoid_phantom(n_neurons: int, seed: int = 0):
    circuit = build_source("organoid", seed=seed, options={"n_neurons": n_neurons, "n_patterns": 0})
    phantom = grow_tissue(circuit, TissueConfig(seed=seed, axon_radius_um=0.25, max_channel_molecules=2000,
                                                  border_cells=1, neuropil_fill=0.5))
    return phantom.replace(labels=phantom.labels.persist())  # rendered once, not per scan and score


def exm(**kw) -> ExpansionLightSheet:
    return ExpansionLightSheet(camera_voxel_nm=CAMERA_40NM, **kw)


def scanned(phantom, config, seed: int = 0, chunks=(128, 128, 128)):
    """A scan with its images computed once and kept in memory."""
    s = scan(phantom, config, seed=seed, chunks=chunks)
    return dataclasses.replace(s, images=s.images.persist(),
                               lost_mask=None if s.lost_mask is None else s.lost_mask.persist())


@pytest.fixture(scope="session")
def kit():
    """Helpers for building scans in tests."""
    return types.SimpleNamespace(phantom=organoid_phantom, exm=exm, scanned=scanned, NOISE_FREE=NOISE_FREE, SERIAL=SERIAL,
                                 GEOMETRY_SCALE=GEOMETRY_SCALE)


@pytest.fixture(scope="session")
def organoid20():
    """A 20-neuron organoid phantom (no memory patterns)."""
    return organoid_phantom(20)


@pytest.fixture(scope="session")
def clean_scan(organoid20):
    """Noise-free, undamaged 11x ExM scan with serial barcodes (labelling efficiency 1)."""
    return scanned(organoid20, exm(**NOISE_FREE, labelling_efficiency=1.0, barcode=SERIAL), seed=3)


@pytest.fixture(scope="session")
def clean_recon(clean_scan):
    return reconstruct(clean_scan, ReconstructConfig(geometry_scale=GEOMETRY_SCALE))


@pytest.fixture(scope="session")
def clean_score(clean_recon, organoid20):
    return score(clean_recon, organoid20)


@pytest.fixture(scope="session")
def organoid12():
    """A 12-neuron organoid phantom for the degradation curves."""
    return organoid_phantom(12)
