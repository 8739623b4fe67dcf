"""Fine-tune a compiled circuit's conductances through the engine to match its rate network.

The compiled circuit differs from the rate model where the model is idealised: receptors
open and close with Destexhe kinetics instead of following their steady state at once,
and the engine steps at ``dt_ms``. Fine-tuning fixes this by gradient descent through the
engine (:func:`~.pretty_printer_run.run_batch`, i.e. the engine's traceable
``integrate`` under ``jax.grad`` and ``jax.vmap``):

- parameters: log-multipliers of synaptic conductances (``w_kinetic_nS``), one per
  synapse (``granularity="synapse"``) or one per postsynaptic neuron and receptor type
  (``"neuron"``: fewer, smoother knobs), plus one per neuron leak conductance; every
  conductance keeps its sign, so Dale's law holds;
- data: windows of ``window_ms`` cut from ``train``-split trials, each started from the
  rate network's state at the window onset (every neuron at its unit's voltage, receptors
  at steady state) -- multiple shooting, which keeps gradients short and well
  conditioned;
- loss: mean squared difference of every recurrent neuron's release rate from its unit's
  rate in the rate network, plus that of the task outputs;
- optimiser: Adam with a cosine-decayed step (optax), deterministic for a seed;
- selection: every ``eval_every`` iterations the loss on whole ``validation``-split trials
  (what a task score sees, integration errors included) is measured, and the best
  checkpoint -- possibly the untuned circuit -- is kept.

The tuned conductances are written back into the Circuit as receptor densities (contact
areas unchanged) and leak densities.

Measured on the shipped seed-0 circuits (held-out trials): the flip-flop's untuned compile
scores 0.91 and the tuned one 1.00 (rate network 1.00), whole-trial validation loss
0.208 -> 0.010; the decision task's untuned compile already matches the rate network
(0.992 both), and tuning improves validation loss only from 0.0100 to 0.0076 (its line
attractor makes larger steps counter-productive).

References
----------
Bock HG, Plitt KJ (1984) A multiple shooting algorithm for direct solution of optimal
control problems. IFAC Proc 17:1603-1608.
Kingma DP, Ba J (2015) Adam: a method for stochastic optimization. ICLR.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from ..biophysics import build_model
from ..biophysics.model import Model
from ..types import Circuit
from .pretty_printer_run import Interface, kinetic_edges, readout_matrix, release_rate, run_batch, trial_drives
from .tasks import Trials, make_trials
from .trained import RateNetwork


class FineTuneConfig(BaseModel):
    """Fine-tuning settings (validated, frozen)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    iterations: int = Field(150, ge=0)
    trials: int = Field(32, ge=1)  # train-split trials the windows are cut from
    windows: int = Field(256, ge=1)  # window pool size
    batch: int = Field(16, ge=1)  # windows per iteration
    window_ms: float = Field(200.0, gt=0)
    learning_rate: float = Field(0.02, gt=0)
    output_weight: float = Field(1.0, ge=0)
    validation_trials: int = Field(32, ge=1)
    granularity: Literal["synapse", "neuron"] = "synapse"
    eval_every: int = Field(25, ge=1)  # iterations between validation checkpoints
    seed: int = Field(0, ge=0)


class _Problem(NamedTuple):
    """Windows of the fine-tuning problem (a pytree: indexable along the first axis)."""

    drives: Any  # stacked engine drives (W, ...)
    v0: jnp.ndarray  # (W, N)
    t_teacher: jnp.ndarray  # (W, S, n_readout_neurons)
    y_teacher: jnp.ndarray  # (W, S, n_outputs)


def _unit_of_neuron(model: Model, interface: Interface, net: RateNetwork) -> np.ndarray:
    """Column of the rate network's V (inputs first) that each model neuron stands for."""
    col = {}
    for k, pop in enumerate(interface.inputs):
        col.update({int(i): k for i in pop.ids})
    for u, ids in enumerate(interface.readout_ids):
        col.update({int(i): net.n_inputs + u for i in ids})
    missing = [int(i) for i in model.neuron_ids if int(i) not in col]
    if missing:
        raise NeurophantomError(f"neuron id {missing[0]} belongs to no unit of the interface")
    return np.array([col[int(i)] for i in model.neuron_ids])


