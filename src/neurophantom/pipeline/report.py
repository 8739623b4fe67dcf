"""The run's HTML report: figures from the stage folders, scores, config and runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..report.html import write_report
from ..report.plots import correlation_histogram, identifiability_figure, recall_bars, traces_figure
from .config import RunConfig, config_json
from .runner import StageResult

HEADLINE = (
    "emulation.trace_correlation",
    "emulation.control_trace_correlation",
    "emulation.baseline_trace_correlation",
    "emulation.rosetta_trace_correlation",
    "emulation.spike_coincidence_gamma",
    "function.truth",
    "function.emulation",
    "function.rosetta_emulation",
    "reconstruction.connectome.edge_f1",
    "reconstruction.segmentation.voi_split",
    "reconstruction.segmentation.voi_merge",
)


def _figures(scores: Mapping[str, Any], results: Mapping[str, StageResult]) -> dict[str, bytes]:
    figs: dict[str, bytes] = {}
    tr = np.load(results["emulate"].path / "traces.npz")
    imaged = np.flatnonzero((tr["weights"] > 0) & (tr["stimulated"] == 0))
    rec, pred = tr["recorded"], tr["predicted"]
    if imaged.size:
        spread = rec[:, imaged].std(axis=0)
        cols = imaged[np.argsort(-spread)[:4]]
        figs["traces/held-out protocol: emulation from the barcoded scan vs recording (unstimulated neurons)"] = traces_figure(
            tr["time_ms"], pred, rec, columns=cols, ylabel="photons per frame"
        )
    per = scores["emulation"]["per_neuron"]
    figs["traces/per-neuron correlation on held-out protocols"] = correlation_histogram(
        {"emulation": per["emulation"], "shuffled connectome": per["shuffled"], "free weights": per["free_weights"],
         "synchrotron + Rosetta": per["rosetta"]}
    )
    fn = scores["function"]
    figs["memory_recall/recall of stored patterns from half-cues"] = recall_bars(
        {"truth": fn["truth"], "barcoded emulation": fn["emulation"], "synchrotron + Rosetta": fn["rosetta_emulation"]},
        per_pattern={k: [p["score"] for p in fn["details"][v]["patterns"]] for k, v in
                     (("truth", "truth"), ("barcoded emulation", "emulation"), ("synchrotron + Rosetta", "rosetta"))
                     if "patterns" in fn["details"][v]},
    )
    ident = scores["identification"]["identifiability"]
    if ident["eigenvalues"]:
        figs["identifiability/Fisher spectrum and 95% intervals of the map"] = identifiability_figure(ident["eigenvalues"], ident["parameters"])
    return figs


def write_run_report(path: Path, cfg: RunConfig, scores: Mapping[str, Any], results: Mapping[str, StageResult]) -> Path:
    rows = [
        {"parameter": k, **{kk: v[kk] for kk in ("true", "start", "recovered", "ratio", "status")}}
        for k, v in scores["identification"]["parameter_recovery"].items()
    ]
    return write_report(
        path,
        title=f"neurophantom run: {cfg.preset}",
        scores=_summary({k: v for k, v in scores.items() if k not in ("runtime_seconds",)}),
        config=config_json(cfg),
        figures=_figures(scores, results),
        tables={"identifiability/parameter recovery against the world's hidden values": rows},
        runtime_seconds=scores["runtime_seconds"],
        instrument_seconds=scores.get("instrument_seconds"),
        headline=HEADLINE,
    )


#: Per-item lists that scores.json keeps but the page shows as figures instead.
_LONG = ("per_neuron", "run_lengths", "confusion", "details", "neuron_map")


def _summary(obj):
    if isinstance(obj, dict):
        return {k: _summary(v) for k, v in obj.items() if k not in _LONG}
    return obj
