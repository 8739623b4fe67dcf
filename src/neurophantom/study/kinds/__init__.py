"""Point kinds: what one point of a study computes.

A study names its kind; the kind turns a point's settings and seed into a graph of
pipeline :class:`~neurophantom.pipeline.Stage` objects (so that every point, of any kind,
is cached, shared and resumed by the same stage cache) and reads the point's metrics
from the finished stage folders. Kinds are independent variants, hence a registry:

- ``pipeline``: the closed loop of ``neurophantom run`` (or the part of it that the
  requested metric groups need), settings = the run config's dotted keys;
- ``barcode``: barcode capacity and per-molecule decoding error of one barcode
  configuration (:mod:`neurophantom.validate.barcode_capacity`), settings = its fields;
- ``hidden``: missing-modality detection in worlds with a hidden slow process
  (:mod:`neurophantom.validate.missing_modality`);
- ``hm``: the H.M. test, plastic truth against static and plastic emulations
  (:mod:`neurophantom.validate.hm`).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Mapping

from ..._errors import NeurophantomError


@dataclasses.dataclass(frozen=True)
class PointKind:
    """One kind of study point.

    ``check_options(options) -> options`` validates the study-wide options;
    ``check_settings(settings, options)`` raises a one-line error for a bad point;
    ``stages(settings, seed, options) -> [Stage]`` builds its graph; ``targets(options)``
    names the stages a point needs (run with everything upstream of them);
    ``metrics(settings, seed, options, folders) -> {name: number}`` reads the results from
    the finished stage folders (``folders[stage name]``); ``metric_names(options)`` lists
    the metrics up front (for figure specs).
    """

    name: str
    description: str
    check_options: Callable[[Mapping[str, Any]], dict[str, Any]]
    check_settings: Callable[[Mapping[str, Any], Mapping[str, Any]], None]
    stages: Callable[[Mapping[str, Any], int, Mapping[str, Any]], list]
    targets: Callable[[Mapping[str, Any]], list[str]]
    metrics: Callable[[Mapping[str, Any], int, Mapping[str, Any], Mapping[str, Path]], dict[str, Any]]
    metric_names: Callable[[Mapping[str, Any]], list[str]]
    #: Modules the stage functions import lazily (imported on each worker up front).
    preload: tuple[str, ...] = ()
    #: Optional: columns a kind adds to ``summary.csv`` (derived from the summary itself).
    summary_columns: Callable[[Any], Any] | None = None


#: kind name -> module that defines ``KIND`` (imported on first use).
_MODULES = {"pipeline": ".pipeline", "barcode": ".barcode", "hidden": ".hidden", "hm": ".hm"}


def kind_names() -> list[str]:
    return sorted(_MODULES)


def get_kind(name: str) -> PointKind:
    if name not in _MODULES:
        raise NeurophantomError(f"unknown study kind {name!r} (known: {', '.join(kind_names())})")
    return importlib.import_module(_MODULES[name], __name__).KIND


def no_options(kind: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``check_options`` of a kind that takes no study-wide options."""

    def check(options: Mapping[str, Any]) -> dict[str, Any]:
        if options:
            raise NeurophantomError(f"{kind} studies take no options, got {sorted(options)[0]!r}")
        return {}

    return check


def settings_check(kind: str, build: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], None]:
    """``check_settings`` of a kind whose point is a pydantic config built by ``build``: the
    config's first error as one line naming the setting."""
    import pydantic

    def check(settings: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        try:
            build(settings)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
            msg = "unknown key" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
            raise NeurophantomError(f"{kind} setting {where}: {msg}") from None
        except (TypeError, ValueError) as exc:
            raise NeurophantomError(f"{kind} settings: {exc}") from None

    return check

