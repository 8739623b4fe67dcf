"""Planner inputs taken from what neurophantom measured rather than assumed.

- **Rosetta fraction** (mixed strategy): from a ``rosetta-fraction`` study folder
  (``neurophantom study rosetta-fraction --out DIR``), whose ``summary.csv`` holds, per
  sampled fraction (``identify.rosetta_fraction``: the share of barcoded synapses the
  morphology -> receptor map learns from), the fidelity of the receptor-blind path with a
  bootstrap interval over seeds. The planner takes the smallest sampled fraction whose
  mean fidelity reaches the target: ``target`` if given, else 95% of the best fidelity any
  fraction reached (where the curve levels off). Sampling a share of synapses is taken to
  cost the same share of the volume imaged with barcodes.
- **Compute**: a measured engine cost (benchmarks/cobahh.py -> engine_cost.json), read by
  :func:`~neurophantom.plan.compute.read_engine_benchmark`.

Every input set here carries a source starting with ``measured:``; :func:`measured_inputs`
lists them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .._errors import CorruptDataError, NeurophantomError

FRACTION_KEY = "identify.rosetta_fraction"
DEFAULT_METRIC = "rosetta_function_kept"
PLATEAU = 0.95


@dataclasses.dataclass(frozen=True)
class RosettaMeasurement:
    """The fraction chosen from a study and the fidelity measured there."""

    fraction: float
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    n_seeds: int
    target: float
    target_rule: str
    study: str
    curve: tuple[dict[str, float], ...]

    def source(self) -> str:
        return (f"measured: rosetta-fraction study {self.study}: smallest sampled fraction with {self.metric} >= "
                f"{self.target:.3g} ({self.target_rule}); there {self.metric} = {self.mean:.3g} "
                f"[{self.ci_low:.3g}, {self.ci_high:.3g}] over {self.n_seeds} seeds")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"curve": list(self.curve)}


def read_rosetta_study(path: str | Path, metric: str = DEFAULT_METRIC, target: float | None = None) -> RosettaMeasurement:
    """Choose the Rosetta fraction from a rosetta-fraction study folder (or its summary.csv)."""
    p = Path(path)
    summary = p / "summary.csv" if p.is_dir() else p
    if not summary.is_file():
        raise NeurophantomError(f"rosetta study: no summary.csv in {p} (run `neurophantom study rosetta-fraction --out DIR`)")
    try:
        df = pd.read_csv(summary)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"rosetta study {summary} is not a readable CSV ({exc.__class__.__name__})") from None
    cols = [FRACTION_KEY, "n_seeds", f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CorruptDataError(f"rosetta study {summary} has no column {missing[0]!r} (not a rosetta-fraction "
                               f"study, or no metric {metric!r})")
    other = [c for c in df.columns if not c.endswith(("_mean", "_ci_low", "_ci_high")) and c not in cols[:2]]
    if len(df) != df[FRACTION_KEY].nunique():
        raise CorruptDataError(f"rosetta study {summary} varies more than the fraction ({', '.join(other)}); "
                               "plan from a study that varies only identify.rosetta_fraction")
    df = df.sort_values(FRACTION_KEY, kind="stable")
    ok = df[df[f"{metric}_mean"].map(lambda x: isinstance(x, float) and math.isfinite(x))]
    if ok.empty:
        raise NeurophantomError(f"rosetta study {summary}: {metric} is undefined at every fraction")
    best = float(ok[f"{metric}_mean"].max())
    if target is None:
        target, rule = PLATEAU * best, f"{PLATEAU:.0%} of the best fidelity measured, {best:.3g}"
    else:
        rule = "the target asked for"
    hit = ok[ok[f"{metric}_mean"] >= target - 1e-12]
    if hit.empty:
        raise NeurophantomError(f"rosetta study {summary}: no sampled fraction reaches {metric} {target:.3g} "
                                f"(best {best:.3g})")
    row = hit.iloc[0]
    curve = tuple({"fraction": float(r[FRACTION_KEY]), "mean": float(r[f"{metric}_mean"]),
                   "ci_low": float(r[f"{metric}_ci_low"]), "ci_high": float(r[f"{metric}_ci_high"])}
                  for _, r in ok.iterrows())
    study = str(summary.parent)
    meta = summary.parent / "study.json"
    if meta.is_file():
        try:
            study = f"{json.loads(meta.read_text(encoding='utf-8')).get('name', '?')} ({summary.parent})"
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    return RosettaMeasurement(float(row[FRACTION_KEY]), metric, float(row[f"{metric}_mean"]), float(row[f"{metric}_ci_low"]),
                              float(row[f"{metric}_ci_high"]), int(row["n_seeds"]), float(target), rule, study, curve)


def measured_inputs(inputs: Mapping[str, Any]) -> list[str]:
    """Names of the inputs that came from measurements (source ``measured: ...``)."""
    return sorted(k for k, i in inputs.items() if str(i.source).startswith("measured:"))
