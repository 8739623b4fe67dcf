"""Write a study's outputs: ``results.parquet``, ``summary.csv``, figures, ``study.html``.

All written atomically from the finished points' records alone, so a resumed study
rewrites them whole and they never mix two runs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..io import atomic_write_bytes, atomic_write_text
from .figures import write_figures
from .kinds import get_kind
from .page import write_page
from .tables import metric_columns, results_table, summarise


def _timing(rows: Sequence[dict[str, Any]], axes: Sequence[str]) -> pd.DataFrame:
    """Compute seconds of each point's stages (shared stages count for every point using them)."""
    recs = [{"point": r["id"], **{a: r["axes"].get(a) for a in axes}, "seed": r["seed"],
             "stage_seconds": round(sum(r.get("stage_seconds", {}).values()), 2)} for r in rows]
    return pd.DataFrame.from_records(recs, columns=["point", *axes, "seed", "stage_seconds"])


def side_tables(specs, summary: pd.DataFrame, axes: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """Each table spec filled in: a row per (spec row, matching summary row), the keys
    that vary among a spec row's matches, then "mean [low, high]" per column."""
    from .figures import select
    from .page import cell_with_interval

    out = []
    for t in specs:
        recs, keys = [], []
        for r in t.rows:
            match = select(summary, r.where)
            vary = [a for a in axes if match[a].astype(str).nunique() > 1]
            keys += [a for a in vary if a not in keys]
            for _, srow in match.iterrows():
                rec = {"": r.label, **{a: srow[a] for a in vary}, "n_seeds": int(srow["n_seeds"])}
                for col, m in zip(t.columns, r.metrics):
                    rec[col] = cell_with_interval(srow[f"{m}_mean"], srow[f"{m}_ci_low"], srow[f"{m}_ci_high"])
                recs.append(rec)
        out.append((t.title, pd.DataFrame.from_records(recs, columns=["", *keys, "n_seeds", *t.columns])))
    return out


def write_outputs(out: Path, prep, rows: Sequence[dict[str, Any]], failures: Sequence[dict[str, Any]]) -> dict[str, Path]:
    axes = list(prep.points[0].axes) if prep.points else []
    results = results_table(rows, axes)
    metrics = metric_columns(results, axes)
    summary = summarise(results, axes, metrics)
    extra = get_kind(prep.spec.kind).summary_columns
    if extra is not None and len(summary):
        summary = extra(summary)
    buf = io.BytesIO()
    results.to_parquet(buf, index=False)
    files = {"results": atomic_write_bytes(out / "results.parquet", buf.getvalue()),
             "summary": atomic_write_text(out / "summary.csv", summary.to_csv(index=False))}
    figures = write_figures(out, prep.spec.figures, summary, axes, metrics, prep.spec.title or prep.spec.name) if len(results) else []
    tables = side_tables(prep.spec.tables, summary, axes) if len(results) else []
    for i, (_, t) in enumerate(tables):
        files[f"table{i + 1}"] = atomic_write_text(out / f"table_{i + 1:02d}.csv", t.to_csv(index=False))
    record = json.loads((out / "study.json").read_text(encoding="utf-8"))
    files["page"] = write_page(out / "study.html", record=record, summary=summary, results=results, axes=axes,
                               metrics=metrics, figures=figures, failures=failures, timing=_timing(rows, axes),
                               tables=tables)
    for i, f in enumerate(figures):
        files[f"figure{i + 1}"] = f
    return files
