"""The validation stages: the only place the run holds results against the ground truth.

- function: memory recall from partial cues on the true specimen, on its emulation from
  the barcoded scan, and on the receptor-blind scan filled by the Rosetta map (the same
  cues and the same background noise, applied to the same cells), and the spike
  coincidence of each emulation with the specimen's true spikes on held-out protocols;
- parameters: the learned map against the world's hidden values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..biophysics import build_model
from ..identify.map import MapNames, apply_map, extend_map, init_theta, make_template, natural_values
from ..identify.register import register
from ..types import Circuit
from ..types.stimulus import Noise, Step, Stimulus
from .learn import _theta_from_json, calibrated, reference_library


def _map_stimulus(stim: Stimulus, mapping: dict[int, int]) -> Stimulus:
    comps = []
    for c in stim.components:
        if c.targets == "all":
            comps.append(c)
            continue
        t = tuple(mapping[i] for i in c.targets if i in mapping)
        if not t:
            continue
        if isinstance(c, Step):
            comps.append(Step(targets=t, amplitude_pA=c.amplitude_pA, start_ms=c.start_ms, stop_ms=c.stop_ms))
        elif isinstance(c, Noise):
            comps.append(Noise(targets=t, sigma_pA=c.sigma_pA, tau_ms=c.tau_ms, start_ms=c.start_ms, stop_ms=c.stop_ms))
    return Stimulus(duration_ms=stim.duration_ms, components=tuple(comps))


def _recall(model, patterns, excitatory, background, cfg) -> dict:
    from ..validate.memory import RecallProtocol, memory_recall

    f = cfg["function"]
    proto = RecallProtocol(n_trials=f["recall_trials"], dt_ms=f["recall_dt_ms"], cue_pA=f["recall_cue_pA"])
    return memory_recall(model, patterns, excitatory_ids=excitatory, background=background, seed=int(cfg["seed"]), protocol=proto).to_dict()


def load_theta(identify_dir: Path) -> tuple[dict, MapNames]:
    """The fitted map of an ``identify`` stage folder."""
    tj = json.loads((identify_dir / "theta.json").read_text())
    return _theta_from_json(tj["theta"]), MapNames(tuple(tj["names"]["receptors"]), tuple(tj["names"]["channels"]))


def emulation_model(circuit: Circuit, theta, names: MapNames, cfg: Mapping[str, Any]):
    """The emulation of a recovered ``circuit``: the fitted map (extended by the library
    to types it never saw) applied to the circuit as the method measured it."""
    ref = reference_library(cfg["world"])
    th, nm = extend_map(theta, names, circuit, ref)
    return apply_map(th, make_template(calibrated(circuit, cfg), ref, transmission=cfg["world"]["transmission"]), nm)


def function_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Memory recall of truth, barcoded emulation and Rosetta emulation."""
    from ..validate.memory import recall_inputs

    truth = Circuit.load(inputs["tissue"] / "specimen")  # truth ids, positions in the phantom frame
    inp = recall_inputs(truth)
    tr = cfg["world"]["transmission"]
    result = {"truth": _recall(build_model(truth, transmission=tr), inp.patterns, inp.excitatory_ids, inp.background, cfg)}
    theta, names = load_theta(inputs["identify"])
    pos = truth.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    held = _held_out(inputs["record_heldout"]) if "record_heldout" in inputs else []
    for label, path in (("emulation", inputs["recon_heldout"]), ("rosetta", inputs["rosetta"] / "circuit")):
        circuit = Circuit.load(path)
        mapping = register(truth.neuron_ids, pos, circuit).mapping()
        patterns = [[mapping[i] for i in p if i in mapping] for p in inp.patterns]
        excitatory = [mapping[i] for i in inp.excitatory_ids if i in mapping]
        model = emulation_model(circuit, theta, names, cfg)
        try:
            result[label] = _recall(model, patterns, excitatory, _map_stimulus(inp.background, mapping), cfg)
        except NeurophantomError as exc:
            # An emulation that blows up is a failed upload, reported as such (no recall).
            result[label] = {"score": float("nan"), "failed": str(exc)}
        result[label]["matched_fraction"] = len(mapping) / truth.n_neurons
        if "record_heldout" in inputs and "failed" not in result[label]:
            try:
                result[label]["spike_coincidence"] = _coincidence(model, circuit, held, cfg)
            except NeurophantomError as exc:
                result[label]["spike_coincidence"] = {"mean_gamma": float("nan"), "failed": str(exc)}
    return {k: v for k, v in result.items()}