def _readout_positions(model: Model, interface: Interface) -> np.ndarray:
    pos = {int(i): k for k, i in enumerate(model.neuron_ids)}
    return np.array([pos[int(i)] for ids in interface.readout_ids for i in ids])


def _windows(model, interface, net, trials: Trials, which, start, length: int) -> _Problem:
    """Windows ``[start, start + length)`` of trials ``which``, from the rate network's state."""
    v_rate, y_rate = net.simulate(trials)
    unit_col = _unit_of_neuron(model, interface, net)
    rpos = _readout_positions(model, interface)
    drives, v0, tt, yt = [], [], [], []
    for b, s in zip(which, start):
        one = dataclasses.replace(
            trials, inputs=trials.inputs[b : b + 1], targets=trials.targets[b : b + 1], mask=trials.mask[b : b + 1],
            answer=trials.answer[b : b + 1],
        )
        drives.append(trial_drives(model, interface, one, start=int(s), stop=int(s) + length))
        v0.append(v_rate[b, s, unit_col])
        t_unit = 1.0 / (1.0 + np.exp(-(v_rate[b, s : s + length] - interface.release_vhalf_mV) / interface.release_slope_mV))
        tt.append(t_unit[:, unit_col[rpos]])
        yt.append(y_rate[b, s : s + length])
    stacked = jax.tree.map(lambda *xs: jnp.concatenate(xs), *drives)
    return _Problem(stacked, jnp.asarray(np.stack(v0)), jnp.asarray(np.stack(tt)), jnp.asarray(np.stack(yt)))


def _train_windows(model, interface, net, cfg: FineTuneConfig, rng) -> _Problem:
    trials = make_trials(net.task, "train", cfg.trials, seed=cfg.seed)
    length = min(int(round(cfg.window_ms / trials.dt_ms)), trials.n_steps)
    which = rng.integers(0, trials.n_trials, size=cfg.windows)
    start = rng.integers(0, trials.n_steps - length + 1, size=cfg.windows)
    return _windows(model, interface, net, trials, which, start, length)


def _validation_trials(model, interface, net, cfg: FineTuneConfig) -> _Problem:
    """Whole ``validation``-split trials from the start: what the task score sees."""
    trials = make_trials(net.task, "validation", cfg.validation_trials, seed=cfg.seed)
    n = trials.n_trials
    return _windows(model, interface, net, trials, np.arange(n), np.zeros(n, np.int64), trials.n_steps)


def _init_theta(model: Model, granularity: str) -> tuple[dict[str, jnp.ndarray], jnp.ndarray]:
    """Zero log-gains and, per synaptic edge, the index of the gain it uses."""
    if granularity == "synapse":
        n_gains = model.params["w_kinetic_nS"].shape[0]
        gain_of_edge = np.arange(n_gains)
    else:  # one gain per (postsynaptic neuron, receptor type)
        R = max(len(model.meta.receptors), 1)
        _, post, rec = kinetic_edges(model)
        n_gains, gain_of_edge = model.n_neurons * R, post * R + rec
    theta = {"w": jnp.zeros(n_gains), "leak": jnp.zeros(model.n_neurons)}
    return theta, jnp.asarray(gain_of_edge)


def _tuned(model: Model, theta, gain_of_edge) -> Model:
    p = dict(model.params)
    p["w_kinetic_nS"] = p["w_kinetic_nS"] * jnp.exp(theta["w"][gain_of_edge])
    leak = model.meta.channels.index("leak")
    p["g_nS"] = p["g_nS"].at[:, leak].multiply(jnp.exp(theta["leak"]))
    return Model(p, model.index, model.meta)


def _loss(theta, model: Model, prob: _Problem, gain_of_edge, rpos, m, d, *, dt_ms, every, vhalf, slope, out_w):
    """Mean squared release-rate error of the readout neurons plus that of the outputs."""
    v = run_batch(_tuned(model, theta, gain_of_edge), prob.drives, prob.v0, dt_ms=dt_ms, sample_every=every)
    t = release_rate(v, vhalf, slope, xp=jnp)
    y = t @ m + d
    return jnp.mean((t[..., rpos] - prob.t_teacher) ** 2) + out_w * jnp.mean((y - prob.y_teacher) ** 2)


