"""The per-run report: one self-contained HTML file.

:func:`write_report` writes a single page that opens in any browser without a server or a
network: figures are embedded as base64 PNG ``data:`` URIs, the style sheet is inline,
there is no script, and a Content-Security-Policy forbids loading anything else. Every
string from the caller is escaped (:func:`html.escape`). Sections, in order:

1. **The answer** (with ``answer``, a :class:`~neurophantom.report.headline.Headline`):
   the run's answer in one sentence and one table, modalities side by side, each row
   with its unit and better direction, then notes; without it, a **Summary** of
   headline numbers (dotted keys into ``scores``, :data:`HEADLINE` by default);
2. **Predicted vs recorded activity**, **Memory recall**, **Identifiability**, **Blame
   ladder**: the figures and tables whose key is the section's id (:data:`SECTIONS`) or
   starts with ``"<id>/"`` (the rest of the key is the caption);
3. **Other figures and tables**: every other key;
4. **Real-instrument time**: what each modality's scan would take on the real instrument;
5. **Runtime per stage**;
6. **Raw scores** (collapsed): every stage's scores, nested mappings as nested tables,
   lists of records as tables, and a link to ``scores_link`` (the run's scores.json);
7. **Configuration** (collapsed): the config that produced the run, as JSON.
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._errors import NeurophantomError
from ..io import atomic_write_text

#: Figure/table sections: key prefix -> heading.
SECTIONS = {"traces": "Predicted vs recorded activity", "memory_recall": "Memory recall",
            "identifiability": "Identifiability", "ladder": "Blame ladder"}

#: Default headline numbers (dotted keys into ``scores``), shown when present.
HEADLINE = ("emulation.trace_correlation", "emulation.control_trace_correlation",
            "emulation.baseline_trace_correlation", "function.truth", "function.emulation",
            "identification.unidentifiable")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_LIST = 50  # longer lists of numbers are shown truncated, with their length

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .2em .55em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.headline td { font-size: 1.15em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .8em; overflow-x: auto; font-size: .85em; }
nav a { margin-right: 1em; }
p.empty { color: #888; font-style: italic; }
p.answer { font-size: 1.15em; background: #f4f8fc; border-left: 4px solid #2a6ebb; padding: .6em .9em; }
table.headline { font-size: 1em; }
table.headline td, table.headline th { padding: .3em .7em; }
table.headline tr.group th { background: #e4e9f0; text-align: left; font-variant: small-caps; }
table.headline td.unit { color: #555; font-size: .9em; }
details { margin: .6em 0; }
details > summary { cursor: pointer; font-weight: 600; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _plain(v: Any) -> Any:
    """numpy scalars and arrays as Python values."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _fmt(v: Any) -> tuple[str, bool]:
    """(escaped text, is numeric) of a scalar."""
    v = _plain(v)
    if v is None:
        return "&mdash;", False
    if isinstance(v, bool):
        return ("yes" if v else "no"), False
    if isinstance(v, int):
        return _esc(f"{v:,}"), True
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a", True
        return _esc(f"{v:.4g}"), True
    return _esc(v), False


def _is_scalar(v: Any) -> bool:
    return not isinstance(_plain(v), (Mapping, list, tuple))


def _cell(v: Any, depth: int) -> str:
    v = _plain(v)
    if isinstance(v, Mapping):
        return f"<td>{_mapping_table(v, depth + 1)}</td>"
    if isinstance(v, (list, tuple)):
        return f"<td>{_list_html(v, depth + 1)}</td>"
    text, num = _fmt(v)
    return f'<td class="num">{text}</td>' if num else f"<td>{text}</td>"


def _list_html(items: Sequence, depth: int) -> str:
    if not items:
        return "[]"
    if all(_is_scalar(x) for x in items):
        shown = ", ".join(_fmt(x)[0] for x in items[:MAX_LIST])
        more = f" &hellip; ({len(items)} values)" if len(items) > MAX_LIST else ""
        return f"[{shown}{more}]"
    if all(isinstance(_plain(x), Mapping) for x in items):
        return _records_table(items, depth)
    return _mapping_table({str(i): x for i, x in enumerate(items)}, depth)


def _mapping_table(d: Mapping, depth: int = 0) -> str:
    if depth > 8:  # pathological nesting: show it as JSON rather than recurse further
        return f"<pre>{_esc(json.dumps(d, indent=1, default=str))}</pre>"
    if not d:
        return '<p class="empty">(empty)</p>'
    rows = "".join(f"<tr><th>{_esc(k)}</th>{_cell(v, depth)}</tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def _records_table(records: Sequence[Mapping], depth: int = 0) -> str:
    cols: list[str] = []
    for r in records:
        cols += [str(k) for k in r if str(k) not in cols]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell({str(k): v for k, v in r.items()}.get(c), depth) for c in cols) + "</tr>"
                   for r in records)
    return f"<table><tr>{head}</tr>{body}</table>"


