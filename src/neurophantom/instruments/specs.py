"""The single source of instrument numbers: rates, unit costs, voxels, expansion.

Both the planner (``neurophantom.plan``) and the virtual instruments import from here, so
a scan stamped with "the real instrument's time" and a cost plan use the same numbers.
Every number is a :class:`Cited` value with its unit, its source and how certain it is
(``high``: measured and widely reproduced; ``medium``: published, order of magnitude
solid; ``low``: a plan's assumption or an extrapolation).

Rates are given on the *imaged* volume: with linear expansion ``e`` a specimen volume
``V`` becomes ``V * e**3`` before it is imaged (Chen, Tillberg & Boyden 2015).

References
----------
Chen F, Tillberg PW, Boyden ES (2015) Expansion microscopy. Science 347:543-548.
Gao R et al. (2019) Cortical column and whole-brain imaging with molecular contrast and
nanoscale resolution. Science 363:eaau8302.
Kuan AT et al. (2020) Dense neuronal reconstruction through X-ray holographic
nano-tomography. Nat Neurosci 23:1637-1643.
Xu CS et al. (2017) Enhanced FIB-SEM systems for large-volume 3D imaging. eLife 6:e25916.
Sandberg A, Bostrom N (2008) Whole Brain Emulation: A Roadmap. Technical Report 2008-3,
Future of Humanity Institute, Oxford University.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .._errors import NeurophantomError

Certainty = Literal["high", "medium", "low"]
SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
UM3_PER_MM3 = 1e9
UM3_PER_CM3 = 1e12
UM3_PER_M3 = 1e18

PLAN = "the plan"


@dataclass(frozen=True)
class Cited:
    """A number with its unit, source and certainty."""

    value: float
    unit: str
    source: str
    certainty: Certainty = "medium"

    def __post_init__(self) -> None:
        if self.certainty not in ("high", "medium", "low"):
            raise NeurophantomError(f"certainty must be high, medium or low, got {self.certainty!r}")
        if not self.source.strip():
            raise NeurophantomError("a cited value needs a source")

    def with_value(self, value: float, source: str = "user") -> "Cited":
        """The same quantity with a new value and source (e.g. a user override)."""
        return replace(self, value=float(value), source=source, certainty="low")


@dataclass(frozen=True)
class ModalitySpec:
    """One imaging modality, as the planner and the virtual instruments see it.

    Parameters
    ----------
    name, label : str
        Registry key and human-readable name.
    rate_um3_per_s : Cited
        Imaging rate today, on the imaged (expanded) volume.
    speedup : Cited
        Factor by which R&D is assumed to speed the rate up (1: none). The rate used by the
        planner is ``rate * speedup``; a virtual instrument stamps today's time (speedup 1).
    expansion : Cited
        Default linear expansion factor (1: none).
    voxel_nm : Cited
        Isotropic voxel edge in the imaged sample (divide by expansion for specimen nm).
    unit_cost_usd, floor_m2, instruments_per_staff, power_kw, maintenance_per_year : Cited
        Capital cost per instrument, floor area per instrument, instruments one staff
        member runs, electrical power per instrument, and yearly service cost as a fraction
        of the purchase price.
    rounds : int
        Imaging rounds of the whole volume (serial barcodes image it once per round).
    """

    name: str
    label: str
    rate_um3_per_s: Cited
    speedup: Cited
    expansion: Cited
    voxel_nm: Cited
    unit_cost_usd: Cited
    floor_m2: Cited
    instruments_per_staff: Cited
    power_kw: Cited
    maintenance_per_year: Cited
    rounds: int = 1
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("rate_um3_per_s", "speedup", "expansion", "voxel_nm", "unit_cost_usd",
                     "floor_m2", "instruments_per_staff", "power_kw"):
            if not getattr(self, name).value > 0:
                raise NeurophantomError(f"modality {self.name}: {name} must be positive")
        if self.maintenance_per_year.value < 0:
            raise NeurophantomError(f"modality {self.name}: maintenance_per_year must be >= 0")
        if self.expansion.value < 1:
            raise NeurophantomError(f"modality {self.name}: expansion must be >= 1")
        if int(self.rounds) != self.rounds or self.rounds < 1:
            raise NeurophantomError(f"modality {self.name}: rounds must be a positive integer")

    def cited(self) -> dict[str, Cited]:
        """Every cited number of this modality, by name."""
        keys = ("rate_um3_per_s", "speedup", "expansion", "voxel_nm", "unit_cost_usd", "floor_m2",
                "instruments_per_staff", "power_kw", "maintenance_per_year")
        return {k: getattr(self, k) for k in keys}


def _c(value: float, unit: str, source: str, certainty: Certainty) -> Cited:
    return Cited(float(value), unit, source, certainty)


# --- expansion light-sheet ------------------------------------------------------------
EXM_DEFAULT_EXPANSION = 11.0
#: Camera voxel / z-step in the *expanded* sample (z, y, x), nm; lattice light-sheet of
#: Gao et al. 2019 (about 0.1 um lateral pixels, z-steps of about 0.2 um).
LIGHTSHEET_CAMERA_VOXEL_NM: tuple[float, float, float] = (200.0, 100.0, 100.0)

LIGHTSHEET = ModalitySpec(
    name="exm",
    label="expansion light-sheet",
    rate_um3_per_s=_c(1e4, "um^3/s (expanded)", f"{PLAN}; the order of Gao et al. 2019 ExLLSM "
                      "(whole expanded fly brain in days)", "medium"),
    speedup=_c(1.0, "x", "no speed-up assumed", "medium"),
    expansion=_c(EXM_DEFAULT_EXPANSION, "x per axis", f"{PLAN}: 11x for synapse-level detail; "
                 "Chang et al. 2017 iterative ExM reaches ~20x", "medium"),
    voxel_nm=_c(100.0, "nm (expanded, lateral)", "Gao et al. 2019 lattice light-sheet pixel",
                "medium"),
    unit_cost_usd=_c(2e5, "USD", f"{PLAN}: $200k per mass-produced microscope (commercial "
                     "light-sheets list at $0.3M-1M)", "low"),
    floor_m2=_c(1.0, "m^2", f"{PLAN}: 1 m^2 per microscope (bench only; no aisles)", "low"),
    instruments_per_staff=_c(10.0, "instruments/person", "assumption: automated sample "
                             "handling, one technician tends ten microscopes", "low"),
    power_kw=_c(1.0, "kW", "assumption: lasers, camera, stage and workstation", "low"),
    maintenance_per_year=_c(0.05, "of unit cost per year", "assumption: typical service "
                            "contract for lab optics (5-10%/year)", "low"),
    notes="rounds > 1 for serial barcodes (each round images the whole expanded volume)",
)

# --- synchrotron X-ray ------------------------------------------------------------------
SYNCHROTRON_VOXEL_NM = 300.0
SYNCHROTRON_RD_SPEEDUP = 10.0

SYNCHROTRON = ModalitySpec(
    name="synchrotron",
    label="synchrotron X-ray tomography",
    rate_um3_per_s=_c(UM3_PER_MM3 / 600.0, "um^3/s (imaged)", f"{PLAN}: about 600 s/mm^3 "
                      "today", "low"),
    speedup=_c(SYNCHROTRON_RD_SPEEDUP, "x", f"{PLAN}: 10x faster plausible with R&D", "low"),
    expansion=_c(EXM_DEFAULT_EXPANSION, "x per axis", f"{PLAN}: 300 nm voxels need expansion "
                 "for synapse sizes; 11x gives ~27 nm", "medium"),
    voxel_nm=_c(SYNCHROTRON_VOXEL_NM, "nm (imaged)", f"{PLAN}; Kuan et al. 2020 XNH reaches "
                "tens of nm on small fields", "medium"),
    unit_cost_usd=_c(1e7, "USD", f"{PLAN}: about $10M per beamline (excludes the storage ring; "
                     "a new 4th-generation source costs ~$0.5B-1B)", "low"),
    floor_m2=_c(300.0, "m^2", "assumption: hutches, optics and control of one long beamline "
                "(excluding the ring)", "low"),
    instruments_per_staff=_c(0.25, "instruments/person", "assumption: 24/7 operation, about "
                             "four scientists and technicians per beamline", "low"),
    power_kw=_c(300.0, "kW", "assumption: a share of a ~10 MW storage ring per beamline "
                "among ~40 beamlines, plus the beamline itself", "low"),
    maintenance_per_year=_c(0.08, "of unit cost per year", "assumption", "low"),
)

# --- electron microscopy ---------------------------------------------------------------
EM_VOXEL_NM: tuple[float, float, float] = (8.0, 8.0, 8.0)
#: The plan's EM estimate: 600k instrument-years for a human CNS of 1400 cm^3 (unexpanded).
EM_PLAN_INSTRUMENT_YEARS = 6e5
EM_PLAN_VOLUME_CM3 = 1400.0

EM = ModalitySpec(
    name="em",
    label="electron microscopy",
    rate_um3_per_s=_c(EM_PLAN_VOLUME_CM3 * UM3_PER_CM3 / (EM_PLAN_INSTRUMENT_YEARS * SECONDS_PER_YEAR),
                      "um^3/s", f"{PLAN}: 600k instrument-years for 1400 cm^3 (a future "
                      "multi-beam SEM; today's reach ~1e2-1e3 um^3/s)", "low"),
    speedup=_c(1.0, "x", "no speed-up beyond the plan's rate", "low"),
    expansion=_c(1.0, "x per axis", "EM images unexpanded tissue", "high"),
    voxel_nm=_c(8.0, "nm", "Xu et al. 2017 FIB-SEM, 8 nm isotropic", "high"),
    unit_cost_usd=_c(1e6, "USD", f"{PLAN}: $1M per instrument", "low"),
    floor_m2=_c(20.0, "m^2", "assumption: vibration-isolated room per instrument", "low"),
    instruments_per_staff=_c(5.0, "instruments/person", "assumption", "low"),
    power_kw=_c(10.0, "kW", "assumption: column, stage, cooling, acquisition", "low"),
    maintenance_per_year=_c(0.08, "of unit cost per year", "assumption", "low"),
)

MODALITIES: dict[str, ModalitySpec] = {m.name: m for m in (LIGHTSHEET, SYNCHROTRON, EM)}


def get_modality(name: str) -> ModalitySpec:
    """The modality registered as ``name`` (``exm``, ``synchrotron``, ``em``)."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise NeurophantomError(f"unknown modality {name!r}; choose one of {sorted(MODALITIES)}") from None


