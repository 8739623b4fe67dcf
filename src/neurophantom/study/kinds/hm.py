"""The ``hm`` point kind: the H.M. test on one world (:func:`neurophantom.validate.hm.run_hm`).

One stage per point and seed (the seed is the organoid's). Metrics: per emulation kind
``<kind>_old_recall_ratio`` and ``<kind>_new_learning_ratio`` (``static``: the scan's
model, no plasticity; ``plastic``: with an STDP rule identified from paired recordings),
the truth's ``truth_new_fold`` (new recall after teaching / before) and the identified
rule's relative errors. ``summary.csv`` gets one row per emulation kind with the
columns ``emulation``, ``old_recall_ratio`` and ``new_learning_ratio`` (seed means).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ...io import atomic_write_json
from ...pipeline.runner import MARKER, Stage
from . import PointKind, no_options, settings_check

VERSION = "1"
EMULATIONS = ("static", "plastic")
RULE_KEYS = ("a_plus", "a_minus", "tau_plus_ms", "tau_minus_ms")
METRICS = (*(f"{e}_{m}" for e in EMULATIONS for m in ("old_recall_ratio", "new_learning_ratio")), "truth_new_fold",
           *(f"rule_{k}_rel_error" for k in RULE_KEYS))


def _trial(settings: Mapping[str, Any]):
    from ...validate.hm import HMTrial

    return HMTrial(**dict(settings))


check_options = no_options("hm")
check_settings = settings_check("hm", _trial)


def _hm_stage(out: Path, inputs, cfg) -> dict:
    from ...validate.hm import HMTrial, run_hm

    trial = HMTrial(**cfg["trial"])
    res = run_hm(trial, int(cfg["seed"]))
    atomic_write_json(out / "hm.json", res)
    flat = {f"{e}_{m}": res[e][m] for e in EMULATIONS for m in ("old_recall_ratio", "new_learning_ratio")}
    flat["truth_new_fold"] = res["truth_new_fold"]
    truth = trial.rule.model_dump()
    for k in RULE_KEYS:
        flat[f"rule_{k}_rel_error"] = abs(res["identified_rule"][k] / truth[k] - 1.0) if truth[k] else float("nan")
    return flat


def stages(settings: Mapping[str, Any], seed: int, options: Mapping[str, Any]) -> list[Stage]:
    return [Stage(name="hm", fn=_hm_stage, config={"trial": _trial(settings).model_dump(mode="json"), "seed": int(seed)},
                  version=VERSION)]


def metrics(settings, seed, options, folders: Mapping[str, Path]) -> dict[str, Any]:
    res = json.loads((folders["hm"] / MARKER).read_text())["result"]
    return {k: res[k] for k in METRICS}


def summary_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (summary row, emulation kind): ``emulation``, ``old_recall_ratio``, ``new_learning_ratio``."""
    rows = []
    for e in EMULATIONS:
        part = summary.copy()
        part.insert(0, "emulation", e)
        part["old_recall_ratio"] = summary[f"{e}_old_recall_ratio_mean"]
        part["new_learning_ratio"] = summary[f"{e}_new_learning_ratio_mean"]
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


KIND = PointKind(
    name="hm",
    description="the H.M. test: plastic truth vs static and plastic emulations (validate/hm.py)",
    check_options=check_options,
    check_settings=check_settings,
    stages=stages,
    targets=lambda options: ["hm"],
    metrics=metrics,
    metric_names=lambda options: list(METRICS),
    preload=("neurophantom.validate.hm",),
    summary_columns=summary_columns,
)
