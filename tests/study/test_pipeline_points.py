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
    "name": "truth-only", "kind": "pipeline", "options": {"metrics": ["truth"]}, "base": {"world.pattern_size": 5},
    "grid": {"world.n_neurons": [20, 24], "identify.rosetta_fraction": [0.1, 0.5]}, "seeds": [0, 2],
}


def test_partial_runs_share_upstream_and_match_the_source(tmp_path):
    res = run_study(parse_study(SPEC, "test"), tmp_path, workers=1, processes=False)
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert len(df) == 8
    # The Rosetta fraction does not touch the ground truth: 2 sizes x 2 seeds = 4 truths.
    assert Counter(e["stage"] for e in read_cache_log(tmp_path / "cache") if e["event"] == "computed") == {"truth_heldout": 4}
    assert res.computed_stages == 4
    for (n, seed), g in df.groupby(["world.n_neurons", "seed"]):
        assert g["truth_synapse_partners"].nunique() == 1
        cfg = load_run_config(sets={"world.n_neurons": int(n), "world.pattern_size": 5})
        # Study seed k draws the held-out specimen of seed + 100 k (seed 0: the run itself).
        opts = {k: getattr(cfg.world, k) for k in ("n_neurons", "n_patterns", "pattern_size", "memory_strength",
                                                   "receptor_predictability")}
        truth = build_source("organoid", seed=cfg.world.heldout_seed + 100 * int(seed), options=opts)
        assert (g["truth_neurons"] == truth.n_neurons).all()
        assert (g["truth_synapse_partners"] == truth.n_synapse_partners).all()
    # Seed 0 of a point is `neurophantom run --set ...` itself: the same cache keys.
    row = next(r for r in res.rows if r["seed"] == 0 and r["settings"]["world.n_neurons"] == 20)
    run_keys = stage_keys(build_stages(load_run_config(sets=row["settings"])))
    assert row["stages"]["truth_heldout"] == run_keys["truth_heldout"]
