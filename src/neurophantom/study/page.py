"""``study.html``: one self-contained page per study.

Figures are embedded as PNG ``data:`` URIs, the style is inline, there is no script and a
Content-Security-Policy forbids loading anything; every caller string is escaped.
Sections: the question, figures, the summary table (means and 95% bootstrap intervals),
failed points, the points and their runtime, and the study as it ran.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..io import atomic_write_text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .15em .45em; } th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; } pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
p.note { color: #555; } .fail { color: #a00; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> tuple[str, bool]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a", True
    if isinstance(v, bool):
        return ("yes" if v else "no"), False
    if isinstance(v, int):
        return f"{v:,}", True
    if isinstance(v, float):
        return f"{v:.4g}", True
    return _esc(v), False


def table_html(df: pd.DataFrame, max_rows: int = 500) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    body = []
    for rec in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in rec:
            v = v.item() if hasattr(v, "item") else v
            text, num = _fmt(v)
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{len(df) - max_rows} more rows in the files.</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def cell_with_interval(mean: float, lo: float, hi: float) -> str:
    """``mean [low, high]`` (just the mean when the interval is undefined)."""
    if isinstance(lo, float) and math.isnan(lo):
        return _fmt(float(mean))[0]
    return f"{_fmt(float(mean))[0]} [{_fmt(float(lo))[0]}, {_fmt(float(hi))[0]}]"


def _summary_view(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean [low, high] per metric, one column each."""
    view = summary[[*axes, "n_seeds"]].copy()
    for m in metrics:
        mean, lo, hi = (summary[f"{m}_{s}"] for s in ("mean", "ci_low", "ci_high"))
        view[m] = [cell_with_interval(a, b, c) for a, b, c in zip(mean, lo, hi)]
    return view


def write_page(path: Path, *, record: dict[str, Any], summary: pd.DataFrame, results: pd.DataFrame,
               axes: Sequence[str], metrics: Sequence[str], figures: Sequence[Path],
               failures: Sequence[dict[str, Any]], timing: pd.DataFrame,
               tables: Sequence[tuple[str, pd.DataFrame]] = ()) -> Path:
    spec = record["spec"]
    title = spec.get("title") or spec["name"]
    parts = [f"<h1>{_esc(title)}</h1>",
             f'<p class="note">study <b>{_esc(spec["name"])}</b> ({_esc(record["variant"])} variant), kind '
             f'<b>{_esc(spec["kind"])}</b>: {len(results)} of {len(record["points"])} point-seeds finished, '
             f"{len(failures)} failed. Means over seeds with 95% percentile-bootstrap intervals.</p>"]
    code = record.get("code") or {}
    if code:
        parts.append('<p class="note">computed by ' + ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in code.items())
                     + " (points resumed from earlier runs keep the code they were computed with when their "
                     "stage keys match)</p>")
    if spec.get("question"):
        parts.append(f"<p>{_esc(spec['question'])}</p>")
    for title_t, t in tables:
        parts.append(f"<h2>{_esc(title_t)}</h2>" + table_html(t))
    parts.append("<h2>Figures</h2>")
    for f in figures:
        b64 = base64.b64encode(Path(f).read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{b64}" alt="{_esc(f.name)}"><figcaption>'
                     f"{_esc(f.name)}</figcaption></figure>")
    parts.append("<h2>Summary</h2>" + table_html(_summary_view(summary, axes, metrics)))
    if failures:
        items = "".join(f"<li><b>{_esc(x['label'])}</b>: {_esc(x['error'])}</li>" for x in failures)
        parts.append(f'<h2 class="fail">Failed points</h2><ul class="fail">{items}</ul>'
                     '<p class="note">Tracebacks: failures.log. A rerun retries them.</p>')
    parts.append("<h2>Points</h2>" + table_html(results))
    if len(timing):
        parts.append("<h2>Compute per point</h2>" + table_html(timing))
    parts.append(f"<h2>Study</h2><pre>{_esc(json.dumps(spec, indent=1))}</pre>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>{_esc(title)}</title>'
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    return atomic_write_text(path, page)
