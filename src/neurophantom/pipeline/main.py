"""The main job: the whole upload loop on one world, as a cached, resumable stage graph.

    truth ──> tissue ──> record (live imaging)          train specimens: barcoded scan
                │                                        held-out specimen: barcoded and
                └──> scan ──> reconstruct ──> score      receptor-blind scans
    identify (train recon + recordings) ──> emulate (held-out scan alone) ──> function
    rosetta (train barcodes -> held-out blind scan) ─┘                 (task world: + computation)
    report: scores.json + report.html

A task world (``--preset pretty-printer``) has the same graph; its ``function`` stage
scores the task (:mod:`.judge_task`) and a ``computation`` stage infers fixed points.
The worm (``--preset celegans``) has the same graph with an ``atlas`` stage in place of
``function``: the emulation's own stimulation atlas against the truth's and the real one
(:mod:`.judge_worm`).

Every stage's config is the slice of the run config it reads, so changing, say, the
Rosetta sampling fraction reruns only ``rosetta``, ``emulate``, ``function`` and the report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from ..io import atomic_write_json
from .config import RunConfig, config_json
from .judge import function_stage, parameter_recovery
from .judge_task import computation_stage, task_function_stage
from .judge_worm import atlas_stage
from .ladder import ladder_stage
from .learn import emulate_stage, identify_stage, rosetta_stage
from .runner import Stage, StageResult, run_pipeline
from .specimen import record_stage, scan_stage, tissue_stage, truth_stage

#: Bump when a stage's code changes what it writes (invalidates old caches): the
#: specimen stages (truth, tissue, live imaging, scans, reconstructions, their scores)
#: and the method stages (identification, Rosetta, emulation, validation) separately, so
#: that work on identification does not redraw and rescan the specimens.
SPECIMEN_VERSION = "13"
METHOD_VERSION = "10"
CODE_VERSION = f"{SPECIMEN_VERSION}.{METHOD_VERSION}"
_METHOD_STAGES = ("identify", "rosetta", "emulate", "function", "computation", "ladder", "atlas")


def reconstruct_stage(out: Path, inputs, cfg) -> dict:
    from ..reconstruct import reconstruct
    from ..types.scan import Scan

    rec = reconstruct(Scan.load(inputs["scan"] / "scan"), cfg["reconstruct"] or None)
    rec.save(out / "recon")
    return {"neurons": rec.circuit.n_neurons, "synapse_partners": rec.circuit.n_synapse_partners}


def score_stage(out: Path, inputs, cfg) -> dict:
    from ..reconstruct import Reconstruction
    from ..types.phantom import Phantom
    from ..validate.scores import score

    s = score(Reconstruction.load(inputs["recon"] / "recon"), Phantom.load(inputs["tissue"] / "phantom"))
    d = s.to_json()
    atomic_write_json(out / "score.json", d)
    return d


def build_stages(cfg: RunConfig) -> list[Stage]:
    c = config_json(cfg)
    world, rec, scn = c["world"], c["recording"], c["scan"]
    stages: list[Stage] = []
    # The reconstruction reports biological um: it is told the phantom's geometry scale
    # (a property of how the specimen was drawn, as a real lab knows its expansion).
    recon_cfg = {"geometry_scale": scn["tissue"].get("geometry_scale", 0.35), **scn["reconstruct"]}
    specimens = [(f"train{k}", s) for k, s in enumerate(world["train_seeds"])] + [("heldout", world["heldout_seed"])]

    def add(name, fn, config, deps=()):
        version = METHOD_VERSION if name in _METHOD_STAGES else SPECIMEN_VERSION
        stages.append(Stage(name=name, fn=fn, config=config, deps=tuple(deps), version=version))

    for name, seed in specimens:
        # The worm's truth also depends on how much of it is kept (an organoid's key is unchanged).
        worm = {"atlas": {k: c["atlas"][k] for k in ("neurons", "stimulated")}} if world["source"] == "celegans" else {}
        # The truth circuit does not depend on the hidden processes (they act in its recordings).
        truth_world = {k: v for k, v in world.items() if k not in ("glia", "modulator")}
        add(f"truth_{name}", truth_stage, {"world": truth_world, "seed": seed, **worm})
        # Glia are drawn in the tissue and act in the recordings (which then also read the
        # truth, for the astrocytes' domains); without hidden processes both keys are as before.
        glia = {"glia": world["glia"]} if world.get("glia") else {}
        hidden = bool(glia) or bool(world.get("modulator"))
        add(f"tissue_{name}", _renamed(tissue_stage, {f"truth_{name}": "truth"}), {"tissue": scn["tissue"], "seed": seed, **glia},
            [f"truth_{name}"])
        add(f"record_{name}", _renamed(record_stage, {f"tissue_{name}": "tissue", f"truth_{name}": "truth"}),
            {"recording": rec, "world": world, "seed": seed}, [f"tissue_{name}"] + ([f"truth_{name}"] if hidden else []))
        modalities = [("barcoded", _damaged(scn["barcoded"], cfg))] + ([("blind", _damaged(scn["blind"], cfg))] if name == "heldout" else [])
        for mod, inst in modalities:
            add(f"scan_{name}_{mod}", _renamed(scan_stage, {f"tissue_{name}": "tissue"}), {"instrument": inst, "seed": seed}, [f"tissue_{name}"])
            add(f"recon_{name}_{mod}", _renamed(reconstruct_stage, {f"scan_{name}_{mod}": "scan"}), {"reconstruct": recon_cfg}, [f"scan_{name}_{mod}"])
        add(f"score_{name}", _renamed(score_stage, {f"recon_{name}_barcoded": "recon", f"tissue_{name}": "tissue"}), {}, [f"recon_{name}_barcoded", f"tissue_{name}"])
    n_train = len(world["train_seeds"])
    learn_cfg = {"world": world, "recording": rec, "identify": c["identify"], "seed": cfg.seed}
    ren = {f"recon_train{k}_barcoded": f"recon_train{k}" for k in range(n_train)}
    ren.update({f"record_train{k}": f"record_train{k}" for k in range(n_train)})
    # The map does not depend on how much the Rosetta map samples: a Rosetta-fraction
    # study (or --set identify.rosetta_fraction=...) reruns rosetta, emulate, function only.
    ident_cfg = {**learn_cfg, "identify": {k: v for k, v in c["identify"].items() if k != "rosetta_fraction"}}
    add("identify", _renamed(identify_stage, ren, sub={f"recon_train{k}": "recon" for k in range(n_train)}), ident_cfg, list(ren))
    ren_r = {f"recon_train{k}_barcoded": f"recon_train{k}" for k in range(n_train)}
    ren_r["recon_heldout_blind"] = "recon_heldout_blind"
    add("rosetta", _renamed(rosetta_stage, ren_r, sub={**{f"recon_train{k}": "recon" for k in range(n_train)}, "recon_heldout_blind": "recon"}),
        learn_cfg, list(ren_r))
    ren_e = {"identify": "identify", "recon_heldout_barcoded": "recon_heldout", "record_heldout": "record_heldout", "rosetta": "rosetta"}
    add("emulate", _renamed(emulate_stage, ren_e, sub={"recon_heldout": "recon"}), {**learn_cfg, "emulation": c["emulation"]}, list(ren_e))
    ren_f = {"tissue_heldout": "tissue", "identify": "identify", "recon_heldout_barcoded": "recon_heldout", "rosetta": "rosetta",
             "record_heldout": "record_heldout"}
    if world["source"] == "organoid":
        add("function", _renamed(function_stage, ren_f, sub={"recon_heldout": "recon"}), {**learn_cfg, "function": c["function"]}, list(ren_f))
    elif world["source"] == "celegans":
        ren_a = {**ren_f, "truth_heldout": "truth"}
        add("atlas", _renamed(atlas_stage, ren_a, sub={"recon_heldout": "recon"}), {**learn_cfg, "atlas": c["atlas"]}, list(ren_a))
    else:
        ren_f.pop("record_heldout")
        task_cfg = {**learn_cfg, "behaviour": c["behaviour"]}
        add("function", _renamed(task_function_stage, ren_f, sub={"recon_heldout": "recon"}), task_cfg, list(ren_f))
        add("computation", _renamed(computation_stage, ren_f, sub={"recon_heldout": "recon"}), task_cfg, list(ren_f))
    ren_l = {"tissue_heldout": "tissue_heldout", "record_heldout": "record_heldout", "recon_heldout_barcoded": "recon_heldout",
             "identify": "identify", "rosetta": "rosetta"}
    ren_l.update({f"tissue_train{k}": f"tissue_train{k}" for k in range(n_train)})
    ren_l.update({f"recon_train{k}_barcoded": f"recon_train{k}" for k in range(n_train)})
    add("ladder", _renamed(ladder_stage, ren_l, sub={"recon_heldout": "recon", **{f"recon_train{k}": "recon" for k in range(n_train)}}),
        {**learn_cfg, "emulation": c["emulation"]}, list(ren_l))
    return stages


def _damaged(instrument: dict, cfg: RunConfig) -> dict:
    """The instrument config with the run's tissue damage added (unchanged without any,
    so that undamaged runs keep their cache keys)."""
    extra = cfg.scan.damage.specs()
    return {**instrument, "damage": [*instrument.get("damage", []), *extra]} if extra else instrument


def _renamed(fn: Callable, names: dict[str, str], sub: dict[str, str] | None = None) -> Callable:
    """Adapt ``fn`` so that it sees its dependencies under its own names (and, for some,
    a subfolder of the dependency's stage folder)."""
    sub = sub or {}

    def wrapped(out, inputs, config):
        mapped = {names.get(k, k): v for k, v in inputs.items()}
        for k, s in sub.items():
            mapped[k] = mapped[k] / s
        return fn(out, mapped, config)

    wrapped.__name__ = getattr(fn, "__name__", "stage")
    return wrapped


def collect_scores(cfg: RunConfig, results: dict[str, StageResult]) -> dict[str, Any]:
    """The run's scores.json (the contract keys first)."""
    from ..identify.map import MapNames

    ident = dict(results["identify"].result)
    th = json.loads((results["identify"].path / "theta.json").read_text())
    names = MapNames(tuple(th["names"]["receptors"]), tuple(th["names"]["channels"]))
    ident["identifiability"] = json.loads((results["identify"].path / "identifiability.json").read_text())
    ident["convergence"] = convergence(json.loads((results["identify"].path / "history.json").read_text()))
    lad = results["ladder"].result
    ident["parameter_recovery"] = parameter_recovery(ident, config_json(cfg)["world"], names, ident["identifiability"],
                                                     effective=lad["effective_truth"])
    em = dict(results["emulate"].result)
    if "atlas" in results:  # the worm: no memory or task function; its atlas instead
        at = results["atlas"].result
        em["spike_coincidence_gamma"] = at["spike_coincidence"].get("mean_gamma")  # graded: usually undefined (null)
        em["rosetta_spike_coincidence_gamma"] = None
        fn = None
    else:
        fn = results["function"].result
        em["spike_coincidence_gamma"] = fn["emulation"].get("spike_coincidence", {}).get("mean_gamma")
        em["rosetta_spike_coincidence_gamma"] = fn["rosetta"].get("spike_coincidence", {}).get("mean_gamma")
    scans = {k[len("scan_"):]: v.result for k, v in results.items() if k.startswith("scan_")}
    task = {"computation": computation_scores(results["computation"].result)} if "computation" in results else {}
    if "atlas" in results:
        task["atlas"] = results["atlas"].result
    return {
        "reconstruction": results["score_heldout"].result,
        "reconstruction_train": {k[len("score_"):]: v.result for k, v in results.items() if k.startswith("score_train")},
        "identification": ident,
        "emulation": em,
        "function": None if fn is None else task_function_scores(fn) if "task" in fn else _function_scores(fn),
        **task,
        "ladder": lad["ladder"],
        "ladder_rosetta": lad["ladder_rosetta"],
        "instrument_seconds": {k: v["instrument_seconds"] for k, v in scans.items()},
        "runtime_seconds": {k: round(v.seconds, 3) for k, v in results.items()},
    }


def convergence(history: list[dict]) -> list[dict]:
    """The fit's loss against the number of loss evaluations (every simulated parameter
    set): one row per CMA-ES generation and per later phase, evaluations cumulative."""
    rows, done, cma_base = [], 0, None
    for h in history:
        step = "start" if h["step"] == 0 else str(h["step"])
        if step.startswith("cmaes"):  # CMA-ES counts its evaluations across its restarts
            cma_base = done if cma_base is None else cma_base
            rows += [{"phase": step, "evaluations": cma_base + int(e), "train_loss": float(loss)} for e, loss in h.get("curve", [])]
            done = cma_base + int(h.get("evaluations", 0))
        else:
            done += int(h.get("evaluations", 0))
        rows.append({"phase": step, "evaluations": done, "train_loss": float(h["train_loss"]),
                     "validation_loss": float(h["validation_loss"])})
    return rows


def _function_scores(fn: dict) -> dict:
    """Memory recall of truth and emulations, and the share of the truth's recall each
    emulation keeps (paired bootstrap over cue trials; ``error`` = |log ratio|, two-sided)."""
    from ..validate.memory import recall_ratio

    out = {"truth": fn["truth"]["score"], "emulation": fn["emulation"]["score"], "rosetta_emulation": fn["rosetta"]["score"]}
    for key, label in (("emulation", ""), ("rosetta", "rosetta_")):
        r = recall_ratio(fn["truth"], fn[key]) if "patterns" in fn[key] else {}
        out[f"{label}ratio"] = r.get("ratio", float("nan"))
        out[f"{label}ratio_ci95"] = r.get("ratio_ci95", [float("nan")] * 2)
        out[f"{label}error"] = r.get("error", float("nan"))
        if key == "emulation":
            out["truth_ci95"] = r.get("truth_ci95", [float("nan")] * 2)
    out["details"] = fn
    return out


def task_function_scores(fn: dict) -> dict:
    """Task scores (fraction correct) of truth, emulations and the shuffled control, and
    the share of the truth's above-chance score each keeps (paired bootstrap over trials,
    :func:`neurophantom.validate.task_function.task_ratio`)."""
    from ..validate.task_function import task_ratio

    out = {"task": fn["task"], "chance": fn["chance"], "truth": fn["truth"]["score"], "emulation": fn["emulation"]["score"],
           "rosetta_emulation": fn["rosetta"]["score"], "control": fn["control"]["score"]}
    for key, label in (("emulation", ""), ("rosetta", "rosetta_"), ("control", "control_")):
        r = task_ratio(fn["truth"], fn[key], fn["task"])
        out[f"{label}ratio"], out[f"{label}ratio_ci95"], out[f"{label}error"] = r["ratio"], r["ratio_ci95"], r["error"]
        if key == "emulation":
            out["truth_above_chance_ci95"] = r["truth_ci95"]
    out["details"] = fn
    return out


def computation_scores(comp: dict) -> dict:
    """The inferred computation: distance of each performer's fixed points to the rate
    network's (output units), the emulation's description, and the reference's."""
    out = {"method": comp["method"], "distance": comp["emulation"]["distance"]}
    for label in ("truth", "rosetta", "control"):
        out[f"{label}_distance"] = comp[label]["distance"]
    out["emulation"] = comp["emulation"].get("fixed_points")
    out["rate_network"] = comp["rate_network"]
    out["details"] = comp
    return out


def run_main(cfg: RunConfig, out: Path, *, on_start=None, on_done=None) -> dict[str, Any]:
    """Run the whole loop into ``out``; write ``scores.json`` and ``report.html`` there."""
    from .report import write_run_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", config_json(cfg))
    t0 = time.perf_counter()
    results = run_pipeline(build_stages(cfg), out, on_start=on_start, on_done=on_done)
    scores = collect_scores(cfg, results)
    scores["total_seconds_this_invocation"] = round(time.perf_counter() - t0, 3)
    atomic_write_json(out / "scores.json", _finite(scores))
    write_run_report(out / "report.html", cfg, scores, results)
    return scores


def _finite(obj):
    """JSON has no NaN: undefined numbers are written as null."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
