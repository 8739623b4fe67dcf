"""Oracle: the same scan cut into other chunks. Every stage works chunk by chunk with
halos and stitching, so 64^3 and 128^3 chunks must give the same neurons and edges."""

from __future__ import annotations

import numpy as np

from neurophantom.reconstruct import ReconstructConfig, reconstruct


def _edges(recon) -> set:
    c = recon.contacts
    return set(zip(c["kind"], c["pre"], c["post"]))


def test_64_and_128_voxel_chunks_agree(clean_scan, clean_recon, kit):
    small = reconstruct(clean_scan, ReconstructConfig(geometry_scale=kit.GEOMETRY_SCALE, chunk_vox=(64, 64, 64),
                                                      morphology={"skeletons": False}))
    a = np.asarray(clean_recon.segmentation.compute())
    b = np.asarray(small.segmentation.compute())
    shape = clean_scan.shape
    assert small.segmentation.chunksize == tuple(min(64, n) for n in shape)
    assert clean_recon.segmentation.chunksize == tuple(min(128, n) for n in shape)
    assert max(shape) > 128  # both chunkings really cut the volume
    # Segment ids are numbered by position, not by chunk, so the volumes compare directly.
    assert np.count_nonzero(a != b) / a.size < 1e-4
    assert _edges(small) == _edges(clean_recon)
    syn_a = clean_recon.circuit.synapses[["synapse_id", "pre", "post"]]
    syn_b = small.circuit.synapses[["synapse_id", "pre", "post"]]
    assert syn_a.equals(syn_b)
    # Puncta are found with halos too; their counts agree to within a molecule in all.
    prot = list(clean_recon.record["decoding"]["proteins"])
    assert abs(clean_recon.puncta[prot].to_numpy().sum() - small.puncta[prot].to_numpy().sum()) < 1.0
