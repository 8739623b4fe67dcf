"""Small recurrent rate networks trained on tasks with known solutions (JAX + optax).

The rate network is the pretty printer's starting point: a computation we understand,
before it is compiled into a conductance-based circuit (:mod:`.pretty_printer`).

The model
---------
Each unit is a graded (non-spiking) point neuron in its adiabatic, instantaneous-synapse
limit: a conductance-based rate model (Shriki, Hansel & Sompolinsky 2003) whose transfer
functions are those of the target biophysics. Unit ``i`` has a membrane potential ``V_i``
(mV), releases transmitter at the rate ``T_i = sigmoid((V_i - V_half)/k)`` (Destexhe et
al. 1994 graded release) and drives its targets through the steady-state open fraction of
the receptor it uses, ``s = kappa T / (kappa T + 1)`` with ``kappa = alpha tau_decay``
(AMPA for positive weights, GABA-A for negative ones). In units of the leak conductance,

    tau dV_i/dt = (E_L - V_i) + sum_j W+_ij s_exc_j (E_exc - V_i) + W-_ij s_inh_j (E_inh - V_i)

with ``W+ = max(W, 0)``, ``W- = max(-W, 0)``: ``|W_ij|`` is the synaptic conductance from
``j`` to ``i`` divided by ``i``'s leak conductance, so compilation is a change of units.
Input units have no synaptic input; they are driven by ``input_gain_mV x u(t)`` (a current
of ``g_L input_gain_mV``), where ``u >= 0`` is one sign of one task channel, or 1 for the
tonic unit that carries every unit's bias. Outputs are a linear readout of the recurrent
units' release rates: ``y = C T + d``. The model neglects receptor kinetics (synapses
follow their steady state at once); compilation and fine-tuning deal with that.

Dynamics are advanced by exponential Euler at ``dt_ms`` (the engine's scheme), from every
unit at the leak reversal (the engine's initial state).

Training is backpropagation through time with Adam. Trained from scratch, the
conductance-based model learns very slowly (shunting keeps it contractive: 600 Adam steps
reached 75-86 % on the flip-flop, against 100 % for the same transfer functions with fixed
driving forces), so training is a continuation: the first third of the steps use fixed
driving forces ``E - V_half`` and no shunting, the second third blends in the
conductance-based terms, the last third trains the conductance-based model alone.

References
----------
Shriki O, Hansel D, Sompolinsky H (2003) Rate models for conductance-based cortical
neuronal networks. Neural Comput 15:1809-1841.
Destexhe A, Mainen ZF, Sejnowski TJ (1994) An efficient method for computing synaptic
conductances based on a kinetic model of receptor binding. Neural Comput 6:14-18.
Sussillo D, Barak O (2013) Neural Comput 25:626-649 (training on the flip-flop task).
"""

from __future__ import annotations

import dataclasses
import io
from importlib import resources
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from .._errors import CorruptDataError, NeurophantomError
from ..io import atomic_write_bytes, atomic_write_json, read_json
from .tasks import Task, Trials, get_task, make_trials

jax.config.update("jax_enable_x64", True)