def _held_out(record_dir: Path) -> list:
    """Each held-out session: (what the instrument recorded, the true spike trains)."""
    from ..instruments.dynamic import read_ground_truth, read_imaging

    paths = sorted(record_dir.glob("heldout_*.nwb"))
    return [(read_imaging(p), read_ground_truth(p).activity[0].spike_trains()) for p in paths]


def _coincidence(model, circuit: Circuit, held: list, cfg) -> dict:
    """Spike coincidence (Gamma factor, Kistler et al. 1997; Jolivet et al. 2008) of the
    emulation's spikes with the specimen's true spikes on the held-out protocols, over the
    unstimulated neurons matched to the reconstruction (``validate.activity``). Trials of
    a protocol differ only in camera noise, so the first trial's spikes stand for all."""
    import jax

    from ..engine import simulate
    from ..validate.activity import spike_coincidence
    from .learn import _experiments

    dt = cfg["recording"]["model_dt_ms"]
    if not model.meta.has_spiking and not any(len(t) for _, trains in held for t in trains.values()):
        # A graded world (the worm): neither the model nor the specimen spikes, so Gamma
        # is undefined for every neuron; nothing to simulate.
        n = sum(len(s.neuron_ids) for s, _ in held)
        return {"mean_gamma": float("nan"), "delta_ms": 2.0, "n_neurons": n, "n_undefined": n, "reason": "no spikes (graded)"}
    exps, reg = _experiments(circuit, [s for s, _ in held], dt, "gamma")
    back = {r: t for t, r in reg.mapping().items()}
    gammas = []
    for k, (e, (_, true_trains)) in enumerate(zip(exps, held)):
        em = simulate(model, e.stimulus, dt_ms=dt, key=jax.random.key(k), progress=False)
        pred = {back[i]: t for i, t in em.spike_trains().items() if i in back}
        stimulated = {back[i] for i in e.stimulus.target_ids() if i in back}
        ids = [i for i in back.values() if i not in stimulated]
        gammas.append(spike_coincidence(pred, true_trains, neuron_ids=ids, duration_ms=e.stimulus.duration_ms, delta_ms=2.0).gamma)
    gamma = np.concatenate(gammas) if gammas else np.zeros(0)
    ok = np.isfinite(gamma)
    return {"mean_gamma": float(gamma[ok].mean()) if ok.any() else float("nan"), "delta_ms": 2.0,
            "n_neurons": int(gamma.size), "n_undefined": int((~ok).sum())}


def parameter_recovery(identify_result: Mapping[str, Any], world: Mapping[str, Any], names: MapNames,
                       identifiability: Mapping[str, Any] | None = None, effective: Mapping[str, float] | None = None) -> dict:
    """Learned map values beside the world's hidden ones and the effective truth (the
    values that reproduce the truth's conductances through the reconstruction and its
    calibration, :mod:`neurophantom.validate.effective`). ``ratio`` and ``covered`` (the
    effective truth inside the reported 95% interval) are against the effective truth.
    ``status`` is the identifiability verdict (``fixed``, ``constrained by the data``, or
    why not); a fixed parameter is never reported identifiable."""
    ref = reference_library(world)
    true = natural_values(init_theta(ref.override(world["biophysics"]), names.receptors, names.channels), names)
    est = identify_result["recovered_parameters"]
    start = identify_result["start_parameters"]
    verdict = (identifiability or {}).get("parameters", {})
    rows = {}
    for k, v in true.items():
        why = verdict.get(k, {}).get("reason", "not analysed")
        eff = float((effective or {}).get(k, v))
        ci = verdict.get(k, {}).get("ci95")
        covered = bool(ci[0] <= eff <= ci[1]) if ci and why != "fixed" else None
        rows[k] = {"true": v, "effective_truth": eff, "start": start[k], "recovered": est[k],
                   "ratio": est[k] / eff if eff else None, "ci95": ci, "covered": covered,
                   "identifiable": k not in identify_result["unidentifiable"] and why != "fixed", "status": why}
    return rows
