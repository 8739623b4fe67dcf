"""The ``barcode`` point kind: capacity and decoding error of one barcode configuration.

Two stages per point: ``codebook`` (the lexicode over the protein library; shared by
every point with the same code shape, distance and library, whatever the noise) and
``readout`` (the molecule-level Monte Carlo of the instrument and the decoder, one per
configuration and seed). See :mod:`neurophantom.validate.barcode_capacity`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping


from ...io import atomic_write_json
from ...pipeline.runner import MARKER, Stage
from . import PointKind, no_options, settings_check

#: Bump when a stage's code changes what it writes.
VERSION = "1"

#: Scalar metrics of a readout (``per_type_error`` stays in the stage folder).
METRICS = ("types_distinguishable", "error_rate", "misidentified_rate", "unknown_rate", "missed_rate",
           "false_call_rate", "molecule_recall", "codewords", "distance_bound", "combinatorial_bound",
           "types_encoded")
CODE_KEYS = ("scheme", "colors", "rounds", "fluorophores", "per_tag", "min_distance", "library_types")


def _trial(settings: Mapping[str, Any]):
    from ...validate.barcode_capacity import BarcodeTrial

    return BarcodeTrial(**dict(settings))


check_options = no_options("barcode")
check_settings = settings_check("barcode", _trial)


def _codebook_stage(out: Path, inputs, cfg) -> dict:
    from ...validate.barcode_capacity import BarcodeTrial, design_code

    book, bound, size = design_code(BarcodeTrial(**cfg["code"]))
    atomic_write_json(out / "codebook.json", book.to_json())
    return {"codewords": size, "types_encoded": len(book.proteins), "combinatorial_bound": bound,
            "distance_bound": book.capacity_bound}


def _readout_stage(out: Path, inputs, cfg) -> dict:
    from ...types.scan import Codebook
    from ...validate.barcode_capacity import BarcodeTrial, barcode_capacity

    book = Codebook.from_json(json.loads((inputs["codebook"] / "codebook.json").read_text()))
    code = json.loads((inputs["codebook"] / MARKER).read_text())["result"]
    res = barcode_capacity(BarcodeTrial(**cfg["trial"]), int(cfg["seed"]), book=book)
    if code["codewords"] is not None:
        res["codewords"] = int(code["codewords"])
    atomic_write_json(out / "per_type_error.json", {"proteins": list(book.proteins), "error": res.pop("per_type_error")})
    return res


def stages(settings: Mapping[str, Any], seed: int, options: Mapping[str, Any]) -> list[Stage]:
    trial = _trial(settings).model_dump()
    code = {k: trial[k] for k in CODE_KEYS}
    return [
        Stage(name="codebook", fn=_codebook_stage, config={"code": code}, version=VERSION),
        Stage(name="readout", fn=_readout_stage, config={"trial": trial, "seed": int(seed)}, deps=("codebook",),
              version=VERSION),
    ]


def targets(options: Mapping[str, Any]) -> list[str]:
    return ["readout"]


def metrics(settings, seed, options, folders: Mapping[str, Path]) -> dict[str, Any]:
    res = json.loads((folders["readout"] / MARKER).read_text())["result"]
    return {k: res[k] for k in METRICS}


KIND = PointKind(
    name="barcode",
    description="barcode capacity and per-molecule decoding error (validate/barcode_capacity.py)",
    check_options=check_options,
    check_settings=check_settings,
    stages=stages,
    targets=targets,
    metrics=metrics,
    metric_names=lambda options: list(METRICS),
    preload=("neurophantom.validate.barcode_capacity",),
)