def custom_modality(name: str, *, rate_um3_per_s: float, unit_cost_usd: float,
                    expansion: float = 1.0, voxel_nm: float = 100.0, floor_m2: float = 10.0,
                    instruments_per_staff: float = 1.0, power_kw: float = 1.0,
                    maintenance_per_year: float = 0.05, speedup: float = 1.0,
                    source: str = "user") -> ModalitySpec:
    """A user-defined modality; every number is marked with ``source`` and low certainty."""
    u = lambda v, unit: _c(v, unit, source, "low")  # noqa: E731
    return ModalitySpec(name=name, label=name, rate_um3_per_s=u(rate_um3_per_s, "um^3/s"),
                        speedup=u(speedup, "x"), expansion=u(expansion, "x per axis"),
                        voxel_nm=u(voxel_nm, "nm"), unit_cost_usd=u(unit_cost_usd, "USD"),
                        floor_m2=u(floor_m2, "m^2"),
                        instruments_per_staff=u(instruments_per_staff, "instruments/person"),
                        power_kw=u(power_kw, "kW"),
                        maintenance_per_year=u(maintenance_per_year, "of unit cost per year"))


def _check_volume(volume_um3: float, expansion: float, rounds: int) -> None:
    if not volume_um3 >= 0:
        raise NeurophantomError(f"volume_um3 must be >= 0, got {volume_um3}")
    if not expansion >= 1:
        raise NeurophantomError(f"expansion must be >= 1, got {expansion}")
    if int(rounds) != rounds or rounds < 1:
        raise NeurophantomError(f"rounds must be a positive integer, got {rounds}")


