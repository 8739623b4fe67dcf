"""The ``pipeline`` point kind: the closed loop of ``neurophantom run``, or the part of it
that the study's metric groups need.

Settings are the run config's dotted keys (``neurophantom run --set``). A study's seed
``k`` draws new specimens and a new learning seed: ``seed + k``, every training seed
``+ 100 k`` and the held-out seed ``+ 100 k``, so seed 0 is the configured run itself
(and shares its stages with a ``neurophantom run`` of the same config).

Options: ``metrics``, a list of metric groups; a point runs the stages they read and
everything upstream of them (:func:`~neurophantom.pipeline.upstream`):

``truth``
    the held-out specimen's size (cheap: the ground truth only).
``tissue``
    the held-out phantom's voxels and molecules.
``scan`` / ``blind_scan``
    real-instrument seconds of the held-out barcoded / receptor-blind scan and the
    fraction of its voxels whose tissue was lost.
``reconstruction`` / ``blind_reconstruction``
    the held-out barcoded / receptor-blind reconstruction scored against its phantom
    (:func:`~neurophantom.validate.scores.score`): variation of information, adapted
    Rand error, splits and merges, synapse and edge F1, weight correlation, and (barcoded)
    receptor-type accuracy and molecule recall. Prefixed ``exm_`` / ``blind_``.
``rosetta``
    the Rosetta map's leave-one-out shape -> cell-type accuracy and its training size.
``emulation``
    held-out trace correlation of the barcoded emulation, the Rosetta emulation of the
    receptor-blind scan, the shuffled-connectome control and the free-weight baseline.
``function``
    memory recall of truth and emulations, the function kept (emulation recall / truth
    recall) and the spike coincidence (Gamma) with the specimen's spikes (organoid).
``task``
    task world (``preset: pretty-printer``): fraction correct on held-out trials of the
    truth, the barcoded and Rosetta emulations and the shuffled control, and the share of
    the truth's above-chance score each keeps.
``computation``
    task world: Chamfer distance between the attracting fixed points each performer's
    own dynamics has and the rate network's (:mod:`neurophantom.validate.computation`).

Option ``preset`` (default ``organoid``) picks the run preset the settings override, as
``neurophantom run --preset``; it is part of a point's id only when given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from ..._errors import NeurophantomError
from ...pipeline.runner import MARKER, Stage
from . import PointKind

SEED_STRIDE = 100


def _result(folder: Path) -> dict:
    return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("result") or {}


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else float("nan")


def _ratio(a: Any, b: Any) -> float:
    a, b = _num(a), _num(b)
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else float("nan")


def _truth(f: Mapping[str, Path]) -> dict:
    r = _result(f["truth_heldout"])
    return {"truth_neurons": r["neurons"], "truth_synapse_partners": r["synapse_partners"]}


def _tissue(f: Mapping[str, Path]) -> dict:
    from ...types.phantom import Phantom

    ph = Phantom.load(f["tissue_heldout"] / "phantom")  # checks the volume's chunk manifest
    return {"phantom_voxels": int(_result(f["tissue_heldout"])["voxels"]), "phantom_molecules": int(len(ph.molecules))}


def _scan(stage: str, prefix: str):
    def read(f: Mapping[str, Path]) -> dict:
        from ...types.scan import Scan

        lost = Scan.load(f[stage] / "scan").lost_fraction
        return {f"{prefix}instrument_s": _num(_result(f[stage])["instrument_seconds"]), f"{prefix}lost_fraction": float(lost)}

    return read


RECON_METRICS = {
    "voi": ("segmentation", "voi"), "voi_split": ("segmentation", "voi_split"), "voi_merge": ("segmentation", "voi_merge"),
    "adapted_rand_error": ("segmentation", "adapted_rand_error"), "split_neurons": ("segmentation", "split_neurons"),
    "merged_segments": ("segmentation", "merged_segments"), "synapse_f1": ("synapses", "f1"),
    "partner_f1": ("synapses", "partner_f1"), "edge_f1": ("connectome", "edge_f1"),
    "weight_r": ("connectome", "weight_correlation"), "type_accuracy": ("molecules", "type_accuracy"),
    "molecule_recall": ("molecules", "molecule_recall"),
}


def _recon(prefix: str, stage: str):
    def read(f: Mapping[str, Path]) -> dict:
        r = _result(f[stage])
        return {f"{prefix}_{k}": _num((r.get(a) or {}).get(b)) for k, (a, b) in RECON_METRICS.items()}

    return read


def _rosetta(f: Mapping[str, Path]) -> dict:
    r = _result(f["rosetta"])
    return {"rosetta_shape_accuracy": _num(r.get("shape_type_accuracy_leave_one_out")),
            "rosetta_types": _num(r.get("n_types")), "rosetta_training_synapses": _num(r.get("n_training_synapses"))}


def _emulation(f: Mapping[str, Path]) -> dict:
    r = _result(f["emulate"])
    return {"exm_trace_r": _num(r.get("trace_correlation")), "rosetta_trace_r": _num(r.get("rosetta_trace_correlation")),
            "shuffled_trace_r": _num(r.get("control_trace_correlation")),
            "free_weights_trace_r": _num(r.get("baseline_trace_correlation"))}


def _function(f: Mapping[str, Path]) -> dict:
    r = _result(f["function"])
    truth = (r.get("truth") or {}).get("score")
    out = {"truth_recall": _num(truth)}
    for label, prefix in (("emulation", "exm"), ("rosetta", "rosetta")):
        d = r.get(label) or {}
        out[f"{prefix}_recall"] = _num(d.get("score"))
        out[f"{prefix}_function_kept"] = _ratio(d.get("score"), truth)
        out[f"{prefix}_spike_gamma"] = _num((d.get("spike_coincidence") or {}).get("mean_gamma"))
    return out


def _task(f: Mapping[str, Path]) -> dict:
    r = _result(f["function"])
    chance = _num(r.get("chance"))
    score = {k: _num((r.get(k) or {}).get("score")) for k in ("truth", "emulation", "rosetta", "control")}
    out = {f"{p}_task_score": score[k] for k, p in (("truth", "truth"), ("emulation", "exm"), ("rosetta", "rosetta"),
                                                    ("control", "shuffled"))}
    for k, p in (("emulation", "exm"), ("rosetta", "rosetta"), ("control", "shuffled")):
        out[f"{p}_task_kept"] = _ratio(score[k] - chance, score["truth"] - chance)
    return out


def _computation(f: Mapping[str, Path]) -> dict:
    r = _result(f["computation"])
    return {f"{p}_fixed_point_distance": _num((r.get(k) or {}).get("distance"))
            for k, p in (("emulation", "exm"), ("rosetta", "rosetta"), ("control", "shuffled"))}


BLIND_SCORE = "study_score_heldout_blind"

#: group -> (stages it reads, reader, metric names)
GROUPS: dict[str, tuple[tuple[str, ...], Any, tuple[str, ...]]] = {
    "truth": (("truth_heldout",), _truth, ("truth_neurons", "truth_synapse_partners")),
    "tissue": (("tissue_heldout",), _tissue, ("phantom_voxels", "phantom_molecules")),
    "scan": (("scan_heldout_barcoded",), _scan("scan_heldout_barcoded", "exm_"), ("exm_instrument_s", "exm_lost_fraction")),
    "blind_scan": (("scan_heldout_blind",), _scan("scan_heldout_blind", "blind_"), ("blind_instrument_s", "blind_lost_fraction")),
    "reconstruction": (("score_heldout",), _recon("exm", "score_heldout"), tuple(f"exm_{k}" for k in RECON_METRICS)),
    "blind_reconstruction": ((BLIND_SCORE,), _recon("blind", BLIND_SCORE), tuple(f"blind_{k}" for k in RECON_METRICS)),
    "rosetta": (("rosetta",), _rosetta, ("rosetta_shape_accuracy", "rosetta_types", "rosetta_training_synapses")),
    "emulation": (("emulate",), _emulation, ("exm_trace_r", "rosetta_trace_r", "shuffled_trace_r", "free_weights_trace_r")),
    "function": (("function",), _function, ("truth_recall", "exm_recall", "exm_function_kept", "exm_spike_gamma",
                                            "rosetta_recall", "rosetta_function_kept", "rosetta_spike_gamma")),
    "task": (("function",), _task, ("truth_task_score", "exm_task_score", "rosetta_task_score", "shuffled_task_score",
                                    "exm_task_kept", "rosetta_task_kept", "shuffled_task_kept")),
    "computation": (("computation",), _computation, ("exm_fixed_point_distance", "rosetta_fixed_point_distance",
                                                     "shuffled_fixed_point_distance")),
}
#: Metric groups that only one kind of world has.
ORGANOID_ONLY, TASK_ONLY = ("function",), ("task", "computation")


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    from ...pipeline.config import PRESETS

    extra = sorted(set(options) - {"metrics", "preset"})
    if extra:
        raise NeurophantomError(f"unknown pipeline option {extra[0]!r} (known: metrics, preset)")
    groups = options.get("metrics")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
        raise NeurophantomError(f"pipeline studies need options.metrics, a list of metric groups ({', '.join(GROUPS)})")
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise NeurophantomError(f"unknown metric group {bad[0]!r} (known: {', '.join(GROUPS)})")
    out: dict[str, Any] = {"metrics": list(dict.fromkeys(groups))}
    preset = options.get("preset", "organoid")
    if preset not in PRESETS:
        raise NeurophantomError(f"unknown pipeline option preset {preset!r} (known: {', '.join(PRESETS)})")
    refused = {"organoid": TASK_ONLY, "pretty-printer": ORGANOID_ONLY}.get(preset, ORGANOID_ONLY + TASK_ONLY)
    wrong = [g for g in groups if g in refused]
    if wrong:
        raise NeurophantomError(f"metric group {wrong[0]!r} does not apply to preset {preset!r}")
    if "preset" in options:
        out["preset"] = preset
    return out


def run_config(settings: Mapping[str, Any], seed: int, preset: str = "organoid"):
    """The run config of a point at study seed ``seed`` (see the module docstring)."""
    from ...pipeline.config import load_run_config

    base = load_run_config(preset, sets=dict(settings))
    if seed == 0:
        return base
    sets = {**settings, "seed": base.seed + seed, "world.heldout_seed": base.world.heldout_seed + SEED_STRIDE * seed,
            "world.train_seeds": [t + SEED_STRIDE * seed for t in base.world.train_seeds]}
    return load_run_config(preset, sets=sets)


def check_settings(settings: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """The run config, and every stage's instrument, tissue and reconstruction config."""
    from ...instruments.static import instrument_config
    from ...reconstruct.config import ReconstructConfig
    from ...tissue.config import TissueConfig

    cfg = run_config(settings, 0, options.get("preset", "organoid"))
    import pydantic

    try:
        TissueConfig(seed=0, **cfg.scan.tissue)
        for s in stages(settings, 0, options):
            if s.name.startswith("scan_"):
                instrument_config(dict(s.config["instrument"]))
            elif s.name.startswith("recon_"):
                ReconstructConfig.model_validate(s.config["reconstruct"])
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise NeurophantomError(f"run config ({where}): {err.get('msg', 'invalid')}") from None
    except TypeError as exc:
        raise NeurophantomError(f"run config: {exc}") from None