def _lookup(scores: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = scores
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def human_duration(seconds: float) -> str:
    """``seconds`` in the largest fitting unit (s, min, h, days, years)."""
    s = float(seconds)
    for unit, size in (("years", 365.25 * 86400), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def _png(key: str, fig: bytes | str | Path) -> bytes:
    if isinstance(fig, (str, Path)):
        try:
            data = Path(fig).read_bytes()
        except OSError as e:
            raise NeurophantomError(f"figure {key!r}: cannot read {fig}: {e.strerror}") from None
    elif isinstance(fig, (bytes, bytearray)):
        data = bytes(fig)
    else:
        raise NeurophantomError(f"figure {key!r} must be PNG bytes or a path, got {type(fig).__name__}")
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        raise NeurophantomError(f"figure {key!r} is not a PNG image")
    return data


def _figure_html(key: str, caption: str, data: bytes) -> str:
    width, height = struct.unpack(">II", data[16:24])
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{_esc(key)}" width="{width}" height="{height}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _section_of(key: str) -> tuple[str | None, str]:
    head, sep, rest = key.partition("/")
    if head in SECTIONS:
        return head, (rest if sep and rest else SECTIONS[head])
    return None, key


def _section(sid: str, heading: str, body: str) -> str:
    return f'<section id="{_esc(sid)}"><h2>{_esc(heading)}</h2>{body}</section>'


def _summary(scores: Mapping, headline: Sequence[str], runtime_seconds: Mapping[str, float]) -> str:
    rows = {}
    for key in headline:
        found, value = _lookup(scores, key)
        if found:
            rows[key] = value
    if not rows:
        rows = {k: v for k, v in scores.items() if _is_scalar(v)}
    rows["total runtime (s)"] = float(sum(runtime_seconds.values()))
    body = "".join(f"<tr><th>{_esc(k)}</th>{_cell(v, 0)}</tr>" for k, v in rows.items())
    return f'<table class="headline">{body}</table>'


def _answer(answer) -> str:
    """The sentence, the modality table and its notes (see :mod:`.headline`)."""
    cols = list(answer.columns)
    head = "<tr><th>quantity</th><th>unit (better)</th>" + "".join(f"<th>{_esc(c)}</th>" for c in cols) + "</tr>"
    body, group = [], None
    for r in answer.rows:
        if r.group != group:
            group = r.group
            body.append(f'<tr class="group"><th colspan="{len(cols) + 2}">{_esc(group)}</th></tr>')
        better = {"higher": " (higher)", "lower": " (lower)"}.get(r.better, "")
        body.append(f"<tr><th>{_esc(r.label)}</th><td class=\"unit\">{_esc(r.unit)}{_esc(better)}</td>"
                    + "".join(f"<td>{_esc(c)}</td>" for c in r.cells) + "</tr>")
    notes = "".join(f"<li>{_esc(n)}</li>" for n in answer.notes)
    return (f'<p class="answer">{_esc(answer.sentence)}</p>'
            f'<table class="headline"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
            + (f"<ul>{notes}</ul>" if notes else ""))


def _scores(scores: Mapping) -> str:
    if not scores:
        return '<p class="empty">(no scores)</p>'
    parts = []
    for stage, val in scores.items():
        val = _plain(val)
        inner = _mapping_table(val) if isinstance(val, Mapping) else f"<table><tr>{_cell(val, 0)}</tr></table>"
        parts.append(f"<h3>{_esc(stage)}</h3>{inner}")
    return "".join(parts)


def _instrument(instrument_seconds: Mapping[str, float] | None) -> str:
    if not instrument_seconds:
        return '<p class="empty">(no scan in this run)</p>'
    rows = "".join(f'<tr><th>{_esc(k)}</th><td class="num">{_fmt(float(v))[0]}</td><td>{_esc(human_duration(v))}</td></tr>'
                   for k, v in instrument_seconds.items())
    return f"<table><tr><th>modality</th><th>seconds</th><th>duration</th></tr>{rows}</table>"


def _runtime(runtime_seconds: Mapping[str, float]) -> str:
    total = float(sum(runtime_seconds.values()))
    rows = "".join(f'<tr><th>{_esc(k)}</th><td class="num">{v:.3f}</td>'
                   f'<td class="num">{(100 * v / total if total > 0 else 0.0):.1f}%</td></tr>'
                   for k, v in runtime_seconds.items())
    return (f"<table><tr><th>stage</th><th>seconds</th><th>share</th></tr>{rows}"
            f'<tr><th>total</th><td class="num">{total:.3f}</td><td></td></tr></table>')


def _check_seconds(name: str, d: Mapping[str, float] | None) -> dict[str, float]:
    out = {}
    for k, v in (d or {}).items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise NeurophantomError(f"{name}[{k!r}] must be a number of seconds, got {v!r}") from None
        if not (math.isfinite(x) and x >= 0):
            raise NeurophantomError(f"{name}[{k!r}] must be finite and >= 0, got {v!r}")
        out[str(k)] = x
    return out


def render_report(
    *,
    title: str,
    scores: Mapping[str, Any],
    config: Mapping[str, Any],
    figures: Mapping[str, bytes | str | Path],
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    runtime_seconds: Mapping[str, float],
    instrument_seconds: Mapping[str, float] | None = None,
    headline: Sequence[str] = HEADLINE,
    answer=None,
    scores_link: str | None = None,
) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    if not isinstance(title, str) or not title.strip():
        raise NeurophantomError("report title must be a non-empty string")
    for name, m in (("scores", scores), ("config", config), ("figures", figures)):
        if not isinstance(m, Mapping):
            raise NeurophantomError(f"report {name} must be a mapping, got {type(m).__name__}")
    runtime = _check_seconds("runtime_seconds", runtime_seconds)
    instr = _check_seconds("instrument_seconds", instrument_seconds)
    placed: dict[str | None, list[str]] = {sid: [] for sid in (*SECTIONS, None)}
    for key, fig in figures.items():
        sid, caption = _section_of(str(key))
        placed[sid].append(_figure_html(str(key), caption, _png(str(key), fig)))
    for key, records in (tables or {}).items():
        if not isinstance(records, Sequence) or not all(isinstance(r, Mapping) for r in records):
            raise NeurophantomError(f"table {key!r} must be a list of records (mappings)")
        sid, caption = _section_of(str(key))
        placed[sid].append(f"<h3>{_esc(caption)}</h3>" + (_records_table(records) if records else '<p class="empty">(empty)</p>'))
    if answer is not None:
        sections = [("answer", "The answer", _answer(answer))]
    else:
        sections = [("summary", "Summary", _summary(scores, headline, runtime))]
    sections += [(sid, heading, "".join(placed[sid]) or '<p class="empty">(not produced in this run)</p>')
                 for sid, heading in SECTIONS.items()]
    if placed[None]:
        sections.append(("other", "Other figures and tables", "".join(placed[None])))
    link = (f'<p>The same numbers as JSON: <a href="{_esc(scores_link)}">{_esc(scores_link)}</a>.</p>'
            if scores_link else "")
    sections += [("instrument-time", "Real-instrument time", _instrument(instr)),
                 ("runtime", "Runtime per stage", _runtime(runtime)),
                 ("scores", "Raw scores", f"{link}<details><summary>every stage's scores (click to open)</summary>"
                                         f"{_scores(scores)}</details>"),
                 ("config", "Configuration", "<details><summary>the run's configuration (click to open)</summary>"
                                             f"<pre>{_esc(json.dumps(config, indent=2, sort_keys=True, default=str))}</pre>"
                                             "</details>")]
    nav = "".join(f'<a href="#{_esc(sid)}">{_esc(h)}</a>' for sid, h, _ in sections)
    body = "".join(_section(*s) for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{_esc(title)}</h1><nav>{nav}</nav>{body}</body></html>\n")


def write_report(
    path: str | Path,
    *,
    title: str,
    scores: Mapping[str, Any],
    config: Mapping[str, Any],
    figures: Mapping[str, bytes | str | Path],
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    runtime_seconds: Mapping[str, float],
    instrument_seconds: Mapping[str, float] | None = None,
    headline: Sequence[str] = HEADLINE,
    answer=None,
    scores_link: str | None = None,
) -> Path:
    """Write the run's self-contained HTML report to ``path`` atomically.

    Parameters
    ----------
    path
        Output file (``report.html``).
    title
        Page title.
    scores
        Every stage's scores (nested mappings, lists, scalars; numpy values allowed).
    config
        The configuration that produced the run (shown as JSON; non-JSON values as text).
    figures
        PNG images (bytes or file paths) by key; the key places a figure in a section
        (see the module docstring), e.g. ``"traces"`` or ``"memory_recall/per pattern"``.
    tables
        Lists of records (one mapping per row) by key, placed like figures.
    runtime_seconds
        Wall time of each stage.
    instrument_seconds
        Real-instrument time of each modality's scan (e.g. ``{"exm": 3.1e4}``).
    headline
        Dotted keys into ``scores`` for the summary when there is no ``answer`` (missing
        ones are skipped; if none is present, the top-level scalar scores are shown).
    answer : neurophantom.report.headline.Headline, optional
        The run's answer: a sentence and a table with one column per modality.
    scores_link : str, optional
        A relative link to the run's scores.json, shown above the raw scores.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    text = render_report(title=title, scores=scores, config=config, figures=figures, tables=tables,
                         runtime_seconds=runtime_seconds, instrument_seconds=instrument_seconds, headline=headline,
                         answer=answer, scores_link=scores_link)
    return atomic_write_text(path, text)
