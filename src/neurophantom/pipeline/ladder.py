"""The blame ladder: which stage of the loop loses what (mission step 6).

On the held-out specimen's held-out protocols, each rung replaces one ground-truth
ingredient by what the method produced, and scores the result exactly as the emulation
is scored (per-neuron correlation of trial-mean traces of imaged, unstimulated cells, and
spike coincidence with the specimen's true spikes):

1. ``noise_ceiling``: the instrument's noise-free expected photons against the recording
   (what any model can reach at best);
2. ``truth_true_parameters``: the true circuit and true parameters, simulated through the
   emulation's own path (engine, observation model, per-cell gain fit);
3. ``reconstruction_true_membranes``: the reconstructed synapses, with each matched
   neuron's true membrane (area, channel densities) and the world's true constants;
4. ``reconstruction_effective_map``: the reconstruction as the method sees it (its
   membrane calibration) under the effective truth of the map
   (:mod:`neurophantom.validate.effective`): what a perfect fit would emulate;
5. ``truth_fitted_map``: the fitted map applied to the true circuit (a perfect scan);
6. ``pipeline``: the emulation from the scan alone.

Read down the ladder, a drop between two rungs is the loss of the stage between them:
2 -> 3 the connectome reconstruction, 3 -> 4 membrane measurement and calibration,
4 -> 6 (and 2 -> 5) the fit. The same ladder is computed for the receptor-blind path
(synchrotron + Rosetta map), whose rungs 3, 4 and 6 use the Rosetta-filled circuit.
This module reads the ground truth: it is validation, run after the method stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np

from ..biophysics import build_model
from ..identify.map import MapNames, apply_map, extend_map, make_template, theta_from_natural
from ..identify.register import register
from ..types import Circuit, Provenance
from ..validate.activity import spike_coincidence
from ..validate.effective import effective_truth
from .judge import _coincidence
from .learn import _experiments, _predict_all, _score, _stimulated_mask, _theta_from_json, calibrated, reference_library

STEPS = ("noise_ceiling", "truth_true_parameters", "reconstruction_true_membranes", "reconstruction_effective_map",
         "truth_fitted_map", "pipeline")


def _sessions(record_dir: Path):
    from ..instruments.dynamic import read_ground_truth, read_imaging

    paths = sorted(Path(record_dir).glob("heldout_*.nwb"))
    return [read_imaging(p) for p in paths], [read_ground_truth(p) for p in paths]


def truth_map(truth: Circuit, circuit: Circuit) -> dict[int, int]:
    """Truth neuron id -> reconstructed neuron id, by soma position (one to one)."""
    pos = truth.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    return register(truth.neuron_ids, pos, circuit).mapping()


def with_true_membranes(circuit: Circuit, truth: Circuit, mapping: Mapping[int, int]) -> Circuit:
    """``circuit`` (a reconstruction) whose matched neurons carry their true membrane (area,
    channel densities) and whose header names the world's biophysics."""
    nrn = circuit.neurons.copy().set_index("id")
    tn = truth.neurons.set_index("id")
    for t, s in mapping.items():
        nrn.loc[s, "area_um2"] = tn.loc[t, "area_um2"]
        for c in circuit.channel_types:
            if c in tn.columns:
                nrn.loc[s, c] = tn.loc[t, c]
    nrn = nrn.reset_index()
    nrn = calibrated(circuit.replace(neurons=nrn), {"identify": {"membrane": "geometry"}}).neurons
    p = circuit.provenance
    meta = dict(p.metadata)
    meta["biophysics"] = truth.provenance.metadata["biophysics"]
    return circuit.replace(neurons=nrn, provenance=Provenance(source=p.source, dataset=p.dataset, seed=p.seed, config=p.config, metadata=meta))


