"""The ChannelType record shared by every channel model."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import jax.numpy as jnp

from ..._errors import ValidationError

# kinetics(v_mV, ca_uM, params) -> tuple of (x_inf, tau_ms) per gate, in the order of ``gates``.
Kinetics = Callable[[jnp.ndarray, jnp.ndarray, Mapping[str, jnp.ndarray]], tuple[tuple[jnp.ndarray, jnp.ndarray], ...]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChannelType:
    """A voltage- (or calcium-) gated membrane channel of Hodgkin-Huxley form.

    The current through the channels of one neuron is
    ``I = density * area_um2 * g_unit_pS * 1e-3 * prod(gate_i ** power_i) * (V - E_mV)``
    (nS x mV = pA). Each gate relaxes to ``x_inf(V, Ca)`` with time constant
    ``tau_ms(V, Ca)``; the engine integrates gates by exponential Euler.
    """

    name: str
    ion: str
    E_mV: float
    g_unit_pS: float
    gates: tuple[str, ...]
    powers: tuple[int, ...]
    kinetics: Kinetics | None
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)
    calcium_dependent: bool = False
    carries_calcium: bool = False
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValidationError(f"channel name {self.name!r} must be an identifier")
        if not (self.g_unit_pS > 0):
            raise ValidationError(f"channel {self.name}: unitary conductance must be > 0 pS, got {self.g_unit_pS}")
        if not (-150.0 <= self.E_mV <= 200.0):
            raise ValidationError(f"channel {self.name}: reversal {self.E_mV} mV outside [-150, 200]")
        if len(self.gates) != len(self.powers):
            raise ValidationError(f"channel {self.name}: one power per gate")
        if any(p < 1 for p in self.powers):
            raise ValidationError(f"channel {self.name}: gate powers must be >= 1")
        if self.gates and self.kinetics is None:
            raise ValidationError(f"channel {self.name}: gated channel needs kinetics")

    def with_params(self, **changes: float) -> "ChannelType":
        """A copy with reversal, unitary conductance or kinetic constants changed."""
        top = {k: changes.pop(k) for k in list(changes) if k in ("E_mV", "g_unit_pS")}
        unknown = set(changes) - set(self.params)
        if unknown:
            raise ValidationError(f"channel {self.name}: unknown parameter(s) {sorted(unknown)}")
        return dataclasses.replace(self, params={**self.params, **changes}, **top)


def exprel(x: jnp.ndarray) -> jnp.ndarray:
    """``x / (exp(x) - 1)``-safe helper: returns ``(exp(x) - 1) / x`` with the limit 1 at 0.

    Same definition as Brian2's ``exprel`` so that rate functions match term for term.
    """
    small = jnp.abs(x) < 1e-6
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 + x / 2.0, jnp.expm1(xs) / xs)


def from_alpha_beta(alpha: jnp.ndarray, beta: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(x_inf, tau_ms) from opening and closing rates in 1/ms."""
    s = alpha + beta
    return alpha / s, 1.0 / s