CACHE_FORMAT = "neurophantom.rate_network"
UNROLL = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitModel:
    """Transfer constants of a rate unit (the graded neuron it will be compiled into).

    Defaults are those of the ``default`` Biophysics preset: leak reversal -60 mV, graded
    release half-activation -35 mV and slope 5 mV, AMPA (E 0 mV, alpha 1.1 /mM/ms, decay
    5 ms) and GABA-A (E -80 mV, alpha 5 /mM/ms, decay 10 ms) receptors, and a 20 ms
    membrane time constant (1 uF/cm^2 over a 0.5 pS/um^2 leak).
    """

    tau_ms: float = 20.0
    E_leak_mV: float = -60.0
    vhalf_mV: float = -35.0
    slope_mV: float = 5.0
    E_exc_mV: float = 0.0
    E_inh_mV: float = -80.0
    kappa_exc: float = 5.5
    kappa_inh: float = 50.0
    input_gain_mV: float = 40.0

    def __post_init__(self) -> None:
        for name in ("tau_ms", "slope_mV", "kappa_exc", "kappa_inh", "input_gain_mV"):
            if not (getattr(self, name) > 0):
                raise NeurophantomError(f"unit model {name} must be > 0")
        if not (self.E_inh_mV < self.E_leak_mV < self.E_exc_mV):
            raise NeurophantomError("unit model needs E_inh_mV < E_leak_mV < E_exc_mV")

    @classmethod
    def from_biophysics(cls, bio, *, tau_ms: float = 20.0, input_gain_mV: float = 40.0) -> "UnitModel":
        """The unit of a graded neuron in Biophysics ``bio`` (leak, AMPA and GABA-A)."""
        rel = bio.release["graded"]
        ampa, gaba = bio.receptor("ampa"), bio.receptor("gaba_a")
        return cls(
            tau_ms=tau_ms, E_leak_mV=bio.channel("leak").E_mV, vhalf_mV=rel.vhalf_mV, slope_mV=rel.slope_mV,
            E_exc_mV=ampa.E_mV, E_inh_mV=gaba.E_mV, kappa_exc=ampa.alpha_per_mM_ms * ampa.tau_decay_ms,
            kappa_inh=gaba.alpha_per_mM_ms * gaba.tau_decay_ms, input_gain_mV=input_gain_mV,
        )

    def release(self, v):
        """Transmitter release rate ``sigmoid((V - V_half)/k)`` (works on numpy and JAX)."""
        return 1.0 / (1.0 + jnp.exp(-(v - self.vhalf_mV) / self.slope_mV))

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


