"""An astrocyte in the tissue (issue 19) is segmented as a cell of its own; scoring reads
glia voxels as background, so it counts as neither a split, a merge nor a missed neuron."""

from __future__ import annotations

import pytest

from neurophantom.reconstruct import ReconstructConfig, reconstruct
from neurophantom.sources import build_source
from neurophantom.sources.hidden import GliaConfig
from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.tissue.config import TissueGliaConfig
from neurophantom.validate.scores import score

N_ASTROCYTES = 2


def _score(circuit, kit, glia):
    ph = grow_tissue(circuit, TissueConfig(seed=0, axon_radius_um=0.25, max_channel_molecules=2000, border_cells=1,
                                           neuropil_fill=0.5, glia=glia))
    ph = ph.replace(labels=ph.labels.persist())
    scan = kit.scanned(ph, kit.exm(**kit.NOISE_FREE, labelling_efficiency=1.0, barcode=kit.SERIAL), seed=3)
    return score(reconstruct(scan, ReconstructConfig(geometry_scale=kit.GEOMETRY_SCALE)), ph).to_json()


def test_astrocytes_are_extra_segments_that_change_no_neuron_score(kit):
    circuit = build_source("organoid", seed=0, options={"n_neurons": 10, "n_patterns": 0})
    off = _score(circuit, kit, None)
    on = _score(circuit, kit, TissueGliaConfig(astrocytes=GliaConfig(n_astrocytes=N_ASTROCYTES), seed=0))
    s_off, s_on = off["segmentation"], on["segmentation"]
    assert s_on["segments"] == s_off["segments"] + N_ASTROCYTES  # each astrocyte found as one segment
    for k in ("truth_neurons", "matched_neurons", "split_neurons", "merged_segments"):
        assert s_on[k] == s_off[k], k
    for k in ("voi", "adapted_rand_error"):
        assert s_on[k] == pytest.approx(s_off[k], abs=1e-9), k
    assert s_off["split_neurons"] == 0 and s_off["merged_segments"] == 0  # the control is a clean reconstruction
    for k in ("edge_precision", "edge_recall"):
        assert on["connectome"][k] == off["connectome"][k]