def _score_blind(out: Path, inputs, cfg) -> dict:
    from ...pipeline.main import score_stage

    return score_stage(out, {"recon": inputs["recon_heldout_blind"], "tissue": inputs["tissue_heldout"]}, cfg)


def stages(settings: Mapping[str, Any], seed: int, options: Mapping[str, Any]) -> list[Stage]:
    from ...pipeline.main import CODE_VERSION, build_stages

    graph = build_stages(run_config(settings, seed, options.get("preset", "organoid")))
    if "blind_reconstruction" in options.get("metrics", ()):
        graph.append(Stage(name=BLIND_SCORE, fn=_score_blind, config={}, deps=("recon_heldout_blind", "tissue_heldout"),
                           version=CODE_VERSION))
    return graph


def targets(options: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(s for g in options["metrics"] for s in GROUPS[g][0]))


def metrics(settings, seed, options, folders: Mapping[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for g in options["metrics"]:
        out.update(GROUPS[g][1](folders))
    return out


KIND = PointKind(
    name="pipeline",
    description="the closed loop of `neurophantom run` (or the stages its metric groups need)",
    check_options=check_options,
    check_settings=check_settings,
    stages=stages,
    targets=targets,
    metrics=metrics,
    metric_names=lambda options: [m for g in options["metrics"] for m in GROUPS[g][2]],
    preload=("neurophantom.pipeline.main", "neurophantom.pipeline.learn", "neurophantom.pipeline.judge",
             "neurophantom.reconstruct", "neurophantom.tissue", "neurophantom.instruments.static"),
)
