"""The scanning model: volume -> instrument-seconds -> instruments -> cost, floor, staff.

For each fleet (one modality, or two in the mixed strategy) and every sample at once::

    imaged_um3         = volume_cm3 * 1e12 * share * expansion**3
    instrument_seconds = imaged_um3 * rounds / (rate_um3_per_s * speedup)
    instruments        = ceil(instrument_seconds / (deadline_years * year * duty_cycle))
    capex_usd          = unit_cost_usd * sum_{k=1..N} k**log2(progress_ratio)

The last line is Wright's law (Wright 1936): the k-th unit costs the first unit's cost
times ``progress_ratio ** log2(k)``. Floor space, staff and sites scale with the number of
instruments; operating cost over the deadline is staff, service and electricity. In the
mixed strategy a ``rosetta_fraction`` of the volume is imaged with (barcoded) expansion
light-sheet to learn the morphology -> receptor map, the rest by a fast modality.

References
----------
Wright TP (1936) Factors affecting the cost of airplanes. J Aeronaut Sci 3:122-128.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instruments.specs import SECONDS_PER_YEAR, UM3_PER_CM3, UM3_PER_M3
from .compute import compute_model

HOURS_PER_YEAR = SECONDS_PER_YEAR / 3600.0
RAMP_START = 6.0  # the plan: start with about 6 instruments, then 60, 600, ...
_EXACT_TERMS = 32  # sum the first terms exactly; Euler-Maclaurin for the tail


@dataclass(frozen=True)
class Layout:
    """Which fleets the model runs: one modality, or ``exm`` + a fast one (mixed)."""

    fleets: tuple[str, ...]
    mixed: bool = False
    measured: bool = False


def _em_tail(a: float, n: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euler-Maclaurin estimate of sum_{k=a..n} k**b (n >= a; a large enough that the
    derivative terms vanish fast). Hand-written: no library sums x**b to a real N."""
    near = np.abs(b + 1.0) < 1e-12
    c = np.where(near, 1.0, b + 1.0)
    integral = np.where(near, np.log(n / a), (n**c - a**c) / c)
    d1 = b * (n ** (b - 1) - a ** (b - 1))
    d3 = b * (b - 1) * (b - 2) * (n ** (b - 3) - a ** (b - 3))
    d5 = b * (b - 1) * (b - 2) * (b - 3) * (b - 4) * (n ** (b - 5) - a ** (b - 5))
    return integral + 0.5 * (a**b + n**b) + d1 / 12.0 - d3 / 720.0 + d5 / 30240.0


def wright_sum(n: np.ndarray, progress_ratio: np.ndarray) -> np.ndarray:
    """``sum_{k=1..n} progress_ratio ** log2(k)``: cost of ``n`` units in first-unit costs.

    ``n`` is a whole number of units (floored). Exact for ``n <= 32``; beyond, the first
    31 terms exactly plus an Euler-Maclaurin tail (relative error below 1e-9 for progress
    ratios 0.05..1). Prefix sums are tabled once per distinct progress ratio.
    """
    n, p = np.broadcast_arrays(np.floor(np.asarray(n, dtype=float)), np.asarray(progress_ratio, dtype=float))
    b = np.log2(p)
    ub, inv = np.unique(b, return_inverse=True)
    inv = inv.reshape(b.shape)
    k = np.arange(1, _EXACT_TERMS + 1, dtype=float)
    table = np.cumsum(k[None, :] ** ub[:, None], axis=1)  # table[u, j] = sum_{k<=j+1}
    idx = (np.clip(n, 1, _EXACT_TERMS) - 1).astype(np.intp)
    small = np.where(n >= 1, table[inv, idx], 0.0)
    big = n > _EXACT_TERMS
    tail = _em_tail(float(_EXACT_TERMS), np.where(big, n, float(_EXACT_TERMS)), b)
    return np.where(big, table[inv, _EXACT_TERMS - 2] + tail, small)


def last_unit_fraction(n: np.ndarray, progress_ratio: np.ndarray) -> np.ndarray:
    """Cost of the n-th unit relative to the first: ``progress_ratio ** log2(n)``."""
    return np.asarray(progress_ratio, float) ** np.log2(np.maximum(np.asarray(n, float), 1.0))


def _count(x: np.ndarray) -> np.ndarray:
    """Whole instruments/people: ceil, tolerant of float round-off just above an integer."""
    return np.ceil(x * (1.0 - 1e-12))