def instrument_seconds(modality: str | ModalitySpec, volume_um3: float, expansion: float | None = None,
                       *, rounds: int = 1, speedup: float = 1.0) -> float:
    """Instrument time to image a specimen volume.

    ``seconds = volume_um3 * expansion**3 * rounds / (rate_um3_per_s * speedup)``.

    Parameters
    ----------
    modality : str or ModalitySpec
    volume_um3 : float
        Specimen (pre-expansion) volume.
    expansion : float, optional
        Linear expansion (default: the modality's).
    rounds : int
        Whole-volume imaging rounds.
    speedup : float
        Rate multiplier (1: today's instrument; the planner passes the R&D speed-up).
    """
    spec = modality if isinstance(modality, ModalitySpec) else get_modality(modality)
    e = spec.expansion.value if expansion is None else float(expansion)
    _check_volume(volume_um3, e, rounds)
    if not speedup > 0:
        raise NeurophantomError(f"speedup must be positive, got {speedup}")
    return float(volume_um3) * e**3 * rounds / (spec.rate_um3_per_s.value * speedup)


def lightsheet_seconds(volume_um3: float, expansion: float = EXM_DEFAULT_EXPANSION, *, rounds: int = 1) -> float:
    """Expansion light-sheet time for a specimen volume (every round images it all)."""
    return instrument_seconds(LIGHTSHEET, volume_um3, expansion, rounds=rounds)


def synchrotron_seconds(volume_um3: float, expansion: float = 1.0, *, speedup: float = 1.0) -> float:
    """Beamline time for a specimen volume at today's rate (``speedup`` for R&D scenarios)."""
    return instrument_seconds(SYNCHROTRON, volume_um3, expansion, speedup=speedup)


def em_seconds(volume_um3: float) -> float:
    """EM time for a specimen volume at the plan's stated rate."""
    return instrument_seconds(EM, volume_um3, 1.0)
