"""A saved planning scenario: organism, modality, deadline, overrides; YAML round trip.

YAML files are read with the bounded safe loader of :mod:`neurophantom.io._parse` (size,
depth, number length and alias expansion limited; UTF-8 only). Example::

    organism: human
    modality: mixed          # exm | synchrotron | em | mixed | custom
    fast: synchrotron        # the fast modality of the mixed strategy
    deadline_years: 10
    set:
      rosetta_fraction: 0.1
      synchrotron.speedup: {lognormal: [3, 30]}
      exm.rate_um3_per_s: "lognormal:3e3,3e4"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from .._errors import CorruptDataError, NeurophantomError

Value = Union[float, str, dict[str, Any]]


class Scenario(BaseModel):
    """Everything that defines one plan.

    Parameters
    ----------
    organism : str
        ``celegans``, ``drosophila``, ``zebrafish_larva``, ``mouse``, ``marmoset``,
        ``macaque`` or ``human``.
    modality : str
        ``exm``, ``synchrotron``, ``em``, ``mixed`` (ExM Rosetta samples + ``fast``) or
        ``custom`` (numbers from ``custom``).
    fast : str
        The fast modality of the mixed strategy.
    deadline_years : float
        Years the full fleet has to image the volume.
    level, accelerator : str
        Emulation level and accelerator of the compute estimate.
    samples, seed : int
        Monte Carlo size and seed.
    overrides : mapping (YAML key ``set``)
        Input values or distributions by input name.
    custom : mapping, optional
        A user-defined modality: ``rate_um3_per_s`` and ``unit_cost_usd`` required;
        optional ``expansion``, ``voxel_nm``, ``floor_m2``, ``instruments_per_staff``,
        ``power_kw``, ``maintenance_per_year``, ``speedup``.
    engine_benchmark : str
        ``auto`` (use benchmarks/results/engine_cost.json when present), ``none``, or a path.
    rosetta_study, rosetta_metric, rosetta_target : optional
        Mixed strategy: take the Rosetta fraction from a ``rosetta-fraction`` study folder:
        the smallest sampled fraction whose ``rosetta_metric`` reaches ``rosetta_target``
        (default: 95% of the best it reached) (:mod:`.measured`).
    tornado_output : str
        Output the tornado ranks inputs by.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)
    organism: str = "human"
    modality: str = "synchrotron"
    fast: str = "synchrotron"
    deadline_years: float = Field(10.0, gt=0.0)
    level: str = "conductance_point"
    accelerator: str = "h100"
    samples: int = Field(100_000, ge=1, le=1_000_000)
    seed: int = Field(0, ge=0)
    overrides: dict[str, Value] = Field(default_factory=dict, alias="set")
    custom: Optional[dict[str, float]] = None
    engine_benchmark: str = "auto"
    rosetta_study: Optional[str] = None
    rosetta_metric: str = "rosetta_function_kept"
    rosetta_target: Optional[float] = Field(None, gt=0.0)
    tornado_output: str = "capex_usd"
    label: Optional[str] = None

    def title(self) -> str:
        if self.label:
            return self.label
        mod = f"mixed(exm+{self.fast})" if self.modality == "mixed" else self.modality
        return f"{self.organism}/{mod}/{self.deadline_years:g}y"


def make_scenario(**fields: Any) -> Scenario:
    """Build a :class:`Scenario`, turning validation problems into one-line errors."""
    try:
        return Scenario(**fields)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "scenario"
        raise NeurophantomError(f"scenario {where}: {err.get('msg', 'invalid')}") from None


def load_scenario(path: str | Path) -> dict[str, Any]:
    """The fields of a YAML scenario file (validated later with CLI flags merged in)."""
    from ..io import read_config_file

    p = Path(path)
    if not p.is_file():
        raise NeurophantomError(f"scenario file not found: {p}")
    data = read_config_file(p, "scenario")
    if not isinstance(data, dict):
        raise CorruptDataError(f"scenario {p} must be a YAML mapping")
    make_scenario(**data)  # fail early, naming the bad field
    return data


def dump_scenario(s: Scenario) -> str:
    """YAML text that :func:`load_scenario` reads back to the same scenario."""
    return yaml.safe_dump(s.model_dump(by_alias=True, exclude_none=True), sort_keys=False)