class _Rungs:
    """Scores of models of one circuit (or the truth) on the held-out sessions."""

    def __init__(self, sessions, truths, cfg: Mapping[str, Any]):
        self.sessions, self.truths, self.cfg = sessions, truths, cfg
        self.held = [(s, g.activity[0].spike_trains()) for s, g in zip(sessions, truths)]
        self.dt = cfg["recording"]["model_dt_ms"]
        self.sigma = cfg["emulation"]["trace_sigma_ms"]
        # A noise stream of its own: the truth's recording used the specimen's seed.
        self.key = jax.random.key(int(cfg["seed"]) + 7919)

    def score(self, step: str, circuit: Circuit, model) -> dict:
        exps, _ = _experiments(circuit, self.sessions, self.dt, step)
        stim = [_stimulated_mask(e, circuit) for e in exps]
        r = _score(_predict_all(model, exps, self.key), exps, stim, self.sigma)
        g = _coincidence(model, circuit, self.held, self.cfg)
        return {"step": step, "trace_correlation": r["median"], "spike_coincidence_gamma": g["mean_gamma"]}

    def ceiling(self, truth: Circuit) -> dict:
        """Noise-free expected photons (trial mean) against the recorded trial mean."""
        exps, reg = _experiments(truth, self.sessions, self.dt, "ceiling")
        order = {int(n): k for k, n in enumerate(truth.neuron_ids)}
        preds, gammas = [], []
        for e, s, g in zip(exps, self.sessions, self.truths):
            mean = np.asarray(g.expected_photons, dtype=np.float64).mean(axis=0)
            pred = np.zeros((mean.shape[0], truth.n_neurons))
            for k, rid in enumerate(s.neuron_ids):
                nid = reg.mapping().get(int(rid))
                if nid is not None:
                    pred[:, order[nid]] = mean[:, k]
            preds.append(pred)
            trains = g.activity[0].spike_trains()
            ids = [int(i) for i in s.neuron_ids]
            gammas.append(spike_coincidence(trains, trains, neuron_ids=ids, duration_ms=e.stimulus.duration_ms).gamma)
        stim = [_stimulated_mask(e, truth) for e in exps]
        r = _score(preds, exps, stim, self.sigma)
        gam = np.concatenate(gammas)
        return {"step": "noise_ceiling", "trace_correlation": r["median"],
                "spike_coincidence_gamma": float(np.nanmean(gam)) if np.isfinite(gam).any() else float("nan")}


def _theta_names(identify_dir: Path):
    tj = json.loads((identify_dir / "theta.json").read_text())
    return _theta_from_json(tj["theta"]), MapNames(tuple(tj["names"]["receptors"]), tuple(tj["names"]["channels"]))


def ladder_rows(truth: Circuit, circuit: Circuit, theta, names: MapNames, rungs: _Rungs, cfg, *, shared: list | None = None) -> list[dict]:
    """The six rungs for one path (``circuit``: the barcoded or the Rosetta-filled
    reconstruction); ``shared`` reuses rungs 1, 2 and 5, which do not depend on it."""
    ref = reference_library(cfg["world"])
    tr = cfg["world"]["transmission"]
    mapping = truth_map(truth, circuit)
    seen = calibrated(circuit, cfg)
    th, nm = extend_map(theta, names, circuit, ref)
    eff = effective_truth(truth, seen, mapping, nm)
    th_eff = theta_from_natural(eff, nm, th)
    template = make_template(seen, ref, transmission=tr)
    rows = list(shared[:2]) if shared else [rungs.ceiling(truth), rungs.score("truth_true_parameters", truth, build_model(truth, transmission=tr))]
    true_mem = with_true_membranes(circuit, truth, mapping)
    rows.append(rungs.score("reconstruction_true_membranes", circuit, build_model(true_mem, transmission=tr)))
    rows.append(rungs.score("reconstruction_effective_map", circuit, apply_map(th_eff, template, nm)))
    if shared:
        rows.append(shared[4])
    else:
        tt, tn = extend_map(theta, names, truth, ref)
        rows.append(rungs.score("truth_fitted_map", truth, apply_map(tt, make_template(truth, ref, transmission=tr), tn)))
    rows.append(rungs.score("pipeline", circuit, apply_map(th, template, nm)))
    return rows


def _pooled(name: str, values: list[float]) -> float:
    """One value for several specimens: arithmetic mean of reversal potentials, geometric
    mean of positive constants."""
    v = np.asarray(values, dtype=np.float64)
    if name.startswith("E_") or not (v > 0).all():
        return float(v.mean())
    return float(np.exp(np.log(v).mean()))


def ladder_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Both ladders of the held-out specimen, and the effective truth of the map on the
    training specimens (for parameter recovery)."""
    truth = Circuit.load(inputs["tissue_heldout"] / "specimen")
    sessions, truths = _sessions(inputs["record_heldout"])
    rungs = _Rungs(sessions, truths, cfg)
    theta, names = _theta_names(inputs["identify"])
    barcoded = ladder_rows(truth, Circuit.load(inputs["recon_heldout"]), theta, names, rungs, cfg)
    rosetta = ladder_rows(truth, Circuit.load(inputs["rosetta"] / "circuit"), theta, names, rungs, cfg, shared=barcoded)
    train_eff = []
    for k in range(len(cfg["world"]["train_seeds"])):
        t = Circuit.load(inputs[f"tissue_train{k}"] / "specimen")
        c = Circuit.load(inputs[f"recon_train{k}"])
        train_eff.append(effective_truth(t, calibrated(c, cfg), truth_map(t, c), names))
    # One map for all training specimens: its effective truth is their geometric mean.
    effective = {k: _pooled(k, [e[k] for e in train_eff]) for k in train_eff[0]} if train_eff else {}
    from .main import _finite  # graded worlds: spike coincidence undefined (null), never a crash

    return _finite({"ladder": barcoded, "ladder_rosetta": rosetta, "effective_truth": effective})
