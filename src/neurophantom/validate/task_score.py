"""Task score: does a circuit, or its emulation, still perform its computation?

:func:`task_score` runs a task's held-out trials (:mod:`neurophantom.sources.tasks`)
through whatever performs it and grades the outputs with the task's own scorer, the same
way for every kind of performer:

- a trained :class:`~neurophantom.sources.trained.RateNetwork` (the rate model);
- a :class:`~neurophantom.types.Circuit` (ground truth, reconstruction, damaged copy): it
  is built into a Model with the biophysics its header names (default preset otherwise)
  and simulated by the engine;
- a :class:`~neurophantom.biophysics.model.Model` built elsewhere (an emulation): it is
  simulated as it is.

How activity becomes task outputs is the circuit's task
:class:`~neurophantom.sources.pretty_printer_run.Interface`, fixed at compile time and
stored in the compiled circuit's header: which neurons are stimulated with which current
for each input channel, and a linear readout of the recurrent neurons' transmitter-release
rates ``sigmoid((V - V_half)/slope)`` computed from their membrane potential. A Circuit
without that header (a reconstruction) is scored with the packaged reference interface of
the task (the shipped seed-0 circuit), matched **by neuron name**; a Model is matched by
neuron id. Neurons the performer lacks are left out (see the Interface docs), so lost
tissue costs score rather than raising.

Scores are fractions correct (chance 0.5 for both shipped tasks); the trials are the
task's ``heldout`` split, never used in training or fine-tuning.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Union

import jax
import numpy as np

from .._errors import NeurophantomError
from ..biophysics import build_model
from ..biophysics.model import Model
from ..io import read_json
from ..sources.pretty_printer import SCORE_SEED, circuit_cache_path, heldout_score
from ..sources.pretty_printer_run import HEADER_KEY, Interface, circuit_outputs, kinetic_edges
from ..sources.tasks import get_task
from ..sources.trained import RateNetwork
from ..types import Circuit

Performer = Union[Circuit, Model, RateNetwork]


@lru_cache(maxsize=None)
def _reference_dict(task: str) -> dict:
    path = circuit_cache_path(task, 0) / "circuit.json"
    head = read_json(path, "reference pretty-printer circuit header")
    if not isinstance(head, dict) or HEADER_KEY not in head:
        raise NeurophantomError(f"{path} has no {HEADER_KEY!r} interface")
    return head[HEADER_KEY]


def reference_interface(task: str) -> Interface:
    """The task interface of the packaged seed-0 compiled circuit of ``task``."""
    get_task(task)
    return Interface.from_dict(_reference_dict(task))


def interface_of(circuit: Circuit, task: str) -> Interface:
    """The circuit's own interface (header), else the task's reference one; ids re-read
    from the circuit by neuron name (names it lacks are dropped)."""
    meta = circuit.provenance.metadata
    compiled_for = meta.get("task")
    if HEADER_KEY in meta:
        if compiled_for != task:
            raise NeurophantomError(f"circuit was compiled for task {compiled_for!r}, not {task!r}")
        itf = Interface.from_dict(meta[HEADER_KEY])
    else:
        itf = reference_interface(task)
    return bind_by_name(itf, circuit)


def bind_by_name(interface: Interface, circuit: Circuit) -> Interface:
    """``interface`` with every neuron id looked up in ``circuit`` by name."""
    id_of = dict(zip(circuit.neurons["name"], circuit.neurons["id"].tolist()))

    def keep(names):
        names = tuple(n for n in names if n in id_of)
        return names, tuple(int(id_of[n]) for n in names)

    inputs = []
    for p in interface.inputs:
        names, ids = keep(p.neurons)
        inputs.append(dataclasses.replace(p, neurons=names, ids=ids))
    units = [keep(u) for u in interface.readout_units]
    if not any(ids for _, ids in units):
        raise NeurophantomError(f"circuit has none of the readout neurons of task {interface.task!r} (matched by name)")
    return dataclasses.replace(
        interface, inputs=tuple(inputs), readout_units=tuple(n for n, _ in units), readout_ids=tuple(i for _, i in units)
    )


def task_score(
    performer: Performer,
    task: str,
    *,
    trials: int | None = None,
    seed: int = SCORE_SEED,
    interface: Interface | None = None,
) -> float:
    """Fraction correct of ``performer`` on ``trials`` held-out trials of ``task``.

    Parameters
    ----------
    performer
        A Circuit, a Model (an emulation) or a trained RateNetwork.
    task
        Task name (``flipflop``, ``context_decision``).
    trials
        Number of held-out trials (default: the count behind the scores stored in a
        compiled circuit's header, so the default reproduces them).
    seed
        Which held-out trials (seed of the ``heldout`` stream).
    interface
        Override of the task interface (Circuit: default from its header or the packaged
        reference, bound by name; Model: default the packaged reference, by id).
    """
    t = get_task(task)
    if isinstance(performer, RateNetwork):
        if performer.task != t.name:
            raise NeurophantomError(f"rate network was trained for task {performer.task!r}, not {task!r}")
        return heldout_score(lambda tr: performer.simulate(tr)[1], t.name, trials=trials, seed=seed)
    if isinstance(performer, Circuit):
        itf = bind_by_name(interface, performer) if interface is not None else interface_of(performer, t.name)
        model = build_model(performer)
    elif isinstance(performer, Model):
        itf = interface if interface is not None else reference_interface(t.name)
        model = performer
    else:
        raise NeurophantomError(f"cannot score a {type(performer).__name__}: expected a Circuit, Model or RateNetwork")
    if itf.task != t.name:
        raise NeurophantomError(f"interface is for task {itf.task!r}, not {task!r}")
    return heldout_score(lambda tr: circuit_outputs(model, itf, tr), t.name, trials=trials, seed=seed)


def recurrent_edges(model: Model, interface: Interface) -> np.ndarray:
    """Indices of the model's synaptic edges between recurrent (read-out) neurons."""
    rec = {int(i) for ids in interface.readout_ids for i in ids}
    is_rec = np.array([int(i) in rec for i in model.neuron_ids])
    pre, post, _ = kinetic_edges(model)
    return np.flatnonzero(is_rec[pre] & is_rec[post])


def lesion(model: Model, interface: Interface, fraction: float, *, seed: int = 0, receptor: str | None = None) -> Model:
    """``model`` with a random ``fraction`` of its recurrent synaptic edges removed.

    Edges from input neurons are kept, so a score lost to a lesion is computation lost,
    not input. ``receptor`` restricts the lesion to one receptor type (``"ampa"``: the
    recurrent excitation). The structure is unchanged (weights set to 0), so lesioned
    models reuse the compiled simulation.
    """
    if not (0.0 <= fraction <= 1.0):
        raise NeurophantomError(f"lesion fraction must lie in [0, 1], got {fraction}")
    edges = recurrent_edges(model, interface)
    if receptor is not None:
        if receptor not in model.meta.receptors:
            raise NeurophantomError(f"model has no receptor {receptor!r}")
        rec = kinetic_edges(model)[2][edges]
        edges = edges[rec == model.meta.receptors.index(receptor)]
    # One permutation per seed, cut from its front: lesions of one seed are nested (a
    # larger fraction removes everything a smaller one did), so a dose-response series
    # is a progressive lesion of one network.
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(13,))).permutation(edges)
    cut = order[: int(round(fraction * edges.size))]
    w = np.array(model.params["w_kinetic_nS"])
    w[cut] = 0.0
    return model.with_params(w_kinetic_nS=jax.numpy.asarray(w))
