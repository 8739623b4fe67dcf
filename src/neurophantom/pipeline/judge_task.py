"""Validation stages of a task world (``--preset pretty-printer``): does the emulation
still perform the task, and does it still compute the same way?

- ``function``: held-out task trials (:mod:`neurophantom.validate.task_function`) through
  the true specimen, its emulation from the barcoded scan, the Rosetta emulation from the
  receptor-blind scan, and the shuffled-connectome control (the emulation's map on its
  reconstruction with postsynaptic partners permuted), all on the same trials;
- ``computation``: the fixed points and their stability
  (:mod:`neurophantom.validate.computation`) of each performer, found from its own
  dynamics, and their distance to the original rate network's.

Every performer is driven and read out through the task interface compiled into the
truth's header (the experimenter's stimulation and readout protocol), carried onto a
reconstruction by soma position, as the function stage of the organoid carries its cues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .._errors import NeurophantomError
from ..biophysics import build_model
from ..identify.baseline import shuffled_connectome
from ..identify.register import register
from ..types import Circuit
from .judge import emulation_model, load_theta

#: Performers judged, with the reconstruction each is made from (``None``: the truth).
PERFORMERS = {"truth": None, "emulation": "recon_heldout", "rosetta": "rosetta", "control": "recon_heldout"}


def performers(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict[str, tuple]:
    """Label -> (Model, bound Interface, matched fraction) for every performer."""
    from ..validate.task_function import remap_interface
    from ..validate.task_score import interface_of

    truth = Circuit.load(inputs["tissue"] / "specimen")
    itf = interface_of(truth, cfg["world"]["task"])
    theta, names = load_theta(inputs["identify"])
    pos = truth.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    out = {"truth": (build_model(truth, transmission=cfg["world"]["transmission"]), itf, 1.0)}
    for label, dep in PERFORMERS.items():
        if dep is None:
            continue
        circuit = Circuit.load(inputs[dep] / "circuit" if dep == "rosetta" else inputs[dep])
        mapping = register(truth.neuron_ids, pos, circuit).mapping()
        if label == "control":
            circuit = shuffled_connectome(circuit, int(cfg["seed"]))
        out[label] = (emulation_model(circuit, theta, names, cfg), remap_interface(itf, mapping), len(mapping) / truth.n_neurons)
    return out


def task_function_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Task scores (fraction correct, and per trial) of truth, emulations and control."""
    from ..validate.task_function import CHANCE, task_run

    task, b = cfg["world"]["task"], cfg["behaviour"]
    result: dict[str, Any] = {"task": task, "chance": CHANCE[task]}
    for label, (model, itf, matched) in performers(inputs, cfg).items():
        result[label] = {**task_run(model, itf, trials=b["task_trials"], seed=int(cfg["seed"])), "matched_fraction": matched}
    return result


def computation_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Fixed points of every performer and their distance to the rate network's."""
    from ..sources.trained import trained_network
    from ..validate.computation import FixedPointSettings, describe_model, describe_rate_network, fixed_point_distance

    b = cfg["behaviour"]
    s = FixedPointSettings(trials=b["fixed_point_trials"], probes_per_trial=b["fixed_point_probes"], seed=int(cfg["seed"]) + 1)
    reference = describe_rate_network(trained_network(cfg["world"]["task"], 0), s)
    result: dict[str, Any] = {"method": "fixed points and stability (Sussillo & Barak 2013)", "rate_network": reference}
    for label, (model, itf, _) in performers(inputs, cfg).items():
        try:
            found = describe_model(model, itf, s)
        except NeurophantomError as exc:  # a diverging emulation has no description
            result[label] = {"failed": str(exc), "distance": float("nan")}
            continue
        result[label] = {"fixed_points": found, **fixed_point_distance(found, reference)}
    return result
