"""Is synapse size enough? Memory recall through the two scanning modalities.

The organoid stores one memory (a Hebbian assembly of 10 pyramidal cells whose mutual
synapses carry 61x the AMPA receptors, and at ``receptor_predictability`` = 0 as many
more NMDA receptors). How much of it shows in synapse size follows the world's
``receptor_predictability`` (sources/organoid_receptors.py): at 1 the assembly's
synapses grow with their receptors, at 0 no shape reveals them. Each world runs the main
job up to ``function`` (the same stages and caches as ``neurophantom run``): identify the
map on a training specimen, then emulate a held-out specimen from its barcoded
expansion scan, and from its receptor-blind synchrotron scan filled by the Rosetta map
learned on 30% of the training specimen's barcoded synapses; cue half the assembly in
the truth and in both emulations (same cue, same background noise) and score recall.

Oracle: the ground truth's own recall in the same run, and the ordering the question
predicts, asserted as fractions of the truth's score (no absolute numbers): a pipeline
*recovers* the memory when its recall is at least a fifth of the truth's (its uncued
half rises beyond the other excitatory cells at least a fifth as much, relative to the
cue's own rise, as the truth's does), and *does not* when its recall is below a tenth of
the truth's. Measured on these seeds (recall scores truth / barcoded / Rosetta),
predictability 0: with this test's search (2 x 10 CMA-ES generations) 0.51 / 0.68 / -0.13
(0.51 / 0.70 / -0.04 before the segmentation's strict leak guard),
with the default run's (3 x 25) 0.51 / 0.52 / -0.07 (the ladder then: truth 0.985,
reconstruction with true membranes 0.949, effective-true map 0.939, pipeline 0.636).
The emulation/truth ratio (1.34 and 1.02) follows the fit this much, so issue 16's
two-sided bar on it ([0.75, 1.33]) is reported here, not asserted.

At predictability 1 the question's other half (both modalities recover a memory that
shape shows) is measured, not asserted: truth 0.83, barcoded 0.15, Rosetta 0.33 (two-sided
recall scores, seed 0, this world, after the segmentation's strict leak guard; 0.09 and
0.15 before it, when the ExM scan split this world's 24 neurons into 53 segments). The
run's blame ladder: held-out trace r 0.98 with the true circuit and parameters, 0.89 with
the reconstructed synapses and true membranes (24 and 25 segments for 24 neurons), 0.87
with the effective-true map, 0.64 for the fitted map on the true circuit and 0.71 for the
pipeline: the fit, no longer the reconstruction, is where the assembly is lost. The issue
that tracks it (16) stays open until the emulation keeps it.
"""

from __future__ import annotations

import pytest

from neurophantom.pipeline.config import load_run_config
from neurophantom.pipeline.main import build_stages
from neurophantom.pipeline import run_pipeline, upstream

#: The memory world: 24 neurons (16 pyramidal), one assembly of 10, two recall trials.
WORLD = {
    "world.n_neurons": 24,
    "world.n_patterns": 1,
    "world.pattern_size": 10,
    "world.memory_strength": 60.0,
    # The world this test measured: assemblies as sparse as the distance rule makes them
    # and a 500 pA cue (the default world's dense assemblies are 4.5x, not 61x).
    "world.assembly_connection_probability": 0.0,
    "function.recall_cue_pA": 500.0,
    "function.recall_trials": 2,
    # A shorter search than the default run's (2 x 10 CMA-ES generations instead of 3 x 25).
    "identify.cma_generations": 10,
    "identify.cma_restarts": 1,
}
RECOVERED = 0.2
LOST = 0.10


def _recall(tmp_path_factory, predictability: float) -> dict:
    cfg = load_run_config(sets={**WORLD, "world.receptor_predictability": predictability})
    out = tmp_path_factory.mktemp(f"memory_p{predictability:g}")
    res = run_pipeline(upstream(build_stages(cfg), ["function"]), out)["function"].result
    return {k: float(v["score"]) for k, v in res.items()}


@pytest.mark.xdist_group("memory_p0")
def test_receptor_barcodes_recover_a_memory_that_shape_does_not_show(tmp_path_factory):
    """``receptor_predictability`` = 0: the barcoded emulation recalls, the Rosetta one
    does not (its assembly synapses look like any other)."""
    s = _recall(tmp_path_factory, 0.0)
    assert s["truth"] > 0.2, s  # the world does hold a memory
    assert s["emulation"] >= RECOVERED * s["truth"], s
    assert s["rosetta"] < LOST * s["truth"], s

