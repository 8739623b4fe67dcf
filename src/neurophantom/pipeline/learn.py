"""Stages that learn and emulate: identification, the Rosetta map, emulation of a held-out
specimen from its scan alone, and its controls.

These stages see only what the instruments produced (reconstructions, imaging sessions,
the experimenter's own protocols) plus the reference molecular library; the ground truth
enters only in :mod:`.judge`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
import pandas as pd

from ..biophysics import Biophysics, preset
from ..identify.calibrate import calibrate_membrane, membrane_from_geometry
from ..identify.baseline import fit_free_weights, free_weight_model, shuffled_connectome
from ..identify.fit import FitConfig, Specimen, fit_map
from ..identify.identifiability import identifiability
from ..identify.map import GROUPS, MapNames, apply_map, extend_map, init_theta, make_template, natural_values
from ..identify.noise import pool_trial_noise
from ..identify.observe import Experiment, correlation, predict
from ..identify.register import experiments_from_imaging, register
from ..identify.rosetta import apply_rosetta, learn_rosetta
from ..io import atomic_write_json
from ..types import Circuit

#: Channel kinetics of the organoid's molecular library (a property of the channel
#: species, measured in vitro, hence known to the method; what it must learn are
#: conductances per molecule and receptor properties).
LIBRARY_KINETICS = {"channels.na.VT_mV": -58.0, "channels.kdr.VT_mV": -58.0}


#: Per-neuron shape features the Rosetta map may use (reconstruct/morphology.py).
MORPHOLOGY_FEATURES = ("soma_radius_um", "cable_length_um", "mean_radius_um", "n_branch_points", "n_terminals")


def reference_library(world: Mapping[str, Any] | None = None) -> Biophysics:
    """The method's molecular library: the organoid's (cortex-like, with the channel
    kinetics above), or for the worm world the worm's own (``preset("celegans")``: its
    receptor types and graded release, as known from the literature)."""
    if world is not None and world.get("source") == "celegans":
        return preset("celegans")
    return preset("default").override(LIBRARY_KINETICS)


def calibrated(circuit: Circuit, cfg: Mapping[str, Any]) -> Circuit:
    """The reconstruction as the map sees it.

    ``membrane="geometry"`` (default): each neuron's membrane area is the surface of its
    segment, as the reconstruction measured it (:func:`~neurophantom.identify.calibrate.
    membrane_from_geometry`); ``"marker"``: area and channel totals anchored on molecule
    counts of a marker channel (:func:`~neurophantom.identify.calibrate.calibrate_membrane`),
    for scans that hold only part of each cell."""
    ic = cfg["identify"]
    circuit = _graded_without_sodium(circuit)
    if ic.get("membrane", "geometry") == "geometry":
        return membrane_from_geometry(circuit)
    return calibrate_membrane(circuit, ic["typical_area_um2"], ic["typical_density_per_um2"])


def _graded_without_sodium(circuit: Circuit) -> Circuit:
    """A circuit whose scan read channel types but no fast sodium channel among them (the
    worm) has no neuron that fires sodium spikes: every neuron releases graded. Circuits
    with a sodium channel type (the organoid) are returned unchanged."""
    if not len(circuit.channel_types) or "na" in circuit.channel_types or (circuit.neurons["release"] == "graded").all():
        return circuit
    return circuit.replace(neurons=circuit.neurons.assign(release="graded"))


def load_reconstruction(path: Path) -> tuple[Circuit, pd.DataFrame]:
    """A reconstruction folder: the recovered Circuit and its per-neuron morphology."""
    c = Circuit.load(path)
    morph = pd.read_parquet(path / "morphology.parquet")
    key = "neuron_id" if "neuron_id" in morph.columns else "id"
    morph = morph.set_index(key)
    # Shape only, in physical units: voxel counts, bounding boxes and positions depend on
    # the scan's grid and frame, and would tell modalities apart rather than cell types.
    feats = morph[[f for f in MORPHOLOGY_FEATURES if f in morph.columns]].astype(np.float64)
    return c, feats.loc[c.neuron_ids]


def _sessions(record_dir: Path, prefix: str):
    from ..instruments.dynamic import read_imaging

    return [read_imaging(p) for p in sorted(record_dir.glob(f"{prefix}_*.nwb"))]


def _experiments(circuit: Circuit, sessions, dt_ms: float, tag: str, smooth_ms: float | None = None) -> tuple[list[Experiment], object]:
    """Experiments of ``circuit`` from imaging sessions; ``smooth_ms`` sets the Gaussian
    smoothing under which the fit compares model and data (default: the Experiment's)."""
    roi_ids = sessions[0].neuron_ids
    reg = register(roi_ids, sessions[0].roi_positions_um, circuit)
    exps = [experiments_from_imaging(s, circuit, reg, dt_ms=dt_ms, name=f"{tag}{k}") for k, s in enumerate(sessions)]
    if smooth_ms is not None:
        exps = [dataclasses.replace(e, smooth_frames=smooth_ms / e.timing.frame_period_ms) for e in exps]
    return pool_trial_noise(exps), reg


def _theta_json(theta) -> dict:
    return {g: np.asarray(theta[g]).tolist() for g in GROUPS}


def _theta_from_json(d) -> dict:
    import jax.numpy as jnp

    return {g: jnp.asarray(np.asarray(d[g], dtype=np.float64)) for g in GROUPS}


def _present(fixed, names: MapNames, ref: Biophysics) -> tuple[str, ...]:
    """The fixed parameters of types these scans contain. A library type no specimen
    shows (e.g. a channel whose molecules the scan never decoded) has nothing to fix; a
    name the library does not know is a configuration error, reported by ``fit_map``."""
    library = set(MapNames(tuple(ref.receptors), tuple(ref.channels)).flat_names())
    here = set(names.flat_names())
    return tuple(f for f in fixed if f in here or f not in library)


def identify_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Learn the map on the training specimens' barcoded reconstructions and recordings."""
    ic, rc = cfg["identify"], cfg["recording"]
    ref = reference_library(cfg["world"])
    specimens, regs = [], []
    nv = ic["validation_protocols"]
    for k in range(len(cfg["world"]["train_seeds"])):
        circuit, _ = load_reconstruction(inputs[f"recon_train{k}"])
        exps, reg = _experiments(circuit, _sessions(inputs[f"record_train{k}"], "mapping"), rc["model_dt_ms"], f"train{k}-",
                                 smooth_ms=ic["smooth_ms"])
        regs.append(reg)
        template = make_template(calibrated(circuit, cfg), ref, transmission=cfg["world"]["transmission"])
        specimens.append(Specimen(f"train{k}", template, tuple(exps[:-nv]), tuple(exps[-nv:])))
    names = MapNames(specimens[0].template.receptor_types, specimens[0].template.channel_types)
    theta0 = init_theta(ref, names.receptors, names.channels)
    fcfg = FitConfig(free=tuple(ic["free"]), fixed=_present(ic["fixed"], names, ref), steps=ic["steps"], learning_rate=ic["learning_rate"],
                     global_search=ic["global_search"], search_cycles=ic["search_cycles"], cma_generations=ic["cma_generations"],
                     cma_popsize=ic["cma_popsize"], cma_restarts=ic["cma_restarts"], cma_sigma=ic["cma_sigma"],
                     batch_trials=ic["batch_trials"], refine_steps=ic["refine_steps"], teacher_forcing=ic["teacher_forcing"],
                     seed=int(cfg["seed"]))
    res = fit_map(specimens, theta0, names, fcfg)
    rep = identifiability(specimens, res.theta, names, fcfg.free, fixed=fcfg.fixed, prior_precision=res.prior_precision)
    atomic_write_json(out / "theta.json", {"theta": _theta_json(res.theta), "names": {"receptors": list(names.receptors), "channels": list(names.channels)}})
    atomic_write_json(out / "identifiability.json", rep.to_dict())
    atomic_write_json(out / "history.json", res.history)
    return {
        "recovered_parameters": natural_values(res.theta, names),
        "start_parameters": natural_values(theta0, names),
        "unidentifiable": rep.unidentifiable,
        "train_loss": res.train_loss,
        "reduced_chi_square": rep.reduced_chi_square,
        "misspecified": rep.misspecified,
        "fit_evaluations": res.evaluations,
        "validation_loss": res.validation_loss,
        "fit_seconds": res.seconds,
        "roi_matched_fraction": float(np.mean([r.matched_fraction for r in regs])),
    }


def rosetta_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Learn morphology -> densities on barcoded training scans (a sampled fraction) and
    fill the held-out specimen's receptor-blind reconstruction with it."""
    circuits, feats = [], []
    for k in range(len(cfg["world"]["train_seeds"])):
        c, f = load_reconstruction(inputs[f"recon_train{k}"])
        circuits.append(c)
        feats.append(f)
    blind, blind_feats = load_reconstruction(inputs["recon_heldout_blind"])
    rmap = learn_rosetta(circuits, feats, fraction=cfg["identify"]["rosetta_fraction"], seed=int(cfg["seed"]))
    filled = apply_rosetta(rmap, blind, blind_feats[list(rmap.feature_names)])
    filled.save(out / "circuit")
    blind_feats.reset_index().rename(columns={blind_feats.index.name or "index": "neuron_id"}).to_parquet(out / "circuit" / "morphology.parquet")
    from .main import _finite  # an undefined spread (one sampled synapse of a type) is null, not NaN

    return _finite(rmap.to_dict())


def _predict_all(model, exps, key):
    return [np.asarray(predict(model, e, key)) for e in exps]


def _score(preds, exps, stimulated, sigma_ms: float) -> dict:
    """Per-neuron correlation of predicted vs recorded traces (trial means), over imaged,
    non-stimulated neurons (a stimulated cell's own response says nothing of the network):
    after Gaussian smoothing of ``sigma_ms`` (``median``, ``per_neuron``) and frame by
    frame (``median_raw``)."""
    from scipy.ndimage import gaussian_filter1d

    rs, raw = [], []
    for p, e, stim in zip(preds, exps, stimulated):
        keep = (e.weights > 0) & ~stim
        frame_ms = float(np.median(np.diff(e.timing.frame_times_ms())))
        sm = (lambda x: gaussian_filter1d(np.asarray(x, np.float64), sigma_ms / frame_ms, axis=0)) if sigma_ms > 0 else np.asarray
        rs.append(np.asarray(correlation(sm(p), sm(e.mean_measured)))[keep])
        raw.append(np.asarray(correlation(p, e.mean_measured))[keep])
    r = np.concatenate(rs) if rs else np.zeros(0)
    r0 = np.concatenate(raw) if raw else np.zeros(0)
    med = lambda x: float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")  # noqa: E731
    return {"median": med(r), "median_raw": med(r0), "per_neuron": [float(x) for x in r]}


def _stimulated_mask(exp: Experiment, circuit: Circuit) -> np.ndarray:
    ids = exp.stimulus.target_ids()
    return np.isin(circuit.neuron_ids, list(ids))


def emulate_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Predict the held-out specimen's held-out protocols from its scan alone, beside the
    shuffled-connectome control, the free-weight baseline and the Rosetta emulation."""
    rc, ic = cfg["recording"], cfg["identify"]
    ref = reference_library(cfg["world"])
    tj = json.loads((inputs["identify"] / "theta.json").read_text())
    theta = _theta_from_json(tj["theta"])
    names = MapNames(tuple(tj["names"]["receptors"]), tuple(tj["names"]["channels"]))
    key = jax.random.key(int(cfg["seed"]))
    circuit, _ = load_reconstruction(inputs["recon_heldout"])
    held_sessions = _sessions(inputs["record_heldout"], "heldout")
    held, reg = _experiments(circuit, held_sessions, rc["model_dt_ms"], "heldout")
    mapping_exps, _ = _experiments(circuit, _sessions(inputs["record_heldout"], "mapping"), rc["model_dt_ms"], "mapping")
    stim = [_stimulated_mask(e, circuit) for e in held]
    tr = cfg["world"]["transmission"]

    theta_b, names_b = theta, names
    theta, names = extend_map(theta, names, circuit, ref)
    template = make_template(calibrated(circuit, cfg), ref, transmission=tr)
    preds = _predict_all(apply_map(theta, template, names), held, key)
    sig = cfg["emulation"]["trace_sigma_ms"]
    emulation = _score(preds, held, stim, sig)

    shuffled = make_template(calibrated(shuffled_connectome(circuit, int(cfg["seed"])), cfg), ref, transmission=tr)
    control = _score(_predict_all(apply_map(theta, shuffled, names), held, key), held, stim, sig)

    log_w, base_info = fit_free_weights(theta, template, names, mapping_exps, steps=ic["baseline_steps"], seed=int(cfg["seed"]))
    baseline = _score(_predict_all(free_weight_model(theta, template, names, log_w), held, key), held, stim, sig)

    blind = Circuit.load(inputs["rosetta"] / "circuit")
    held_b, _ = _experiments(blind, held_sessions, rc["model_dt_ms"], "heldout-blind")
    theta_b, names_b = extend_map(theta_b, names_b, blind, ref)
    bt = make_template(calibrated(blind, cfg), ref, transmission=tr)
    rosetta = _score(_predict_all(apply_map(theta_b, bt, names_b), held_b, key), held_b, [_stimulated_mask(e, blind) for e in held_b], sig)

    np.savez(out / "traces.npz", time_ms=held[0].timing.frame_times_ms(), predicted=preds[0], recorded=held[0].mean_measured,
             weights=held[0].weights, stimulated=stim[0].astype(np.int8))
    return {
        "trace_correlation": emulation["median"],
        "control_trace_correlation": control["median"],
        "baseline_trace_correlation": baseline["median"],
        "rosetta_trace_correlation": rosetta["median"],
        "trace_sigma_ms": sig,
        "trace_correlation_raw": emulation["median_raw"],
        "control_trace_correlation_raw": control["median_raw"],
        "baseline_trace_correlation_raw": baseline["median_raw"],
        "rosetta_trace_correlation_raw": rosetta["median_raw"],
        "per_neuron": {"emulation": emulation["per_neuron"], "shuffled": control["per_neuron"],
                       "free_weights": baseline["per_neuron"], "rosetta": rosetta["per_neuron"]},
        "baseline": base_info,
        "roi_matched_fraction": reg.matched_fraction,
    }
