"""Pipeline points: partial runs of tiny worlds, their seeds, and the stages they share."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from neurophantom.pipeline import read_cache_log, stage_keys
from neurophantom.pipeline.config import load_run_config
from neurophantom.pipeline.main import build_stages
from neurophantom.sources import build_source
from neurophantom.study import parse_study, run_study

SPEC = {
    "name": "truth-tissue", "kind": "pipeline", "options": {"metrics": ["truth", "tissue"]},
    "base": {"world.n_neurons": 20, "world.pattern_size": 5},
    "grid": {"identify.rosetta_fraction": [0.1, 0.5]}, "seeds": [0, 2],
}


def test_partial_runs_share_upstream_and_match_the_source(tmp_path):
    # Two workers, each rendering a phantom (the tissue stage's own dask work must stay
    # inside its task: the volume's chunk manifest is checked when it is read back).
    res = run_study(parse_study(SPEC, "test"), tmp_path, workers=2, processes=False)
    assert not res.failures, res.failures
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert len(df) == 4
    # The Rosetta fraction touches neither truth nor tissue: one of each per seed.
    computed = Counter(e["stage"] for e in read_cache_log(tmp_path / "cache") if e["event"] == "computed")
    assert computed == {"truth_heldout": 2, "tissue_heldout": 2}
    cfg = load_run_config(sets=SPEC["base"])
    opts = {k: getattr(cfg.world, k) for k in ("n_neurons", "n_patterns", "pattern_size", "memory_strength",
                                               "receptor_predictability", "assembly_connection_probability")}
    for seed, g in df.groupby("seed"):
        assert g[["truth_synapse_partners", "phantom_voxels", "phantom_molecules"]].nunique().max() == 1
        # Study seed k draws the held-out specimen of seed + 100 k (seed 0: the run itself).
        truth = build_source("organoid", seed=cfg.world.heldout_seed + 100 * int(seed), options=opts)
        assert (g["truth_neurons"] == truth.n_neurons).all()
        assert (g["truth_synapse_partners"] == truth.n_synapse_partners).all()
        assert (g["phantom_molecules"] > 0).all()
    assert df.groupby("seed")["phantom_molecules"].first().nunique() == 2, "two specimens, two phantoms"
    # Seed 0 of a point is `neurophantom run --set ...` itself: the same cache keys.
    row = next(r for r in res.rows if r["seed"] == 0)
    run_keys = stage_keys(build_stages(load_run_config(sets=row["settings"])))
    assert row["stages"] == {k: run_keys[k] for k in ("truth_heldout", "tissue_heldout")}


def test_rosetta_fraction_points_share_everything_up_to_the_rosetta_map():
    keys = [stage_keys(build_stages(load_run_config(sets={"identify.rosetta_fraction": f}))) for f in (0.1, 0.3)]
    differ = sorted(k for k in keys[0] if keys[0][k] != keys[1][k])
    # The ladder carries the receptor-blind path's rungs (ladder_rosetta), so it follows the map.
    assert differ == ["emulate", "function", "ladder", "rosetta"]
