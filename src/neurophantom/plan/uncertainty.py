"""Monte Carlo over the inputs, summaries, and a one-at-a-time tornado ranking.

Every input is drawn independently from its own stream
(``SeedSequence([seed, crc32(name)])``), so adding or fixing one input does not change
the draws of the others. The model is vectorised numpy: one call evaluates every sample.
The tornado moves one input at a time to its 5th and 95th percentile with all others at
their central values (the classic sensitivity "tornado", Morgan & Henrion 1990, ch. 8)
and ranks inputs by the swing of the chosen output.

References
----------
Morgan MG, Henrion M (1990) Uncertainty: A Guide to Dealing with Uncertainty in
Quantitative Risk and Policy Analysis. Cambridge University Press.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .._errors import NeurophantomError
from .inputs import Input
from .model import Layout, evaluate

MAX_SAMPLES = 1_000_000


def central_values(inputs: Mapping[str, Input]) -> dict[str, np.ndarray]:
    """Each input at its central value (fixed value, log-normal median, uniform midpoint)."""
    return {k: np.array([i.central]) for k, i in inputs.items()}


def sample_inputs(inputs: Mapping[str, Input], n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` joint samples of all inputs (independent, one stream per input name)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise NeurophantomError(f"samples must be between 1 and {MAX_SAMPLES}, got {n}")
    if seed < 0:
        raise NeurophantomError(f"seed must be >= 0, got {seed}")
    out = {}
    for name, inp in inputs.items():
        rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
        out[name] = inp.clip(inp.dist.sample(rng, n))
    return out


def summarise(samples: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Median and 90% interval (5th, 95th percentiles) of each output."""
    out = {}
    for k, x in samples.items():
        p05, med, p95 = np.percentile(x, [5.0, 50.0, 95.0])
        out[k] = {"median": float(med), "p05": float(p05), "p95": float(p95)}
    return out


def monte_carlo(inputs: Mapping[str, Input], layout: Layout, n: int, seed: int) -> dict[str, np.ndarray]:
    """Output samples: the model evaluated once on ``n`` joint input samples."""
    return evaluate(sample_inputs(inputs, n, seed), layout)


@dataclass(frozen=True)
class Bar:
    """One tornado bar: the output with ``input`` at its 5th and 95th percentile."""

    input: str
    low_input: float
    high_input: float
    output_at_low: float
    output_at_high: float

    @property
    def swing(self) -> float:
        return abs(self.output_at_high - self.output_at_low)

    def to_json(self) -> dict[str, float | str]:
        return {"input": self.input, "input_p05": self.low_input, "input_p95": self.high_input,
                "output_at_p05": self.output_at_low, "output_at_p95": self.output_at_high,
                "swing": self.swing}


def tornado(inputs: Mapping[str, Input], layout: Layout, output: str,
            names: list[str] | None = None) -> list[Bar]:
    """Inputs ranked by how far ``output`` swings when each moves across its 90% interval.

    Ties (e.g. zero swing) keep inputs with spread before inputs without, then by name, so
    an input with no spread always ranks last among its ties.
    """
    names = sorted(inputs) if names is None else list(names)
    centre = {k: i.central for k, i in inputs.items()}
    v = {k: np.full(2 * len(names), c) for k, c in centre.items()}
    for j, name in enumerate(names):
        d = inputs[name].dist
        v[name][2 * j] = inputs[name].clip(d.quantile(0.05))
        v[name][2 * j + 1] = inputs[name].clip(d.quantile(0.95))
    res = evaluate(v, layout)
    if output not in res:
        raise NeurophantomError(f"unknown output {output!r} for the tornado; choose one of {sorted(res)}")
    y = res[output]
    bars = [Bar(n, float(v[n][2 * j]), float(v[n][2 * j + 1]), float(y[2 * j]), float(y[2 * j + 1]))
            for j, n in enumerate(names)]
    return sorted(bars, key=lambda b: (-b.swing, not inputs[b.input].dist.has_spread, b.input))
