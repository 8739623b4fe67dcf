"""A study: a declarative grid (or list) of points times seeds, read from YAML and validated.

A study file (``yaml.safe_load`` only)::

    name: tissue-loss
    title: Emulation error against lost tissue
    question: How does emulation error grow with the fraction of tissue lost?
    kind: pipeline              # what each point computes (see study/kinds)
    options:                    # kind-wide options, e.g. the pipeline's metric groups
      metrics: [reconstruction, emulation]
    base:                       # settings of every point (the kind's keys; for a pipeline
      world.n_neurons: 48       #   point, the dotted keys of `neurophantom run --set`)
    cases:                      # optional named variants, an axis of their own; a case
      - {label: sparse, set: {scan.damage.kind: sparse}}   # may hold its own grid too
      - {label: slabs, set: {scan.damage.kind: slabs}}
    grid:                       # key: [values], every combination ...
      scan.damage.fraction: [0.0, 0.05, 0.1]
    points:                     # ... or an explicit list of settings (times the grid)
      - {identify.rosetta_fraction: 0.1}
    seeds: 5                    # 0..4, or a list of seeds
    figures:                    # `where` keeps only summary rows with those values
      - {x: scan.damage.fraction, y: [exm_trace_r], hue: case}
    tables:                     # side by side: a row per label, a metric per column
      - {title: ..., columns: [trace r], rows: [{label: sparse, where: {case: sparse}, metrics: [exm_trace_r]}]}
    quick:                      # the --quick variant: replaces any of the fields above
      seeds: 2                  #   (base is merged key by key)

Points are cases x points x grid (a case's own grid joins the study's), each with the
seeds; a point's settings are base, then its case, its listed point and its grid values. Every key that varies between points is
a column of the results (``case`` too, when there are cases).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from .._errors import CorruptDataError, NeurophantomError

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Case(BaseModel):
    """A named variant: its settings, and optionally its own grid (a sweep of its own)."""

    model_config = _FROZEN
    label: str = Field(..., min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)


class FigureSpec(BaseModel):
    """One figure: metric(s) ``y`` against axis ``x``, a line per value of ``hue``, a
    panel per value of ``facet``; means with bootstrap intervals over seeds."""

    model_config = _FROZEN
    x: str
    y: list[str] = Field(..., min_length=1)
    hue: Optional[str] = None
    facet: Optional[str] = None
    title: Optional[str] = None
    where: dict[str, Any] = Field(default_factory=dict, description="only summary rows with these values")
    logx: bool = False
    logy: bool = False


class TableRow(BaseModel):
    model_config = _FROZEN
    label: str
    where: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] = Field(..., min_length=1)


class TableSpec(BaseModel):
    """A side-by-side table: each row reads its own metrics (one per column) from the
    summary rows matching ``where`` (mean and bootstrap interval in each cell)."""

    model_config = _FROZEN
    title: str
    columns: list[str] = Field(..., min_length=1)
    rows: list[TableRow] = Field(..., min_length=1)


class Variant(BaseModel):
    """The fields a ``quick`` variant may replace."""

    model_config = _FROZEN
    options: Optional[dict[str, Any]] = None
    base: Optional[dict[str, Any]] = None
    cases: Optional[list[Case]] = None
    grid: Optional[dict[str, list[Any]]] = None
    points: Optional[list[dict[str, Any]]] = None
    seeds: Optional[Union[int, list[int]]] = None
    figures: Optional[list[FigureSpec]] = None
    tables: Optional[list[TableSpec]] = None


class StudySpec(BaseModel):
    model_config = _FROZEN
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = ""
    question: str = ""
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    base: dict[str, Any] = Field(default_factory=dict)
    cases: list[Case] = Field(default_factory=list)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list)
    seeds: Union[int, list[int]] = 1
    figures: list[FigureSpec] = Field(default_factory=list)
    tables: list[TableSpec] = Field(default_factory=list)
    quick: Optional[Variant] = None

    def variant(self, quick: bool) -> "StudySpec":
        """The study itself, or its ``--quick`` variant (without a ``quick`` field)."""
        if not quick:
            return self.model_copy(update={"quick": None})
        if self.quick is None:
            raise NeurophantomError(f"study {self.name!r} has no quick variant")
        upd = {k: v for k, v in self.quick.model_dump(exclude_none=True).items()}
        if "base" in upd:
            upd["base"] = {**self.base, **upd["base"]}
        data = {**self.model_dump(), **upd, "quick": None}
        return StudySpec.model_validate(data)


@dataclass(frozen=True)
class Point:
    """One point of a study: its settings (kind keys), its seed and its result columns."""

    index: int
    seed: int
    settings: dict[str, Any]
    axes: dict[str, Any]  # the varied keys (and ``case``) with this point's values
    pid: str = field(default="")

    @property
    def label(self) -> str:
        parts = [f"{k}={_short(v)}" for k, v in self.axes.items()]
        return ", ".join(parts + [f"seed={self.seed}"])


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_id(kind: str, settings: dict[str, Any], seed: int, options: dict[str, Any] | None = None) -> str:
    """Content hash of what a point computes and reports: same kind, settings, seed and
    study options (e.g. which metrics) = same id."""
    blob = {"kind": kind, "settings": settings, "seed": int(seed), "options": options or {}}
    return hashlib.sha256(canonical(blob).encode()).hexdigest()[:16]


def _one_line(exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "study"
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    return f"{where}: {msg}"


def parse_study(data: Any, source: str) -> StudySpec:
    """Validate a study mapping; one-line errors naming ``source`` and the field."""
    if not isinstance(data, dict):
        raise CorruptDataError(f"study {source} must be a YAML mapping")
    try:
        spec = StudySpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise NeurophantomError(f"study {source}: {_one_line(exc)}") from None
    for variant in ([spec] + ([spec.variant(True)] if spec.quick else [])):
        _check_shape(variant, source)
    return spec


def load_study_file(path: str | Path) -> StudySpec:
    p = Path(path)
    if not p.is_file():
        raise NeurophantomError(f"study file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CorruptDataError(f"study {p} is not a text file") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise CorruptDataError(f"study {p} is not valid YAML" + (f" (line {line + 1})" if line is not None else "")) from None
    return parse_study(data, str(p))


def _check_shape(spec: StudySpec, source: str) -> None:
    tag = f"study {source}"
    grids = [("grid", spec.grid)] + [(f"case {c.label!r} grid", c.grid) for c in spec.cases]
    for where, grid in grids:
        for k, values in grid.items():
            if not values:
                raise NeurophantomError(f"{tag}: {where} key {k!r} has no values")
            if len({canonical(v) for v in values}) != len(values):
                raise NeurophantomError(f"{tag}: {where} key {k!r} repeats a value")
    labels = [c.label for c in spec.cases]
    if len(set(labels)) != len(labels):
        raise NeurophantomError(f"{tag}: case labels must be unique")
    if "case" in spec.grid or any("case" in p for p in spec.points):
        raise NeurophantomError(f"{tag}: 'case' is reserved for the case labels")
    seeds = seed_list(spec)
    if not seeds:
        raise NeurophantomError(f"{tag}: seeds must be a positive count or a non-empty list")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise NeurophantomError(f"{tag}: seeds must be distinct and >= 0")
    if not spec.grid and not spec.points and not spec.cases:
        raise NeurophantomError(f"{tag}: empty grid (give grid, points or cases)")


def seed_list(spec: StudySpec) -> list[int]:
    if isinstance(spec.seeds, int):
        return list(range(spec.seeds)) if spec.seeds > 0 else []
    return [int(s) for s in spec.seeds]


def expand(spec: StudySpec) -> list[Point]:
    """Every (point, seed) of a study variant, in a fixed order: cases, listed points,
    grid (last key fastest), then seeds."""
    cases = spec.cases or [None]
    listed = spec.points or [{}]
    raw = []
    for case in cases:
        grid = {**(case.grid if case is not None else {}), **spec.grid}
        keys = list(grid)
        combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
        for item in listed:
            for combo in combos:
                s = dict(spec.base)
                if case is not None:
                    s.update(case.set)
                s.update(item)
                s.update(dict(zip(keys, combo)))
                raw.append((case.label if case is not None else None, s))
    varied = _varied([s for _, s in raw])
    seen: set[str] = set()
    points = []
    for label, s in raw:
        axes = ({"case": label} if spec.cases else {}) | {k: s.get(k) for k in varied}
        key = canonical(s)
        if key in seen:
            raise NeurophantomError(f"study {spec.name}: two points with the same settings ({_short(axes)})")
        seen.add(key)
        for seed in seed_list(spec):
            points.append(Point(len(points), seed, s, axes, point_id(spec.kind, s, seed, spec.options)))
    return points


def _varied(settings: list[dict[str, Any]]) -> list[str]:
    """Keys whose value differs between points (missing counts as a value), in first-seen order."""
    keys: list[str] = []
    for s in settings:
        keys += [k for k in s if k not in keys]
    return [k for k in keys if len({canonical(s.get(k)) for s in settings}) > 1]
