"""The worm's parameters as a differentiable map, and its predicted stimulation atlas.

Parameters (``theta``, all natural logarithms of positive factors on the guessed worm):

- ``receptor`` (R,): conductance of every synapse carrying each receptor type;
- ``gap`` (P,): conductance of the gap junctions of each pair class;
- ``channel`` (K, C): density of each channel type in each membrane class;
- ``neuron_cal`` (N,): each neuron's L-type calcium channel density (its calcium gain),
  the only per-neuron parameter, under a prior of ``prior_sd_neuron``;
- ``vhalf`` (): shift (mV) of the graded release midpoint;
- ``depol`` (): log of the depolarisation (mV) the optogenetic stimulus clamps the
  stimulated neuron to above its rest;
- ``gain`` (): log of the factor from steady-state dF/F to the atlas's 30 s mean.

Prediction (the engine's own equations at steady state): the rested network ``V_r``
solves ``F(V) = 0`` (:func:`~neurophantom.engine.steady.steady_voltage`); stimulating
neuron ``j`` holds ``V_j = V_r,j + depol`` and the other neurons move by the linear
response of the network with ``j`` clamped, driven by the exact (nonlinear) change of
``j``'s release and gap currents: ``x = -J^-1 r + J^-1 e_j mu`` with ``r = F(V_r + depol
e_j)`` and ``mu`` chosen so that ``x_j = 0`` (one inverse of the Jacobian ``J`` at rest
serves every stimulated neuron). Each neuron's steady calcium at the new voltages goes
through the GCaMP6s Hill curve (Chen et al. 2013: Kd 144 nM, n 2.90, Fmax/Fmin 63.2) to a
dF/F relative to rest, scaled by ``gain``. This is exact for small responses of the
downstream network and keeps the stimulated neuron's own release nonlinear. Gradients
flow through every step except the Jacobian's dependence on the rest voltages (see
:func:`responses`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..biophysics.model import Model
from ..engine.steady import membrane_residual, state_at, steady_voltage

#: GCaMP6s in-vitro constants (Chen et al. 2013).
GCAMP6S = {"kd_uM": 0.144, "hill": 2.90, "dynamic_range": 63.2}


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class ParamMap:
    """Index structure that turns ``theta`` into Model parameters (built once per circuit)."""

    base: Model
    gap_class: jnp.ndarray  # (n_gap,) pair-class index
    neuron_class: jnp.ndarray  # (N,) membrane-class index
    channel_cols: tuple  # channel types of base.meta.channels, by name
    cal_col: int
    n_receptor: int
    n_gap_class: int
    n_class: int
    n_channel: int

    def tree_flatten(self):
        return (self.base, self.gap_class, self.neuron_class), (self.channel_cols, self.cal_col, self.n_receptor,
                                                                 self.n_gap_class, self.n_class, self.n_channel)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)


def zero_theta(pm: ParamMap, depol_mV: float = 20.0, gain: float = 1.0) -> dict:
    dt = pm.base.params["C_pF"].dtype
    return {
        "receptor": jnp.zeros((pm.n_receptor,), dt),
        "gap": jnp.zeros((pm.n_gap_class,), dt),
        "channel": jnp.zeros((pm.n_class, pm.n_channel), dt),
        "neuron_cal": jnp.zeros((pm.base.n_neurons,), dt),
        "vhalf": jnp.zeros((), dt),
        "depol": jnp.asarray(np.log(depol_mV), dt),
        "gain": jnp.asarray(np.log(gain), dt),
    }


def model_of(theta: dict, pm: ParamMap) -> Model:
    """The Model for ``theta`` (differentiable)."""
    p = dict(pm.base.params)
    idx = pm.base.index
    p["w_kinetic_nS"] = p["w_kinetic_nS"] * jnp.exp(theta["receptor"])[idx["kin_rec"]]
    p["g_gap_nS"] = p["g_gap_nS"] * jnp.exp(theta["gap"])[pm.gap_class]
    f = jnp.exp(theta["channel"])[pm.neuron_class]  # (N, n_channel)
    f = f.at[:, pm.cal_col].multiply(jnp.exp(theta["neuron_cal"]))
    p["g_nS"] = p["g_nS"] * f
    p["release_vhalf_mV"] = p["release_vhalf_mV"] + theta["vhalf"]
    return Model(p, idx, pm.base.meta)


def dff_of(ca_uM, ca_rest_uM):
    """GCaMP6s steady dF/F of calcium ``ca_uM`` relative to ``ca_rest_uM``."""
    def bright(c):
        cn = jnp.maximum(c, 0.0) ** GCAMP6S["hill"]
        return 1.0 + (GCAMP6S["dynamic_range"] - 1.0) * cn / (cn + GCAMP6S["kd_uM"] ** GCAMP6S["hill"])

    return bright(ca_uM) / bright(ca_rest_uM) - 1.0


@jax.jit
def rest_voltage(theta: dict, pm: ParamMap, v0):
    """The rested voltages for ``theta`` (Newton from ``v0``; not differentiated)."""
    model = model_of(theta, pm)
    return steady_voltage(model, jnp.zeros_like(v0), v0, iterations=6)


def responses(theta: dict, pm: ParamMap, stim: jnp.ndarray, v_star: jnp.ndarray):
    """Predicted atlas responses: (S, N) dF/F of every neuron (columns) when each neuron
    of ``stim`` (S,) is stimulated (rows), and the rested voltages (N,).

    ``v_star`` is the rested state for ``theta`` (:func:`rest_voltage`); its dependence on
    ``theta`` enters by the implicit function theorem, ``v_r = v* - J^-1 F_theta(v*)``
    with ``J^-1`` held constant: the value is ``v*`` (where ``F = 0``) and the derivative
    ``-J^-1 dF/dtheta`` is the exact one.
    """
    model = model_of(theta, pm)
    zero = jnp.zeros_like(v_star)
    F = lambda v: membrane_residual(model, v, zero)  # noqa: E731
    v_star = jax.lax.stop_gradient(v_star)
    J0 = jax.jacfwd(F)(v_star)
    v_r = v_star - jax.lax.stop_gradient(jnp.linalg.inv(J0)) @ F(v_star)
    # The Jacobian is taken at v* (its parameters still carry gradients); its change with
    # the rest voltages' own dependence on theta is a second-order term left out of the
    # gradient (it quadruples the cost of a step and moves the gradient by about 10%).
    A = jnp.linalg.inv(J0)
    depol = jnp.exp(theta["depol"])
    n = v_r.shape[0]
    E = jax.nn.one_hot(stim, n, dtype=v_r.dtype)  # (S, N)
    R = jax.vmap(lambda e: F(v_r + depol * e))(E)  # (S, N)
    AR = R @ A.T  # rows: A r_s
    a_j = A[:, stim].T  # (S, N): column j of A
    mu = AR[jnp.arange(stim.shape[0]), stim] / A[stim, stim]
    x = -AR + a_j * mu[:, None] + depol * E
    V = v_r[None, :] + x
    ca_r = state_at(model, v_r).ca
    ca = jax.vmap(lambda v: state_at(model, v).ca)(V)
    return jnp.exp(theta["gain"]) * dff_of(ca, ca_r[None, :]), v_r
