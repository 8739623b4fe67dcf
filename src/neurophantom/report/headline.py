"""The run's answer: one sentence and one table, modalities side by side.

:func:`headline` reads a run's ``scores.json`` (a plain mapping) and, optionally, the
planner's human-brain estimate per modality, and returns a :class:`Headline`: a sentence
that says how well the specimen was uploaded from each scan, and a table whose columns
are the modalities (barcoded ExM; synchrotron + Rosetta; EM when it was scanned) and
whose rows are, in order: instrument time for this specimen and for a human brain,
reconstruction scores, emulation accuracy on held-out protocols, memory recall kept
(with its interval) and the blame ladder (how much accuracy each step of the pipeline
loses, from the noise ceiling down). Every row says its unit and which direction is
better. Keys a run did not produce (an older run, a modality not scanned) give "n/a"
cells, never an error.

The paired bootstrap of the emulation against its shuffled-connectome control resamples
neurons (seeded, 2000 resamples): the interval of the mean difference in per-neuron r.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

#: Ladder steps in order (scores.json ``ladder``): label, what the step adds.
LADDER_STEPS = {
    "noise_ceiling": "noise ceiling (the specimen against its own repeat)",
    "truth_true_parameters": "true circuit, true parameters",
    "reconstruction_true_membranes": "reconstructed circuit, true membrane parameters",
    "reconstruction_effective_map": "reconstructed circuit, the world's effective map",
    "truth_fitted_map": "true circuit, the fitted map",
    "pipeline": "the pipeline (reconstructed circuit, fitted map)",
}

BOOTSTRAP = 2000


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the headline table: a quantity, its unit, which way is better, and one
    formatted cell per modality."""

    group: str
    label: str
    unit: str
    better: str  # "higher", "lower" or ""
    cells: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Headline:
    sentence: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"sentence": self.sentence, "columns": list(self.columns), "notes": list(self.notes),
                "rows": [dataclasses.asdict(r) for r in self.rows]}


def get(scores: Mapping, dotted: str, default: Any = None) -> Any:
    """``scores[a][b]...`` for ``"a.b..."``, or ``default`` where any level is missing."""
    node: Any = scores
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(x, digits: int = 2) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{v:.{digits}f}"


def fmt_sig(x, digits: int = 3) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{v:.{digits}g}"


def duration(seconds) -> str:
    """Seconds in the largest fitting unit (s, min, h, days, years), 3 significant digits."""
    s = _num(seconds)
    if s is None:
        return "n/a"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def _interval(ci, digits: int = 2, pct: bool = False) -> str:
    if not isinstance(ci, Sequence) or len(ci) != 2 or any(_num(c) is None for c in ci):
        return ""
    lo, hi = (float(c) for c in ci)
    return f" [{100 * lo:.0f}%, {100 * hi:.0f}%]" if pct else f" [{lo:.{digits}f}, {hi:.{digits}f}]"