class TrainConfig(BaseModel):
    """How a rate network is trained (validated, frozen, JSON round-trip)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = "flipflop"
    seed: int = Field(0, ge=0)
    n_units: int = Field(32, ge=2, le=256)
    iterations: int = Field(1500, ge=1)
    batch: int = Field(32, ge=1)
    learning_rate: float = Field(5e-3, gt=0)
    l2: float = Field(1e-4, ge=0)
    init_scale: float = Field(1.0, gt=0)
    input_scale: float = Field(1.0, gt=0)
    dt_ms: float = Field(1.0, gt=0)


def input_units(task: Task) -> tuple[tuple[int, int], ...]:
    """``(channel, sign)`` per input unit: both signs of a signed channel, one of an
    unsigned one, then the tonic unit ``(-1, +1)`` that is on for the whole trial."""
    out = []
    for c, signed in enumerate(task.signed_channels):
        out.append((c, 1))
        if signed:
            out.append((c, -1))
    out.append((-1, 1))
    return tuple(out)


def input_unit_names(task: Task) -> tuple[str, ...]:
    names = []
    for c, s in input_units(task):
        names.append("tonic" if c < 0 else f"{task.channel_names[c]}_{'pos' if s > 0 else 'neg'}")
    return tuple(names)


def encode_inputs(task: Task, inputs: np.ndarray) -> np.ndarray:
    """Task inputs (B, T, channels) -> non-negative input-unit drives (B, T, n_in)."""
    x = np.asarray(inputs, dtype=np.float64)
    cols = [np.ones(x.shape[:2]) if c < 0 else np.maximum(s * x[..., c], 0.0) for c, s in input_units(task)]
    return np.stack(cols, axis=-1)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class RateNetwork:
    """A trained rate network: weights, readout, unit model and how it was made.

    ``W`` (n_units, n_inputs + n_units): column ``j`` holds the outgoing weights of unit
    ``j`` (input units first, then recurrent units; the recurrent diagonal is zero).
    ``C`` (n_outputs, n_units) and ``d`` (n_outputs,) read the outputs from release rates.
    """

    task: str
    W: np.ndarray
    C: np.ndarray
    d: np.ndarray
    unit: UnitModel
    config: TrainConfig
    scores: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        t = get_task(self.task)
        n_in = len(input_units(t))
        n = self.W.shape[0]
        if self.W.shape != (n, n_in + n) or self.C.shape != (t.n_outputs, n) or self.d.shape != (t.n_outputs,):
            raise NeurophantomError(f"rate network for {self.task!r}: weight shapes {self.W.shape}, {self.C.shape}, {self.d.shape} do not fit the task")
        for name in ("W", "C", "d"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise NeurophantomError(f"rate network {name} is not finite")
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_units(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.W.shape[1] - self.W.shape[0])

    def simulate(self, trials: Trials) -> tuple[np.ndarray, np.ndarray]:
        """Membrane potentials (B, T, n_inputs + n_units) and outputs (B, T, n_outputs)."""
        if trials.task != self.task:
            raise NeurophantomError(f"rate network trained for {self.task!r}, got trials of {trials.task!r}")
        if abs(trials.dt_ms - self.config.dt_ms) > 1e-12:
            raise NeurophantomError(f"trials use dt {trials.dt_ms} ms, the network {self.config.dt_ms} ms")
        drive = jnp.asarray(encode_inputs(get_task(self.task), trials.inputs))
        params = {"W": jnp.asarray(self.W), "C": jnp.asarray(self.C), "d": jnp.asarray(self.d)}
        v, y = _run_jit(params, drive, unit=self.unit, dt_ms=self.config.dt_ms)
        return np.asarray(v), np.asarray(y)


# --------------------------------------------------------------------------- dynamics
def _step(W, unit: UnitModel, v, drive_t, dt_ms: float, shunt=1.0):
    """One exponential-Euler step of every unit (input units first).

    ``shunt`` = 1 is the conductance-based model. ``shunt`` = 0 freezes every driving
    force at ``E - V_half`` (a current-based model with the same transfer functions);
    training passes through intermediate values (see :func:`train`).
    """
    t = unit.release(v)
    s_exc = unit.kappa_exc * t / (unit.kappa_exc * t + 1.0)
    s_inh = unit.kappa_inh * t / (unit.kappa_inh * t + 1.0)
    g_exc = s_exc @ jax.nn.relu(W).T
    g_inh = s_inh @ jax.nn.relu(-W).T
    g_syn = g_exc + g_inh
    g_tot = 1.0 + shunt * g_syn
    j_rec = (
        unit.E_leak_mV + g_exc * (unit.E_exc_mV - unit.vhalf_mV) + g_inh * (unit.E_inh_mV - unit.vhalf_mV)
        + shunt * g_syn * unit.vhalf_mV
    )
    v_inf = jnp.concatenate([unit.E_leak_mV + unit.input_gain_mV * drive_t, j_rec / g_tot], axis=-1)
    rate = jnp.concatenate([jnp.ones_like(drive_t), g_tot], axis=-1) / unit.tau_ms
    return v_inf + (v - v_inf) * jnp.exp(-rate * dt_ms)


def run(params: dict[str, jnp.ndarray], drive: jnp.ndarray, *, unit: UnitModel, dt_ms: float, shunt=1.0):
    """Traceable simulation: drive (B, T, n_in) -> (V (B, T, n_in + n), outputs (B, T, n_out)).

    ``V[:, t]`` is the state at the start of step ``t`` (as the engine samples), and the
    output at ``t`` reads it.
    """
    W = params["W"]
    b = drive.shape[0]
    n_in = drive.shape[-1]
    v0 = jnp.full((b, W.shape[1]), unit.E_leak_mV, dtype=W.dtype)

    def body(v, d_t):
        return _step(W, unit, v, d_t, dt_ms, shunt), v

    _, vs = jax.lax.scan(body, v0, jnp.swapaxes(drive, 0, 1), unroll=UNROLL)
    vs = jnp.swapaxes(vs, 0, 1)
    y = unit.release(vs[..., n_in:]) @ params["C"].T + params["d"]
    return vs, y


_run_jit = jax.jit(run, static_argnames=("unit", "dt_ms"))


# --------------------------------------------------------------------------- training
def _recurrent_mask(n_in: int, n: int) -> np.ndarray:
    mask = np.ones((n, n_in + n))
    mask[np.arange(n), n_in + np.arange(n)] = 0.0
    return mask


def init_params(config: TrainConfig, task: Task, unit: UnitModel) -> dict[str, jnp.ndarray]:
    """Initial weights from ``SeedSequence(seed)``: Gaussian ``W`` with variance
    ``input_scale^2 / n_inputs`` (input columns) and ``init_scale^2 / n_units``
    (recurrent columns), tonic weights at the half-release point, zero readout."""
    n_in = len(input_units(task))
    n = config.n_units
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1,)))
    W = rng.normal(0.0, 1.0, size=(n, n_in + n)) * _recurrent_mask(n_in, n)
    W[:, :n_in] *= config.input_scale / np.sqrt(n_in)
    W[:, n_in:] *= config.init_scale / np.sqrt(n)
    # Tonic weights that alone would hold every recurrent unit at half release (V = V_half),
    # so training starts where the release curve is steep, not at silent rest.
    u = unit
    t_on = 1.0 / (1.0 + np.exp(-(u.E_leak_mV + u.input_gain_mV - u.vhalf_mV) / u.slope_mV))
    s_on = u.kappa_exc * t_on / (u.kappa_exc * t_on + 1.0)
    W[:, n_in - 1] = (u.vhalf_mV - u.E_leak_mV) / (s_on * (u.E_exc_mV - u.vhalf_mV))
    return {"W": jnp.asarray(W), "C": jnp.zeros((task.n_outputs, n)), "d": jnp.zeros(task.n_outputs)}


def _loss(params, drive, targets, mask, wmask, shunt, *, unit, dt_ms, l2):
    W = params["W"] * wmask
    _, y = run(dict(params, W=W), drive, unit=unit, dt_ms=dt_ms, shunt=shunt)
    mse = jnp.sum(mask * (y - targets) ** 2) / jnp.maximum(jnp.sum(mask), 1.0)
    return mse + l2 * jnp.mean(W**2)


def train(config: TrainConfig, *, unit: UnitModel | None = None, progress: bool = False) -> RateNetwork:
    """Train a rate network on ``config.task`` by backpropagation through time.

    Adam (Kingma & Ba 2015) with global-norm clipping at 1 and a cosine learning-rate
    decay; each iteration draws a fresh batch from the task's ``train`` split (batch seed
    from the config seed and the iteration index), so the run is a pure function of the
    config. The shunting of conductance synapses makes the model hard to train from
    scratch, so training is a continuation (:func:`shunt_schedule`): it starts
    current-based and ends conductance-based; the returned network is the latter. Returns
    the network with its ``validation`` and ``heldout`` scores (:func:`evaluate`).
    """
    task = get_task(config.task)
    unit = unit or UnitModel()
    if abs(config.dt_ms - task.dt_ms) > 1e-12:
        raise NeurophantomError(f"train dt_ms {config.dt_ms} must equal the task's {task.dt_ms}")
    # Training runs in float32 (2-3x faster on CPU); the stored weights are float64.
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    params = jax.tree.map(f32, init_params(config, task, unit))
    n_in = len(input_units(task))
    wmask = f32(_recurrent_mask(n_in, config.n_units))
    sched = optax.cosine_decay_schedule(config.learning_rate, config.iterations, alpha=0.05)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(sched))
    state = opt.init(params)
    loss_fn = jax.value_and_grad(
        lambda p, dr, tg, mk, sh: _loss(p, dr, tg, mk, wmask, sh, unit=unit, dt_ms=config.dt_ms, l2=config.l2)
    )

    # A closure (not a module-level jit): the cached networks were made with this exact
    # XLA program, and moving the mask out of the closure changes float32 results at the
    # last bit.
    @jax.jit
    def update(p, s, dr, tg, mk, sh):
        val, g = loss_fn(p, dr, tg, mk, sh)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, val

    for it in range(config.iterations):
        tr = make_trials(task, "train", config.batch, seed=config.seed * 1_000_003 + it)
        sh = f32(shunt_schedule(it, config.iterations))
        params, state, val = update(params, state, f32(encode_inputs(task, tr.inputs)), f32(tr.targets), f32(tr.mask), sh)
        if progress and (it % 100 == 0 or it == config.iterations - 1):
            print(f"[train {config.task} seed {config.seed}] iteration {it}: shunt {float(sh):.2f} loss {float(val):.4f}", flush=True)
    net = RateNetwork(
        task=config.task, W=np.asarray(params["W"] * wmask, np.float64), C=np.asarray(params["C"], np.float64),
        d=np.asarray(params["d"], np.float64),
        unit=unit, config=config,
    )
    return dataclasses.replace(net, scores=evaluate(net))


def shunt_schedule(iteration: int, iterations: int) -> float:
    """Continuation from the current-based to the conductance-based model: 0 for the
    first third of training, a linear ramp over the second, 1 for the last third."""
    x = 3.0 * iteration / max(iterations, 1) - 1.0
    return float(min(max(x, 0.0), 1.0))


#: Trials per split used for the scores stored with a trained network.
EVAL_TRIALS = {"validation": 256, "heldout": 256}


def evaluate(net: RateNetwork) -> dict[str, float]:
    """Task score of ``net`` on its ``validation`` and ``heldout`` splits (seed 0)."""
    task = get_task(net.task)
    out = {}
    for split, n in EVAL_TRIALS.items():
        tr = make_trials(task, split, n, seed=0)
        out[split] = task.score(net.simulate(tr)[1], tr)
    return out


# --------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """The package-data folder holding trained networks and compiled circuits."""
    return Path(str(resources.files("neurophantom"))) / "data" / "trained"


def cache_stem(task: str, seed: int) -> str:
    return f"{task}_seed{int(seed)}"


def save_network(net: RateNetwork, folder: str | Path | None = None) -> Path:
    """Write ``<task>_seed<k>.npz`` (np.savez: W, C, d) and ``.json`` (config, unit, scores)."""
    folder = Path(folder) if folder is not None else cache_dir()
    stem = cache_stem(net.task, net.config.seed)
    buf = io.BytesIO()
    np.savez(buf, W=net.W, C=net.C, d=net.d)
    atomic_write_bytes(folder / f"{stem}.npz", buf.getvalue())
    atomic_write_json(folder / f"{stem}.json", {
        "format": CACHE_FORMAT, "task": net.task, "config": net.config.model_dump(), "unit": net.unit.to_dict(),
        "scores": net.scores, "score_trials": EVAL_TRIALS,
    })
    return folder / f"{stem}.npz"


def load_network(task: str, seed: int = 0, folder: str | Path | None = None) -> RateNetwork:
    """Read a cached network (``allow_pickle=False``); one-line errors for bad files."""
    get_task(task)
    folder = Path(folder) if folder is not None else cache_dir()
    stem = cache_stem(task, seed)
    head = read_json(folder / f"{stem}.json", "rate network header")
    if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:
        raise CorruptDataError(f"{folder / (stem + '.json')} is not a rate network header")
    path = folder / f"{stem}.npz"
    if not path.is_file():
        raise NeurophantomError(f"rate network weights not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in ("W", "C", "d")}
        config = TrainConfig(**head["config"])
        unit = UnitModel(**head["unit"])
    except NeurophantomError:
        raise
    except Exception as exc:  # zipfile/KeyError/pydantic errors from a damaged cache
        raise CorruptDataError(f"rate network cache {path} unreadable: {exc.__class__.__name__}") from None
    return RateNetwork(task=task, unit=unit, config=config, scores=dict(head.get("scores", {})), **arrays)


def has_cached_network(task: str, seed: int = 0, folder: str | Path | None = None) -> bool:
    folder = Path(folder) if folder is not None else cache_dir()
    stem = cache_stem(task, seed)
    return (folder / f"{stem}.npz").is_file() and (folder / f"{stem}.json").is_file()


def trained_network(task: str, seed: int = 0, *, progress: bool = False) -> RateNetwork:
    """The cached network for ``(task, seed)``, or a freshly trained one (default config)."""
    if has_cached_network(task, seed):
        return load_network(task, seed)
    return train(default_config(task, seed), progress=progress)


def default_config(task: str, seed: int = 0) -> TrainConfig:
    """The training config used for the cached networks."""
    get_task(task)
    return TrainConfig(task=task, seed=seed, **DEFAULTS.get(task, {}))


#: Per-task overrides of TrainConfig defaults for the cached networks.
DEFAULTS: dict[str, dict[str, Any]] = {
    "flipflop": {"iterations": 600, "learning_rate": 0.01},
    "context_decision": {"iterations": 1500, "learning_rate": 0.005},
}


def regenerate_network(task: str, seed: int = 0, folder: str | Path | None = None, *, progress: bool = True) -> RateNetwork:
    """Retrain ``(task, seed)`` with the default config and overwrite the cache (deterministic)."""
    net = train(default_config(task, seed), progress=progress)
    save_network(net, folder)
    return net
