"""An astrocyte in the tissue (issue 19) is segmented as a cell of its own and, where the
barcode labels its marker, called glia: set aside from the neurons, so the recovered
circuit is the one without glia. Scoring reads glia voxels as background, so it counts as
neither a split, a merge nor a missed neuron."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.reconstruct import ReconstructConfig, reconstruct
from neurophantom.reconstruct.config import GliaCallConfig
from neurophantom.sources import build_source
from neurophantom.sources.hidden import GliaConfig
from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.tissue.config import TissueGliaConfig
from neurophantom.validate.scores import score

N_ASTROCYTES = 2


@pytest.fixture(scope="module")
def worlds(kit):
    circuit = build_source("organoid", seed=0, options={"n_neurons": 10, "n_patterns": 0})
    out = {}
    for name, glia in (("off", None), ("on", TissueGliaConfig(astrocytes=GliaConfig(n_astrocytes=N_ASTROCYTES), seed=0))):
        ph = grow_tissue(circuit, TissueConfig(seed=0, axon_radius_um=0.25, max_channel_molecules=2000, border_cells=1,
                                               neuropil_fill=0.5, glia=glia))
        ph = ph.replace(labels=ph.labels.persist())
        scan = kit.scanned(ph, kit.exm(**kit.NOISE_FREE, labelling_efficiency=1.0, barcode=kit.SERIAL), seed=3)
        out[name] = (ph, scan)
    # The instrument's noise defaults (shot and read noise, distortion, labelling 0.7) with
    # the run presets' parallel barcodes.
    parallel = {"kind": "parallel", "fluorophores": 6, "per_tag": 2, "min_distance": 2}
    out["noisy"] = (out["on"][0], kit.scanned(out["on"][0], kit.exm(barcode=parallel), seed=5))
    return out


@pytest.fixture(scope="module")
def recons(worlds, kit):
    cfg = dict(geometry_scale=kit.GEOMETRY_SCALE)
    return {"off": reconstruct(worlds["off"][1], ReconstructConfig(**cfg)),
            "on": reconstruct(worlds["on"][1], ReconstructConfig(**cfg)),
            "noisy": reconstruct(worlds["noisy"][1], ReconstructConfig(**cfg)),
            # Control: a lab that does not know the marker (no glia call).
            "blind": reconstruct(worlds["on"][1], ReconstructConfig(**cfg, glia=GliaCallConfig(markers=())))}


def test_astrocytes_are_called_glia_and_change_no_neuron_score(worlds, recons):
    off = score(recons["off"], worlds["off"][0]).to_json()
    on = score(recons["on"], worlds["on"][0]).to_json()
    s_off, s_on = off["segmentation"], on["segmentation"]
    for k in ("segments", "truth_neurons", "matched_neurons", "split_neurons", "merged_segments"):
        assert s_on[k] == s_off[k], k
    for k in ("voi", "adapted_rand_error"):
        assert s_on[k] == pytest.approx(s_off[k], abs=1e-9), k
    assert s_off["split_neurons"] == 0 and s_off["merged_segments"] == 0  # the control is a clean reconstruction
    for k in ("edge_precision", "edge_recall"):
        assert on["connectome"][k] == off["connectome"][k]
    assert recons["on"].circuit.n_neurons == recons["off"].circuit.n_neurons
    assert len(recons["off"].glia) == 0
    assert s_on["glia"] == {"truth_astrocytes": N_ASTROCYTES, "called": N_ASTROCYTES, "correct_calls": N_ASTROCYTES,
                            "found": N_ASTROCYTES, "taken_for_neurons": 0, "precision": 1.0, "recall": 1.0}
    assert s_off["glia"]["truth_astrocytes"] == 0 and s_off["glia"]["called"] == 0


@pytest.mark.parametrize("name, rel", [("on", 0.01), ("noisy", 0.15)])
def test_each_glia_call_is_a_true_astrocyte(worlds, recons, name, rel):
    """Every astrocyte is called once, every call's cell voxels are mostly one astrocyte's, its
    marker count is the phantom's: noise-free scan, full labelling, within 1%; the
    instrument's defaults (labelling 0.7, noise), within 15% (binomial sd at ~500 markers
    is ~3%, plus puncta lost in the noise)."""
    ph = worlds[name][0]
    rec = recons[name]
    g = rec.glia
    assert len(g) == N_ASTROCYTES
    seg = np.asarray(rec.segmentation.compute())
    lab = np.asarray(ph.labels.compute())
    truth_glia = set(int(v) for v in ph.glia["label"])
    hit = set()
    for row in g.itertuples():
        inside = lab[seg == row.id]
        vals, counts = np.unique(inside[inside > 0], return_counts=True)  # cell voxels (not the space between)
        best = int(vals[np.argmax(counts)])
        assert best in truth_glia and counts.max() / counts.sum() > 0.9
        hit.add(best)
        n_true = int(ph.glia.set_index("label").loc[best, "marker_count"])
        assert row.marker_molecules == pytest.approx(n_true, rel=rel)
    assert hit == truth_glia
    assert (g["marker_fraction"] > 0.9).all()


def test_without_the_marker_astrocytes_become_ghost_neurons(worlds, recons):
    """The control: a reconstruction that does not call glia recovers each astrocyte as a
    neuron (no channels, no synapses)."""
    assert len(recons["blind"].glia) == 0
    assert recons["blind"].circuit.n_neurons == recons["on"].circuit.n_neurons + N_ASTROCYTES
    g = score(recons["blind"], worlds["on"][0]).to_json()["segmentation"]["glia"]
    assert g["taken_for_neurons"] == N_ASTROCYTES and g["found"] == 0 and g["recall"] == 0.0