def paired_difference(a: Sequence, b: Sequence, *, seed: int = 0) -> tuple[float, float, float] | None:
    """Mean of ``a - b`` over pairs where both are defined, with a 95% percentile
    bootstrap interval over pairs (None with fewer than 3 pairs)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return None
    d = (x - y)[np.isfinite(x) & np.isfinite(y)]
    if d.size < 3:
        return None
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    means = d[rng.integers(0, d.size, (BOOTSTRAP, d.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def modalities(scores: Mapping) -> list[str]:
    inst = get(scores, "instrument_seconds", {}) or {}
    cols = ["barcoded ExM"]
    if any(k.endswith("_blind") for k in inst) or get(scores, "emulation.rosetta_trace_correlation") is not None:
        cols.append("synchrotron + Rosetta")
    if any(k.endswith("_em") for k in inst) or "reconstruction_em" in scores:
        cols.append("EM")
    return cols


#: Per modality: (instrument_seconds key suffix, reconstruction key, emulation prefix, ladder key, function key).
_KEYS = {
    "barcoded ExM": ("_barcoded", "reconstruction", "", "ladder", "emulation"),
    "synchrotron + Rosetta": ("_blind", "reconstruction_blind", "rosetta_", "ladder_rosetta", "rosetta_emulation"),
    "EM": ("_em", "reconstruction_em", "em_", "ladder_em", "em_emulation"),
}


def _specimen_seconds(scores: Mapping, suffix: str):
    inst = get(scores, "instrument_seconds", {}) or {}
    held = [v for k, v in inst.items() if k.startswith("heldout") and k.endswith(suffix)]
    return held[0] if held else None


def _human(plan: Mapping | None) -> str:
    if not plan:
        return "n/a"
    years = plan.get("instrument_years") or {}
    n = plan.get("instruments") or {}
    text = f"{fmt_sig(years.get('point'))} instrument-years"
    if _num(years.get("p05")) is not None:
        text += f" (90%: {fmt_sig(years.get('p05'), 2)} to {fmt_sig(years.get('p95'), 2)})"
    if _num(n.get("point")) is not None:
        text += f"; {n['point']:,.0f} instruments for {plan.get('deadline_years', 10):g} years"
    return text


def _function_name(scores: Mapping) -> str:
    """What the run's function score measures: memory recall, or a task's score."""
    task = get(scores, "function.task")
    return f"{task} task score above chance" if task else "memory recall"


def _recall_kept(scores: Mapping, mod: str) -> tuple[str, float | None]:
    truth = _num(get(scores, "function.truth"))
    fkey = _KEYS[mod][4]
    val = _num(get(scores, f"function.{fkey}"))
    # Paired intervals: the barcoded path's, and in a task world the Rosetta path's too.
    rkey = "ratio" if mod == "barcoded ExM" else "rosetta_ratio" if get(scores, "function.task") else None
    if rkey and _num(get(scores, f"function.{rkey}")) is not None:
        ratio = float(get(scores, f"function.{rkey}"))
        return f"{100 * ratio:.0f}%{_interval(get(scores, f'function.{rkey}_ci95'), pct=True)}", ratio
    if val is None or truth is None:
        return "n/a", None
    if truth <= 0:
        return "undefined (the true circuit shows no recall)", None
    ratio = val / truth
    return f"{100 * ratio:.0f}% (no interval)", ratio


def _rows(scores: Mapping, cols: list[str], plans: Mapping[str, Mapping | None]) -> list[Row]:
    def row(group, label, unit, better, fn):
        return Row(group, label, unit, better, tuple(fn(m) for m in cols))

    def rec(m, key, digits=2):
        return fmt(get(scores, f"{_KEYS[m][1]}.{key}"), digits)

    def em(m, key):
        return get(scores, f"emulation.{_KEYS[m][2]}{key}")

    rows = [
        row("instrument time", "this specimen (held-out)", "real instrument", "lower",
            lambda m: duration(_specimen_seconds(scores, _KEYS[m][0]))),
        row("instrument time", "a human brain (planner)", "instrument-years", "lower", lambda m: _human(plans.get(m))),
        row("reconstruction", "VI split + merge", "nats", "lower",
            lambda m: fmt(_sum(get(scores, f"{_KEYS[m][1]}.segmentation.voi_split"),
                               get(scores, f"{_KEYS[m][1]}.segmentation.voi_merge")))),
        row("reconstruction", "synapse F1", "0..1", "higher", lambda m: rec(m, "synapses.f1")),
        row("reconstruction", "connectome edge F1", "0..1", "higher", lambda m: rec(m, "connectome.edge_f1")),
        row("reconstruction", "protein types read correctly", "fraction", "higher",
            lambda m: "not read (receptor-blind)" if m != "barcoded ExM" else rec(m, "molecules.type_accuracy", 3)),
        row("emulation", "trace correlation, held-out protocols", "Pearson r", "higher", lambda m: _with_controls(scores, m)),
        row("emulation", "spike coincidence", "Gamma at 2 ms", "higher", lambda m: fmt(em(m, "spike_coincidence_gamma"))),
        row("function", f"{_function_name(scores)} kept", "% of the true circuit's", "higher", lambda m: _recall_kept(scores, m)[0]),
    ]
    ladders = {m: _ladder(get(scores, _KEYS[m][3])) for m in cols}
    steps = [s for s in LADDER_STEPS if any(s in lad for lad in ladders.values())]
    for s in steps:
        rows.append(row("blame ladder", LADDER_STEPS[s], "r (Gamma)", "higher", lambda m, s=s: ladders[m].get(s, "n/a")))
    if not steps:
        rows.append(row("blame ladder", "not computed in this run", "", "", lambda m: "n/a"))
    return rows


def _sum(a, b):
    x, y = _num(a), _num(b)
    return None if x is None or y is None else x + y


def _ladder(entries) -> dict[str, str]:
    out = {}
    for e in entries or ():
        if isinstance(e, Mapping) and e.get("step"):
            g = _num(e.get("spike_coincidence_gamma"))
            out[str(e["step"])] = fmt(e.get("trace_correlation")) + (f" ({g:.2f})" if g is not None else "")
    return out


def _with_controls(scores: Mapping, m: str) -> str:
    r = fmt(get(scores, f"emulation.{_KEYS[m][2]}trace_correlation"))
    if m != "barcoded ExM" or r == "n/a":
        return r
    return (f"{r} (shuffled connectome {fmt(get(scores, 'emulation.control_trace_correlation'))}, "
            f"free weights {fmt(get(scores, 'emulation.baseline_trace_correlation'))})")


def _sentence(scores: Mapping, cols: list[str]) -> str:
    r = _num(get(scores, "emulation.trace_correlation"))
    if r is None:
        return "This run has no emulation score yet: see the stage scores below."
    per = get(scores, "emulation.per_neuron", {}) or {}
    diff = paired_difference(per.get("emulation", ()), per.get("shuffled", ()))
    ctrl = _num(get(scores, "emulation.control_trace_correlation"))
    if diff is not None:
        d, lo, hi = diff
        verdict = ("above" if lo > 0 else "below" if hi < 0 else "not distinguishable from")
        vs = f"{verdict} its shuffled-connectome control (per-neuron difference {d:+.2f}, 95% CI [{lo:+.2f}, {hi:+.2f}])"
    elif ctrl is not None:
        vs = f"against {ctrl:.2f} for its shuffled-connectome control"
    else:
        vs = "with no control in this run"
    kept, _ = _recall_kept(scores, "barcoded ExM")
    text = (f"Emulated from its barcoded ExM scan alone, the held-out specimen's activity on new protocols is predicted "
            f"with r = {r:.2f}, {vs}, and it keeps {kept} of the true circuit's {_function_name(scores)}")
    if "synchrotron + Rosetta" in cols:
        rr = fmt(get(scores, "emulation.rosetta_trace_correlation"))
        rk, _ = _recall_kept(scores, "synchrotron + Rosetta")
        text += f"; from a receptor-blind synchrotron scan with the Rosetta map, r = {rr} and {rk}"
    return text + "."


def _blame(scores: Mapping, cols: list[str]) -> list[str]:
    """One note per modality: the ladder step that loses the most trace correlation."""
    notes = []
    for m in cols:
        entries = [e for e in get(scores, _KEYS[m][3], []) or [] if isinstance(e, Mapping) and e.get("step") in LADDER_STEPS]
        entries.sort(key=lambda e: list(LADDER_STEPS).index(e["step"]))
        vals = [(e["step"], _num(e.get("trace_correlation"))) for e in entries]
        vals = [(s, v) for s, v in vals if v is not None]
        if len(vals) < 2:
            continue
        drops = [(a[1] - b[1], a[0], b[0]) for a, b in zip(vals, vals[1:])]
        d, a, b = max(drops)
        if d > 0:
            notes.append(f"{m}: the largest loss of trace correlation ({d:.2f}) is from '{LADDER_STEPS[a]}' "
                         f"to '{LADDER_STEPS[b]}'.")
    return notes


def headline(scores: Mapping, plans: Mapping[str, Mapping | None] | None = None) -> Headline:
    """The run's answer (see the module docstring); ``plans`` maps a modality column to
    the planner's ``Plan.to_json()`` for a human brain (missing: "n/a")."""
    cols = modalities(scores)
    rows = _rows(scores, cols, plans or {})
    notes = _blame(scores, cols)
    if "synchrotron + Rosetta" in cols and "reconstruction_blind" not in scores:
        notes.append("synchrotron + Rosetta: this run did not score the synchrotron reconstruction against the truth.")
    notes.append("synchrotron + Rosetta: the Rosetta map is learned from barcoded ExM of the training specimen(s); "
                 "the held-out specimen is imaged by synchrotron only." if "synchrotron + Rosetta" in cols else "")
    return Headline(_sentence(scores, cols), tuple(cols), tuple(rows), tuple(n for n in notes if n))
