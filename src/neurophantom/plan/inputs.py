"""The planner's inputs: each a distribution with unit, source, certainty and bounds.

Defaults come from the cited numbers of the organism (:mod:`.organisms`) and the
modalities (:mod:`neurophantom.instruments.specs`); planner-only assumptions (staff cost,
electricity, site size, ramp pace) are cited here. Modality inputs are named
``<modality>.<key>`` (``synchrotron.speedup``); ``--set key=...`` without a prefix sets
every input whose name ends in ``.key``.

Default spreads (90% intervals) reflect certainty: a ``high`` number is known to about
10%, ``medium`` to a factor 2, ``low`` to a factor 3. Design choices (deadline,
expansion, rounds, the Rosetta fraction, progress ratios, duty cycle) are fixed unless the
user gives them a distribution.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..instruments.specs import Cited, ModalitySpec
from .distributions import Dist, around, fixed, parse_dist
from .organisms import Organism

POS = (0.0, math.inf, False)  # (lo, hi, lo inclusive)
FRACTION = (0.0, 1.0, False)
UNIT = (0.0, 1.0, True)
AT_LEAST_ONE = (1.0, math.inf, True)

SPREAD = {"high": 1.1, "medium": 2.0, "low": 3.0}
VOLUME_SPREAD = {"high": 1.05, "medium": 1.2, "low": 2.0}

PLANNER_SOURCE = "planner assumption"


@dataclass(frozen=True)
class Input:
    """One uncertain input of the model."""

    name: str
    dist: Dist
    unit: str
    source: str
    certainty: str
    bounds: tuple[float, float, bool] = POS

    def __post_init__(self) -> None:
        lo, hi, inclusive = self.bounds
        for v in (self.dist.lo, self.dist.hi):
            below = v < lo if inclusive else v <= lo
            if below or v > hi:
                rng = f"{'[' if inclusive else '('}{lo:g}, {hi:g}]"
                raise NeurophantomError(f"{self.name} must lie in {rng}, got {self.dist.describe()} "
                                        f"with value {v:g}")

    @property
    def central(self) -> float:
        return self.dist.central

    def clip(self, x: np.ndarray) -> np.ndarray:
        """Clip samples to the bounds (only log-normal tails beyond the 90% interval can cross)."""
        lo, hi, inclusive = self.bounds
        return np.clip(x, lo if inclusive else np.nextafter(lo, math.inf), hi)

    def to_json(self) -> dict[str, Any]:
        return {"point": self.central, "distribution": self.dist.to_json(), "unit": self.unit,
                "source": self.source, "certainty": self.certainty}


def cited_input(name: str, c: Cited, factor: float | None = None, bounds=POS) -> Input:
    """An input from a cited value; spread by certainty unless ``factor`` is given."""
    f = SPREAD[c.certainty] if factor is None else factor
    return Input(name, around(c.value, f), c.unit, c.source, c.certainty, bounds)


def assumed(name: str, value: float, unit: str, source: str, factor: float = 1.0,
            certainty: str = "low", bounds=POS) -> Input:
    return Input(name, around(value, factor), unit, source, certainty, bounds)


#: Instruments one site can hold (planner assumption per modality).
SITE_CAPACITY = {
    "exm": Cited(1e4, "instruments/site", "assumption: ~1e4 m^2 building per site; the plan "
                 "spreads the fleet over 10 to 100 sites", "low"),
    "synchrotron": Cited(40.0, "beamlines/site", "a large 3rd/4th-generation source hosts ~40 "
                         "beamlines (e.g. ESRF, APS)", "medium"),
    "em": Cited(1e3, "instruments/site", "assumption", "low"),
}


def organism_inputs(org: Organism) -> dict[str, Input]:
    n, s, v = org.neurons, org.synapses, org.volume_cm3
    return {"volume_cm3": cited_input("volume_cm3", v, VOLUME_SPREAD[v.certainty]),
            "neurons": cited_input("neurons", n), "synapses": cited_input("synapses", s)}


def modality_inputs(spec: ModalitySpec, rounds: int | None = None) -> dict[str, Input]:
    """Inputs of one fleet, named ``<modality>.<key>``."""
    m = spec.name
    sp = spec.speedup
    site = SITE_CAPACITY.get(m, Cited(100.0, "instruments/site", "assumption", "low"))
    r = spec.rounds if rounds is None else rounds
    items = [
        Input(f"{m}.expansion", fixed(spec.expansion.value), spec.expansion.unit, spec.expansion.source,
              spec.expansion.certainty, AT_LEAST_ONE),
        cited_input(f"{m}.rate_um3_per_s", spec.rate_um3_per_s),
        Input(f"{m}.speedup", around(sp.value, math.sqrt(10.0) if sp.value > 1 else 1.0), sp.unit,
              sp.source, sp.certainty),
        Input(f"{m}.rounds", fixed(r), "rounds", "serial barcode rounds (1: one pass)" if rounds is None
              else "assumption: serial barcodes for the Rosetta map, 4 rounds (4 colours: 256 codes)",
              "medium", AT_LEAST_ONE),
        cited_input(f"{m}.unit_cost_usd", spec.unit_cost_usd, 2.0),
        cited_input(f"{m}.floor_m2", spec.floor_m2, 2.0),
        cited_input(f"{m}.instruments_per_staff", spec.instruments_per_staff, 2.0),
        cited_input(f"{m}.power_kw", spec.power_kw, 2.0),
        cited_input(f"{m}.maintenance_per_year", spec.maintenance_per_year, 2.0),
        Input(f"{m}.instruments_per_site", fixed(site.value), site.unit, site.source, site.certainty),
    ]
    return {i.name: i for i in items}


def shared_inputs(deadline_years: float) -> dict[str, Input]:
    """Inputs common to every fleet: deadline, duty cycle, experience curves, staff, power."""
    if not deadline_years > 0:
        raise NeurophantomError(f"deadline_years must be > 0, got {deadline_years:g}")
    items = [
        Input("deadline_years", fixed(deadline_years), "years", "scenario (the plan: 10 years)", "user"),
        Input("duty_cycle", fixed(1.0), "fraction", "the plan assumes instruments image around the "
              "clock", "low", FRACTION),
        Input("progress_ratio", fixed(1.0), "per doubling", "the plan's headline figures use no "
              "experience curve (1.0); set 0.8 for Wright's law", "user", FRACTION),
        Input("learning_progress_ratio", fixed(0.8), "per doubling", "the plan: 80% per doubling "
              "(Wright 1936)", "medium", FRACTION),
        assumed("staff_cost_usd_per_year", 1e5, "USD/person/year", "assumption: loaded technician "
                "cost", 1.5),
        assumed("electricity_usd_per_kwh", 0.10, "USD/kWh", "assumption: industrial tariff", 1.5),
        assumed("ramp_years_per_stage", 2.0, "years per 10x", "assumption: each 10x step of the "
                "6/60/600/... ramp takes ~2 years to build and staff", 1.5),
    ]
    return {i.name: i for i in items}


def rosetta_input(fraction: float = 0.1) -> Input:
    return Input("rosetta_fraction", fixed(fraction), "fraction of volume", "assumption: ExM "
                 "samples ~10% of each region for the morphology -> receptor map", "user", UNIT)


def resolve(name: str, known: Mapping[str, Input]) -> list[str]:
    """Names an override ``name`` applies to: exact, else every ``*.name``."""
    name = name.strip()
    if name in known:
        return [name]
    hits = [k for k in known if k.endswith("." + name)]
    if hits:
        return hits
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; list them with `neurophantom plan --list-inputs`"
    raise NeurophantomError(f"unknown input {name!r}{hint}")


def apply_overrides(inputs: Mapping[str, Input], overrides: Mapping[str, Any],
                    source: str = "user override") -> dict[str, Input]:
    """A copy of ``inputs`` with user values or distributions for the named inputs."""
    out = dict(inputs)
    for name, spec in overrides.items():
        dist = parse_dist(spec, name)
        for key in resolve(name, out):
            out[key] = replace(out[key], dist=dist, source=source, certainty="user")
    return out


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["a=1", "b=lognormal:1,2"]`` -> mapping; later items win."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise NeurophantomError(f"malformed --set {item!r}: use name=value")
        out[name.strip()] = value.strip()
    return out
