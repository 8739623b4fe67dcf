"""A study's tidy table and its summary with bootstrap intervals.

``results_table``: one row per point and seed: ``point`` (the point's content id), every
varied key (``case`` first when the study has cases; lists and mappings as JSON text),
``seed``, then the metrics. Rows follow the study's point order, so the table does not
depend on which worker finished first.

``summarise``: one row per setting of the varied keys: ``n_seeds``, then per metric its
mean over seeds and a 95% percentile-bootstrap interval of that mean
(``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high``; Efron & Tibshirani 1993,
ch. 13; ``scipy.stats.bootstrap``). With one seed the interval is undefined (NaN);
missing values of a metric are left out of its mean and interval.

References
----------
Efron B, Tibshirani RJ (1993) An Introduction to the Bootstrap. Chapman & Hall.
"""

from __future__ import annotations

import json
import warnings
import zlib
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 2000


def _cell(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict, tuple)) else v


def results_table(rows: Sequence[dict[str, Any]], axes: Sequence[str]) -> pd.DataFrame:
    metrics: list[str] = []
    for r in rows:
        metrics += [m for m in r["metrics"] if m not in metrics]
    # A metric named like a varied key (or a reserved column) keeps its value under
    # "<name>_metric", so that every column name is unique.
    col = {m: f"{m}_metric" if m in (*axes, "point", "seed") else m for m in metrics}
    records = [{"point": r["id"], **{a: _cell(r["axes"].get(a)) for a in axes}, "seed": int(r["seed"]),
                **{col[m]: r["metrics"].get(m) for m in metrics}} for r in rows]
    metrics = [col[m] for m in metrics]
    df = pd.DataFrame.from_records(records, columns=["point", *axes, "seed", *metrics])
    for m in metrics:
        df[m] = pd.to_numeric(df[m], errors="coerce")
        if df[m].dtype == bool:
            df[m] = df[m].astype(np.int64)
    return df


def bootstrap_ci(x: np.ndarray, seed: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``x`` (NaN with fewer than 2 values)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES,
                              method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarise(df: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and bootstrap interval of every metric for every setting of ``axes``."""
    groups = df.groupby(list(axes), sort=False, dropna=False) if axes else [((), df)]
    out = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(axes, key))
        row["n_seeds"] = int(len(g))
        seed = zlib.crc32(json.dumps([str(k) for k in key]).encode())
        for m in metrics:
            x = g[m].to_numpy(dtype=np.float64)
            ok = x[np.isfinite(x)]
            lo, hi = bootstrap_ci(ok, seed)
            row[f"{m}_mean"] = float(ok.mean()) if ok.size else float("nan")
            row[f"{m}_ci_low"] = lo
            row[f"{m}_ci_high"] = hi
        out.append(row)
    cols = [*axes, "n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "ci_low", "ci_high")]
    return pd.DataFrame.from_records(out, columns=cols)


def metric_columns(df: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    return [c for c in df.columns if c not in ("point", "seed", *axes)]
