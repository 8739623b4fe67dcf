"""The run's HTML report: the answer first (one sentence, one table with the modalities
side by side), then figures chosen by stated rules, the parameter table, and the raw
scores collapsed at the end (the same numbers are in scores.json beside the page)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..report.headline import LADDER_STEPS, get, headline, modalities
from ..report.html import write_report
from ..report.plots import (convergence_figure, correlation_histogram, identifiability_figure, ladder_figure, recall_bars,
                            representative_columns, smooth, traces_figure)
from ..validate.activity import trace_correlation
from .config import RunConfig, config_json
from .runner import StageResult

log = logging.getLogger(__name__)

#: Headline column -> planner scenario fields for a human brain (``rosetta_fraction`` is
#: the run's own for the mixed strategy).
PLANNER = {"barcoded ExM": {"modality": "exm"}, "synchrotron + Rosetta": {"modality": "mixed", "fast": "synchrotron"},
           "EM": {"modality": "em"}}
PLAN_SAMPLES = 4000


def human_plans(columns, rosetta_fraction: float) -> dict[str, dict | None]:
    """The planner's human-brain estimate for each headline column (None where it fails)."""
    from ..plan import planner
    from ..plan.scenario import make_scenario

    out: dict[str, dict | None] = {}
    for col in columns:
        fields = dict(PLANNER.get(col, {}))
        if not fields:
            out[col] = None
            continue
        if fields["modality"] == "mixed":
            fields["set"] = {"rosetta_fraction": rosetta_fraction}
        try:
            p = planner.plan(make_scenario(organism="human", samples=PLAN_SAMPLES, engine_benchmark="none", **fields)).to_json()
            out[col] = {"instrument_years": p["instrument_years"], "instruments": p["instruments"],
                        "deadline_years": p["scenario"]["deadline_years"]}
        except Exception as exc:  # the report must not fail on the planner: the cell says n/a
            log.warning("planner failed for %s: %s", col, exc)
            out[col] = None
    return out


def _traces(scores: Mapping[str, Any], results: Mapping[str, StageResult]) -> dict[str, bytes]:
    tr = np.load(results["emulate"].path / "traces.npz")
    imaged = np.flatnonzero((tr["weights"] > 0) & (tr["stimulated"] == 0))
    if not imaged.size:
        return {}
    sigma = float(get(scores, "emulation.trace_sigma_ms", 0.0) or 0.0)
    t = tr["time_ms"]
    r = trace_correlation(smooth(tr["predicted"][:, imaged], t, sigma), smooth(tr["recorded"][:, imaged], t, sigma))
    pick = representative_columns(r, (0.25, 0.5, 0.75))
    if not pick:
        return {}
    cols = imaged[pick]
    rule = (f"the imaged, unstimulated neurons nearest the 25th, 50th and 75th percentile of per-neuron r "
            f"(Gaussian smoothing sigma {sigma:g} ms) on the first held-out protocol")
    return {f"traces/held-out protocol: emulation from the barcoded scan vs the recording; neurons shown: {rule}":
            traces_figure(t, tr["predicted"], tr["recorded"], columns=cols, ylabel="photons per frame",
                          smooth_sigma_ms=sigma, tags=["25th percentile", "median", "75th percentile"][:len(cols)],
                          labels=[f"neuron {i}" for i in range(tr["predicted"].shape[1])])}


