"""The ``hidden`` point kind: does the residual test find a hidden slow process?

One stage per point (:func:`neurophantom.validate.missing_modality.shared_worlds`): a
small organoid (the point's seed is the circuit's), ``n_worlds`` truth worlds with the
hidden process at the point's ``strength`` (0: nothing hidden; nS at a 10 Hz rate for a
modulator or glia, nS per synapse for an unlabelled receptor, % per spike pair for
plasticity; :mod:`neurophantom.validate.missing_modality`) and
``n_worlds`` leave-one-out null worlds of the emulation itself, all one batched
simulation. Metrics: ``detection_rate`` (fraction of truth worlds the test flags; at
strength 0 that too is a false-alarm rate), ``false_alarm_rate`` (fraction of null worlds
flagged), ``kind_<k>_rate`` (fraction of truth worlds flagged and named ``<k>``) and the
median z of each statistic. ``summary.csv`` also carries ``hidden``, ``strength``,
``detection_rate`` and ``false_alarm_rate`` as plain columns (the seed means).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..._errors import NeurophantomError
from ...io import atomic_write_json
from ...pipeline.runner import MARKER, Stage
from . import PointKind, no_options, settings_check

VERSION = "1"
KINDS = ("slow", "spatial", "synaptic")
METRICS = ("detection_rate", "false_alarm_rate", *(f"kind_{k}_rate" for k in KINDS), *(f"median_z_{k}" for k in KINDS))


def _split(settings: Mapping[str, Any]):
    from ...validate.missing_modality import WorldTrial

    s = dict(settings)
    n_worlds = int(s.pop("n_worlds", 10))
    if n_worlds < 1:
        raise NeurophantomError("n_worlds must be >= 1")
    # One axis for every kind: nS for the modulator, glia and an unlabelled receptor,
    # percent of the scanned count per spike pair for plasticity.
    strength = float(s.pop("strength", 0.0))
    s["stdp_percent" if s.get("hidden") == "plasticity" else "strength_nS"] = strength
    return WorldTrial(**s), n_worlds


check_options = no_options("hidden")
check_settings = settings_check("hidden", _split)


def _worlds_stage(out: Path, inputs, cfg) -> dict:
    from ...validate.missing_modality import WorldTrial, shared_worlds

    trial = WorldTrial(**cfg["trial"])
    n = int(cfg["n_worlds"])
    null, hidden = shared_worlds(trial, n_null=n, n_hidden=n, seed=int(cfg["seed"]))
    atomic_write_json(out / "worlds.json", {"null": null, "hidden": hidden})
    res = {"detection_rate": float(np.mean([r["detected"] for r in hidden])),
           "false_alarm_rate": float(np.mean([r["detected"] for r in null]))}
    for k in KINDS:
        res[f"kind_{k}_rate"] = float(np.mean([r["detected"] and r["kind"] == k for r in hidden]))
        res[f"median_z_{k}"] = float(np.median([r[f"z_{k}"] for r in hidden]))
    return res


def stages(settings: Mapping[str, Any], seed: int, options: Mapping[str, Any]) -> list[Stage]:
    trial, n = _split(settings)
    return [Stage(name="worlds", fn=_worlds_stage, config={"trial": trial.model_dump(), "n_worlds": n, "seed": int(seed)},
                  version=VERSION)]


def metrics(settings, seed, options, folders: Mapping[str, Path]) -> dict[str, Any]:
    res = json.loads((folders["worlds"] / MARKER).read_text())["result"]
    return {k: res[k] for k in METRICS}


def summary_columns(summary):
    """``hidden``, ``strength`` and the seed means of the two rates under their plain names."""
    out = summary.copy()
    if "hidden" not in out:
        out["hidden"] = "modulator"
    if "strength" not in out:
        out["strength"] = 0.0
    out["detection_rate"] = out["detection_rate_mean"]
    out["false_alarm_rate"] = out["false_alarm_rate_mean"]
    return out


KIND = PointKind(
    name="hidden",
    description="missing-modality detection vs hidden-process strength (validate/missing_modality.py)",
    check_options=check_options,
    check_settings=check_settings,
    stages=stages,
    targets=lambda options: ["worlds"],
    metrics=metrics,
    metric_names=lambda options: list(METRICS),
    preload=("neurophantom.validate.missing_modality",),
    summary_columns=summary_columns,
)