def fleet_model(v: dict[str, np.ndarray], m: str, share: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of one fleet of modality ``m`` imaging ``share`` of the volume."""
    g = lambda key: v[f"{m}.{key}"]  # noqa: E731
    years = v["deadline_years"]
    imaged = v["volume_cm3"] * UM3_PER_CM3 * share * g("expansion") ** 3
    seconds = imaged * g("rounds") / (g("rate_um3_per_s") * g("speedup"))
    n = _count(seconds / (years * SECONDS_PER_YEAR * v["duty_cycle"]))
    unit = g("unit_cost_usd")
    staff = _count(n / g("instruments_per_staff"))
    capex = unit * wright_sum(n, v["progress_ratio"])
    opex_year = (staff * v["staff_cost_usd_per_year"] + capex * g("maintenance_per_year")
                 + n * g("power_kw") * HOURS_PER_YEAR * v["duty_cycle"] * v["electricity_usd_per_kwh"])
    return {"expanded_volume_m3": imaged / UM3_PER_M3, "instrument_seconds": seconds,
            "instrument_years": seconds / SECONDS_PER_YEAR, "instruments": n, "capex_usd": capex,
            "capex_learning_usd": unit * wright_sum(n, v["learning_progress_ratio"]),
            "floor_m2": n * g("floor_m2"), "staff": staff, "sites": _count(n / g("instruments_per_site")),
            "opex_usd": opex_year * years, "unit_cost_usd": unit}


def shares(v: dict[str, np.ndarray], layout: Layout) -> list[np.ndarray]:
    if not layout.mixed:
        return [np.ones_like(v["volume_cm3"])]
    f = v["rosetta_fraction"]
    return [f, 1.0 - f]


SUMMED = ("expanded_volume_m3", "instrument_seconds", "instrument_years", "instruments", "capex_usd",
          "capex_learning_usd", "floor_m2", "staff", "sites", "opex_usd")


def evaluate(v: dict[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """Every output for input arrays ``v`` (all the same shape): vectorised, pure."""
    fleets = [fleet_model(v, m, s) for m, s in zip(layout.fleets, shares(v, layout))]
    out = {k: sum(f[k] for f in fleets) for k in SUMMED}
    biggest = np.max(np.stack([f["instruments"] for f in fleets]), axis=0)
    out["last_unit_cost_fraction"] = last_unit_fraction(biggest, v["learning_progress_ratio"])
    out["doublings"] = np.log2(np.maximum(biggest, 1.0))
    out["floor_side_m"] = np.sqrt(out["floor_m2"])
    out["total_cost_usd"] = out["capex_usd"] + out["opex_usd"]
    stages = np.maximum(0.0, np.ceil(np.log10(np.maximum(biggest, 1.0) / RAMP_START) - 1e-12))
    out["ramp_years"] = (1.0 + stages) * v["ramp_years_per_stage"]
    if layout.mixed:
        for m, f in zip(layout.fleets, fleets):
            for k in ("instruments", "instrument_years", "capex_usd", "floor_m2", "staff"):
                out[f"{m}.{k}"] = f[k]
    out.update(compute_model(v, layout.measured))
    return out


def ramp(point: dict[str, float], layout: Layout) -> list[dict[str, float]]:
    """The staged ramp 6, 60, 600, ... up to the fleet needed, from point inputs.

    Each stage: instruments, year it is reached (stages of ``ramp_years_per_stage``),
    cumulative capex at ``progress_ratio`` and on the learning curve, the relative cost
    of that stage's last unit, and the years that fleet alone would need for the volume.
    """
    v = {k: np.asarray(x, dtype=float) for k, x in point.items()}
    res = evaluate(v, layout)
    key = (lambda m, k: f"{m}.{k}") if layout.mixed else (lambda m, k: k)
    counts = {m: float(res[key(m, "instruments")]) for m in layout.fleets}
    m_star = max(counts, key=counts.__getitem__)
    need, busy_years = counts[m_star], float(res[key(m_star, "instrument_years")])
    sizes, s = [], RAMP_START
    while s < need:
        sizes.append(s)
        s *= 10.0
    sizes.append(max(need, 1.0))
    unit, per_stage = float(point[f"{m_star}.unit_cost_usd"]), float(point["ramp_years_per_stage"])
    out = []
    for i, n in enumerate(sizes):
        out.append({"stage": i + 1, "modality": m_star, "instruments": n, "year_reached": (i + 1) * per_stage,
                    "capex_usd": unit * float(wright_sum(n, point["progress_ratio"])),
                    "capex_learning_usd": unit * float(wright_sum(n, point["learning_progress_ratio"])),
                    "last_unit_cost_fraction": float(last_unit_fraction(n, point["learning_progress_ratio"])),
                    "years_to_scan": busy_years / (n * float(point["duty_cycle"]))})
    return out
