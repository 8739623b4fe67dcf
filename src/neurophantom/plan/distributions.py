"""Input distributions: fixed, log-normal given by its 90% interval, uniform.

A log-normal "by 90% interval" ``[lo, hi]`` has median ``sqrt(lo * hi)`` and
``sigma = ln(hi / lo) / (2 * z_0.95)``, so that 5% of draws fall below ``lo`` and 5% above
``hi`` (the way Fermi estimates are usually stated; cf. Morgan & Henrion 1990, ch. 6).

Text form (CLI ``--set name=VALUE``, YAML strings): ``5``, ``fixed:5``,
``lognormal:LO,HI``, ``uniform:LO,HI``. YAML mappings: ``{lognormal: [LO, HI]}``,
``{uniform: [LO, HI]}``, ``{fixed: V}``.

References
----------
Morgan MG, Henrion M (1990) Uncertainty: A Guide to Dealing with Uncertainty in
Quantitative Risk and Policy Analysis. Cambridge University Press.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import ndtri

from .._errors import NeurophantomError

Kind = Literal["fixed", "lognormal", "uniform"]
Z95 = float(ndtri(0.95))  # 1.6448536...


@dataclass(frozen=True)
class Dist:
    """A distribution of one input. ``lo == hi`` for ``fixed``."""

    kind: Kind
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "lognormal", "uniform"):
            raise NeurophantomError(f"unknown distribution {self.kind!r}; use fixed, lognormal or uniform")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise NeurophantomError(f"{self.kind} bounds must be finite numbers, got {self.lo}, {self.hi}")
        if self.kind == "fixed" and self.lo != self.hi:
            raise NeurophantomError("a fixed value has lo == hi")
        if self.kind != "fixed" and not self.lo <= self.hi:
            raise NeurophantomError(f"{self.kind} needs LO <= HI, got {self.lo}, {self.hi}")
        if self.kind == "lognormal" and not self.lo > 0:
            raise NeurophantomError(f"lognormal bounds must be positive, got {self.lo}, {self.hi}")

    @property
    def central(self) -> float:
        """The point-estimate value: fixed value, log-normal median, uniform midpoint."""
        if self.kind == "lognormal":
            return math.sqrt(self.lo * self.hi)
        return 0.5 * (self.lo + self.hi)

    @property
    def has_spread(self) -> bool:
        return self.hi > self.lo

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Inverse CDF at ``q`` (0 < q < 1)."""
        q = np.asarray(q, dtype=float)
        if self.kind == "fixed":
            return np.full(q.shape, self.lo)
        if self.kind == "uniform":
            return self.lo + q * (self.hi - self.lo)
        mu, sigma = self._mu_sigma()
        return np.exp(mu + sigma * ndtri(q))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws (vectorised)."""
        if self.kind == "fixed" or not self.has_spread:
            return np.full(n, self.central)
        if self.kind == "uniform":
            return rng.uniform(self.lo, self.hi, n)
        mu, sigma = self._mu_sigma()
        return rng.lognormal(mu, sigma, n)

    def _mu_sigma(self) -> tuple[float, float]:
        a, b = math.log(self.lo), math.log(self.hi)
        return 0.5 * (a + b), (b - a) / (2.0 * Z95)

    def scaled(self, factor: float) -> "Dist":
        """The same shape with every value multiplied by ``factor`` (> 0)."""
        return Dist(self.kind, self.lo * factor, self.hi * factor)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "fixed":
            return {"kind": "fixed", "value": self.lo}
        return {"kind": self.kind, "p05" if self.kind == "lognormal" else "lo": self.lo,
                "p95" if self.kind == "lognormal" else "hi": self.hi}

    def describe(self) -> str:
        if self.kind == "fixed":
            return "fixed"
        return f"{self.kind} [{self.lo:.3g}, {self.hi:.3g}]"


def fixed(value: float) -> Dist:
    return Dist("fixed", float(value), float(value))


def around(value: float, factor: float) -> Dist:
    """Log-normal whose 90% interval is ``[value / factor, value * factor]`` (median ``value``)."""
    if factor == 1.0:
        return fixed(value)
    return Dist("lognormal", value / factor, value * factor)


def _number(text: Any, what: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise NeurophantomError(f"malformed {what}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise NeurophantomError(f"malformed {what}: {text!r} is not finite")
    return v


def _pair(values: Any, kind: str, name: str) -> Dist:
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, (list, tuple)) or len(values) != 2:
        raise NeurophantomError(f"malformed distribution for {name}: {kind} needs two numbers LO,HI")
    lo, hi = (_number(v, f"distribution for {name}") for v in values)
    return Dist(kind, lo, hi)  # type: ignore[arg-type]


def parse_dist(spec: Any, name: str = "input") -> Dist:
    """Parse a number, ``kind:ARGS`` text or a one-key mapping into a :class:`Dist`."""
    if isinstance(spec, bool):
        raise NeurophantomError(f"malformed distribution for {name}: {spec!r}")
    if isinstance(spec, (int, float)):
        return fixed(_number(spec, f"value for {name}"))
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise NeurophantomError(f"malformed distribution for {name}: use one key (fixed, lognormal or uniform)")
        ((kind, args),) = spec.items()
        return _from_kind(str(kind).strip().lower(), args, name)
    if isinstance(spec, str):
        text = spec.strip()
        if ":" not in text:
            return fixed(_number(text, f"value for {name}"))
        kind, _, args = text.partition(":")
        return _from_kind(kind.strip().lower(), args, name)
    raise NeurophantomError(f"malformed distribution for {name}: {spec!r}")


def _from_kind(kind: str, args: Any, name: str) -> Dist:
    if kind == "fixed":
        return fixed(_number(args, f"value for {name}"))
    if kind in ("lognormal", "uniform"):
        return _pair(args, kind, name)
    raise NeurophantomError(f"malformed distribution for {name}: unknown kind {kind!r} "
                            "(use fixed:V, lognormal:LO,HI or uniform:LO,HI)")