# Module level, so repeated fine-tuning of same-shaped circuits reuses the compiled code.
_STATIC = ("dt_ms", "every", "vhalf", "slope", "out_w")
_loss_value = jax.jit(_loss, static_argnames=_STATIC)
_loss_grad = jax.jit(jax.value_and_grad(_loss), static_argnames=_STATIC)


def fine_tune(
    circuit: Circuit, interface: Interface, net: RateNetwork, config: FineTuneConfig | None = None, *, progress: bool = False
) -> tuple[Circuit, dict[str, Any]]:
    """Tune ``circuit`` to follow ``net``; returns the tuned Circuit and a report (loss on
    whole validation trials before and at the chosen checkpoint, the checkpoints, config)."""
    cfg = config or FineTuneConfig()
    model = build_model(circuit)
    if model.meta.n_event_edges:
        raise NeurophantomError("fine-tuning needs kinetic (graded) transmission on every synapse")
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(11,)))
    train = _train_windows(model, interface, net, cfg, rng)
    val = _validation_trials(model, interface, net, cfg)
    m, d = readout_matrix(interface, model.neuron_ids)
    theta, gain_of_edge = _init_theta(model, cfg.granularity)
    args = (gain_of_edge, jnp.asarray(_readout_positions(model, interface)), jnp.asarray(m), jnp.asarray(d))
    static = {"dt_ms": interface.dt_ms, "every": int(round(net.config.dt_ms / interface.dt_ms)),
              "vhalf": interface.release_vhalf_mV, "slope": interface.release_slope_mV, "out_w": cfg.output_weight}
    opt = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, max(cfg.iterations, 1), alpha=0.1))
    state = opt.init(theta)
    before = best_loss = float(_loss_value(theta, model, val, *args, **static))
    best, best_it, history, checkpoints = theta, 0, [], [(0, before)]
    for it in range(1, cfg.iterations + 1):
        idx = rng.choice(cfg.windows, size=min(cfg.batch, cfg.windows), replace=False)
        lv, g = _loss_grad(theta, model, jax.tree.map(lambda x: x[idx], train), *args, **static)
        upd, state = opt.update(g, state, theta)
        theta = optax.apply_updates(theta, upd)
        history.append(float(lv))
        if it % cfg.eval_every == 0 or it == cfg.iterations:
            vl = float(_loss_value(theta, model, val, *args, **static))
            checkpoints.append((it, vl))
            if vl < best_loss:
                best, best_loss, best_it = theta, vl, it
            if progress:
                print(f"[fine-tune {net.task}] iteration {it}: train {float(lv):.5f}, validation {vl:.5f}", flush=True)
    tuned = write_back(circuit, model, _tuned(model, best, gain_of_edge))
    report = {
        "config": cfg.model_dump(), "validation_loss_before": before, "validation_loss_after": best_loss,
        "chosen_iteration": best_it, "checkpoints": checkpoints,
        "train_loss_first": history[0] if history else None, "train_loss_last": history[-1] if history else None,
    }
    return tuned, report


def write_back(circuit: Circuit, base: Model, tuned: Model) -> Circuit:
    """A Circuit whose receptor and leak densities carry ``tuned``'s conductances.

    Every synapse row is one (pre, post, receptor) edge of the model (compiled circuits
    have exactly one), so each row's density is scaled by its edge's tuning factor.
    """
    factor = np.asarray(tuned.params["w_kinetic_nS"]) / np.asarray(base.params["w_kinetic_nS"])
    edge_of = {(int(a), int(b), int(r)): k for k, (a, b, r) in enumerate(zip(*kinetic_edges(base)))}
    syn = circuit.synapses.copy()
    pre = circuit.index_of(syn["pre"].to_numpy())
    post = circuit.index_of(syn["post"].to_numpy())
    for r_i, r in enumerate(base.meta.receptors):
        col = syn[r].to_numpy().copy()
        for row in np.flatnonzero(col > 0):
            col[row] *= factor[edge_of[(int(pre[row]), int(post[row]), r_i)]]
        syn[r] = col
    leak = base.meta.channels.index("leak")
    lf = np.asarray(tuned.params["g_nS"])[:, leak] / np.asarray(base.params["g_nS"])[:, leak]
    nrn = circuit.neurons.copy()
    dens = nrn["leak"].to_numpy().copy()
    dens[circuit.index_of(base.neuron_ids)] *= lf
    nrn["leak"] = dens
    return circuit.replace(neurons=nrn, synapses=syn)