def _figures(scores: Mapping[str, Any], results: Mapping[str, StageResult]) -> dict[str, bytes]:
    figs: dict[str, bytes] = {}
    if "emulate" in results:
        figs.update(_traces(scores, results))
    per = get(scores, "emulation.per_neuron", {}) or {}
    groups = {name: per[key] for name, key in (("emulation (barcoded ExM)", "emulation"), ("shuffled connectome", "shuffled"),
                                               ("free weights", "free_weights"), ("synchrotron + Rosetta", "rosetta"))
              if per.get(key)}
    if groups:
        figs["traces/per-neuron trace correlation on the held-out protocols (each neuron-protocol pair once)"] = \
            correlation_histogram(groups)
    fn = scores.get("function") or {}
    details = fn.get("details") or {}
    perf = {k: v for k, v in (("truth", "truth"), ("barcoded ExM emulation", "emulation"),
                              ("synchrotron + Rosetta", "rosetta_emulation")) if fn.get(v) is not None}
    if perf and fn.get("task"):
        perf["shuffled control"] = "control"
        src = {"truth": "truth", "barcoded ExM emulation": "emulation", "synchrotron + Rosetta": "rosetta", "shuffled control": "control"}
        figs[f"task/{fn['task']} task: fraction correct on held-out trials (chance {fn.get('chance')}), bars the score, "
             "dots one per trial"] = recall_bars({k: fn[v] for k, v in perf.items() if fn.get(v) is not None},
                                                 per_pattern={k: details.get(src[k], {}).get("trial_scores", []) for k in perf},
                                                 title=f"{fn['task']} task score (fraction correct)")
    elif perf:
        src = {"truth": "truth", "barcoded ExM emulation": "emulation", "synchrotron + Rosetta": "rosetta"}
        figs["memory_recall/recall of the stored patterns from half-cues: bars the score, dots one per stored pattern, "
             "whiskers the 95% interval (the run's for the truth when it has one, else a bootstrap over patterns)"] = recall_bars(
            {k: fn[v] for k, v in perf.items()},
            per_pattern={k: [p["score"] for p in details.get(src[k], {}).get("patterns", [])] for k in perf},
            intervals={"truth": fn["truth_ci95"]} if fn.get("truth_ci95") else None)
    ident = get(scores, "identification.identifiability", {}) or {}
    if ident.get("eigenvalues"):
        params = _identifiability_rows(scores)
        figs["identifiability/Fisher spectrum and 95% intervals of the learned parameters (fixed ones are not "
             "estimated: see the table)"] = identifiability_figure(ident["eigenvalues"], params)
    conv = get(scores, "identification.convergence", []) or []
    if conv:
        figs["identifiability/convergence of the fit: best training loss against simulated parameter sets (CMA-ES "
             "generations, then the least-squares refinement); crosses the validation loss of each phase"] = convergence_figure(conv)
    ladders = {m: scores.get(k) for m, k in (("barcoded ExM", "ladder"), ("synchrotron + Rosetta", "ladder_rosetta"))
               if scores.get(k)}
    if ladders:
        figs["ladder/trace correlation at each step from the noise ceiling down to the pipeline; "
             "the step where it drops most is where the loss comes from"] = ladder_figure(ladders, LADDER_STEPS)
    return figs


def _identifiability_rows(scores: Mapping[str, Any]) -> dict[str, dict]:
    rec = get(scores, "identification.parameter_recovery", {}) or {}
    out = {}
    for name, v in rec.items():
        e = {"value": v.get("recovered"), "ci95": v.get("ci95"), "identifiable": v.get("identifiable", True),
             "status": v.get("status", "")}
        if v.get("effective_truth") is not None:
            e["effective_truth"] = v["effective_truth"]
        out[name] = e
    if not out:  # older runs: the identifiability block alone
        out = {k: dict(v, status=v.get("reason", "")) for k, v in (get(scores, "identification.identifiability.parameters", {}) or {}).items()}
    return out


def parameter_table(scores: Mapping[str, Any]) -> list[dict]:
    """One row per map parameter: fixed ones say so (never 'identifiable'); learned ones
    show the estimate, its interval, the world's effective value and whether the
    interval covers it."""
    rows = []
    for name, v in (get(scores, "identification.parameter_recovery", {}) or {}).items():
        fixed = v.get("status") == "fixed"
        covered = v.get("covered")
        rows.append({
            "parameter": name,
            "role": "fixed (library)" if fixed else "learned",
            "world's value": v.get("true"),
            "effective true value": v.get("effective_truth"),
            "start": None if fixed else v.get("start"),
            "value used": v.get("recovered"),
            "95% interval": None if fixed else v.get("ci95"),
            "interval covers the effective value": None if fixed or covered is None else bool(covered),
            "identifiability": "n/a (fixed)" if fixed else v.get("status"),
        })
    return rows


def write_run_report(path: Path, cfg: RunConfig, scores: Mapping[str, Any], results: Mapping[str, StageResult]) -> Path:
    answer = headline(scores, human_plans(modalities(scores), cfg.identify.rosetta_fraction))
    chi2 = get(scores, "identification.reduced_chi_square")
    caption = "identifiability/the map's parameters: fixed ones are library values, learned ones estimates with 95% intervals"
    if chi2 is not None:
        caption += f" (reduced chi-square of the fit {chi2:.3g})"
    return write_report(
        path,
        title=f"neurophantom run: {cfg.preset}",
        scores=_summary({k: v for k, v in scores.items() if k not in ("runtime_seconds",)}),
        config=config_json(cfg),
        figures=_figures(scores, results),
        tables={caption: parameter_table(scores)},
        runtime_seconds=scores["runtime_seconds"],
        instrument_seconds=scores.get("instrument_seconds"),
        answer=answer,
        scores_link="scores.json",
    )


#: Per-item lists that scores.json keeps but the page's raw tables leave out.
_LONG = ("per_neuron", "run_lengths", "confusion", "details", "neuron_map")


def _summary(obj):
    """scores.json for the page's raw tables: long per-item lists left out, and a fixed
    parameter's ``identifiable`` shown as "n/a (fixed)" (it was never estimated)."""
    if isinstance(obj, dict):
        out = {k: _summary(v) for k, v in obj.items() if k not in _LONG}
        if "identifiable" in out and "fixed" in (out.get("status"), out.get("reason")):
            out["identifiable"] = "n/a (fixed)"
        return out
    return obj
