"""Validated configuration of the dynamic instrument: indicators and the imaging setup.

Indicator presets (``INDICATORS``):

``gcamp6f``, ``gcamp6s``
    Calcium indicators with the in-vitro affinity, Hill coefficient and dynamic range that
    Chen et al. (2013) measured (GCaMP6f: Kd 375 nM, n 2.27, Fmax/Fmin 51.8; GCaMP6s: Kd
    144 nM, n 2.90, Fmax/Fmin 63.2). Rise (indicator binding) and decay (calcium clearance)
    time constants and the calcium increment per action potential are effective values
    chosen so that one action potential gives a peak dF/F of about 0.2 (6f) or 0.25 (6s),
    peaking about 40 ms (6f) or 140 ms (6s) after the spike and decaying with a half time of
    about 130 ms (6f) or 0.45 s (6s), the behaviour Chen et al. (2013) report in vivo.
``voltage``
    An ASAP3-like genetically encoded voltage indicator (Villette et al. 2019): fluorescence
    falls linearly with depolarisation, -51 % per +100 mV around rest, with a first-order
    response of about 1 ms.

References
----------
Chen T-W et al. (2013) Ultrasensitive fluorescent proteins for imaging neuronal activity.
Nature 499:295-300.
Villette V et al. (2019) Ultrafast two-photon imaging of a high-gain voltage indicator in
awake behaving mice. Cell 179:1590-1608.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..._errors import NeurophantomError

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class CalciumIndicator(BaseModel):
    """A GCaMP-like calcium indicator and the calcium signal that drives it.

    Free calcium ``c`` (uM) relaxes to ``ca_rest_uM`` with ``tau_decay_ms``; each action
    potential adds ``spike_increment_uM``; graded neurons without calcium channels gain
    calcium through a voltage-gated influx ``influx_uM_per_ms / (1 + exp(-(V - influx_vhalf_mV)
    / influx_slope_mV))``. The indicator equilibrates with calcium with ``tau_rise_ms``
    (binding at low occupancy), its bound fraction is the Hill function of the equilibrated
    calcium with ``kd_uM`` and ``hill``, and its brightness grows from 1 (unbound) to
    ``dynamic_range`` (saturated). The influx defaults (1 nM/ms at full activation, half
    activation at -30 mV, the range of high-voltage-activated calcium channels) hold a
    graded cell clamped at -30 mV at ``ca_rest + 0.5 x 0.001 x 180 = 0.14 uM``, a dF/F of
    about 3 with GCaMP6f.
    """

    model_config = _FROZEN
    kind: Literal["calcium"] = "calcium"
    name: str = "gcamp6f"
    kd_uM: float = Field(0.375, gt=0)
    hill: float = Field(2.27, gt=0)
    dynamic_range: float = Field(51.8, gt=1)
    tau_rise_ms: float = Field(15.0, gt=0)
    tau_decay_ms: float = Field(180.0, gt=0)
    spike_increment_uM: float = Field(0.0143, ge=0)
    ca_rest_uM: float = Field(0.05, gt=0)
    influx_uM_per_ms: float = Field(0.001, ge=0)
    influx_vhalf_mV: float = -30.0
    influx_slope_mV: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _rise_before_decay(self) -> "CalciumIndicator":
        if not self.tau_rise_ms < self.tau_decay_ms:
            raise ValueError(f"tau_rise_ms ({self.tau_rise_ms}) must be < tau_decay_ms ({self.tau_decay_ms})")
        return self


class VoltageIndicator(BaseModel):
    """A fast voltage indicator: ``F/F_ref = 1 + sensitivity_per_100mV (V - v_ref_mV) / 100``
    reached through a first-order response with time constant ``tau_ms``."""

    model_config = _FROZEN
    kind: Literal["voltage"] = "voltage"
    name: str = "asap3"
    sensitivity_per_100mV: float = Field(-0.51, ge=-0.99, le=5.0)
    v_ref_mV: float = -70.0
    tau_ms: float = Field(1.0, gt=0)


Indicator = Annotated[Union[CalciumIndicator, VoltageIndicator], Field(discriminator="kind")]

INDICATORS: dict[str, CalciumIndicator | VoltageIndicator] = {
    "gcamp6f": CalciumIndicator(),
    "gcamp6s": CalciumIndicator(
        name="gcamp6s", kd_uM=0.144, hill=2.90, dynamic_range=63.2, tau_rise_ms=50.0, tau_decay_ms=650.0,
        spike_increment_uM=0.0070,
    ),
    "voltage": VoltageIndicator(),
}

# Defaults that depend on the kind of indicator: (calcium, voltage).
_KIND_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "frame_rate_hz": (30.0, 1000.0),  # light-sheet calcium imaging vs kHz voltage imaging
    "sample_dt_ms": (1.0, 0.1),  # fine grid of the observation model
    "photons_rest": (2000.0, 1000.0),  # photons per frame of a resting cell
    "baseline_percentile": (10.0, 50.0),  # F0 for dF/F: low percentile (calcium), median (voltage)
}


class ImagingConfig(BaseModel):
    """The imaging setup (one ROI per neuron); ``None`` fields take the indicator kind's default.

    Parameters
    ----------
    indicator
        A :class:`CalciumIndicator` or :class:`VoltageIndicator` (or a preset name).
    frame_rate_hz
        Camera frames per second (30 for calcium, 1000 for voltage by default).
    exposure_fraction
        Fraction of each frame period the camera integrates light (global shutter).
    photons_rest
        Expected photons per frame from a resting, unbleached cell (its ROI, no neuropil).
    brightness_cv
        Spread of expression between cells (log-normal, mean 1).
    read_noise_e
        Camera read noise (electrons r.m.s., Gaussian; sCMOS about 1-2).
    neuropil_fraction
        Fraction of the neighbourhood's fluorescence added to each ROI (0 disables).
    neuropil_radius_um
        Width (standard deviation) of the Gaussian neighbourhood, excluding the cell itself.
    bleach_tau_s
        Time constant of exponential photobleaching (``None``: no bleaching); trials are
        recorded one after the other, so bleaching accumulates across them.
    dt_ms, sample_dt_ms
        Engine integration step, and the fine grid on which activity is sampled and the
        observation model is evaluated (a whole number of steps).
    transmission
        ``build_model``'s release mode for spiking neurons (``event`` or ``kinetic``).
    calcium_source
        ``auto`` (per neuron: the engine's calcium if the neuron has calcium channels, else
        spikes for spiking and voltage-gated influx for graded neurons), or one of
        ``spikes``, ``voltage``, ``engine`` for every neuron.
    baseline_percentile, baseline_window_s
        dF/F baseline: a running percentile of the measured trace over the window.
    """

    model_config = _FROZEN
    indicator: Indicator = Field(default_factory=lambda: INDICATORS["gcamp6f"])
    frame_rate_hz: Optional[float] = Field(None, gt=0)
    exposure_fraction: float = Field(1.0, gt=0, le=1)
    photons_rest: Optional[float] = Field(None, gt=0)
    brightness_cv: float = Field(0.3, ge=0, le=3)
    read_noise_e: float = Field(1.5, ge=0)
    neuropil_fraction: float = Field(0.3, ge=0, lt=1)
    neuropil_radius_um: float = Field(20.0, gt=0)
    bleach_tau_s: Optional[float] = Field(600.0, gt=0)
    dt_ms: float = Field(0.05, gt=0)
    sample_dt_ms: Optional[float] = Field(None, gt=0)
    transmission: Literal["event", "kinetic"] = "event"
    calcium_source: Literal["auto", "spikes", "voltage", "engine"] = "auto"
    baseline_percentile: Optional[float] = Field(None, gt=0, lt=100)
    baseline_window_s: float = Field(10.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        ind = data.get("indicator", INDICATORS["gcamp6f"])
        if isinstance(ind, str):
            ind = indicator_preset(ind)
            data["indicator"] = ind
        kind = ind.get("kind", "calcium") if isinstance(ind, dict) else getattr(ind, "kind", "calcium")
        col = 1 if kind == "voltage" else 0
        for key, vals in _KIND_DEFAULTS.items():
            if data.get(key) is None:
                data[key] = vals[col]
        return data

    @model_validator(mode="after")
    def _grids(self) -> "ImagingConfig":
        every = self.sample_dt_ms / self.dt_ms
        if abs(every - round(every)) > 1e-6 or round(every) < 1:
            raise ValueError(f"sample_dt_ms ({self.sample_dt_ms}) must be a whole number of dt_ms ({self.dt_ms})")
        if self.exposure_ms < self.sample_dt_ms - 1e-9:
            raise ValueError(f"exposure ({self.exposure_ms:g} ms) must span at least one sample ({self.sample_dt_ms} ms)")
        return self

    @property
    def frame_period_ms(self) -> float:
        return 1000.0 / self.frame_rate_hz

    @property
    def exposure_ms(self) -> float:
        return self.exposure_fraction * self.frame_period_ms

    @property
    def bleach_rate_per_ms(self) -> float:
        return 0.0 if self.bleach_tau_s is None else 1.0 / (1000.0 * self.bleach_tau_s)

    def n_frames(self, duration_ms: float) -> int:
        """Whole frames whose exposure ends within ``duration_ms`` (0 if none does)."""
        if duration_ms < self.exposure_ms - 1e-9:
            return 0
        return int(np.floor((duration_ms - self.exposure_ms) / self.frame_period_ms + 1e-9)) + 1


def indicator_preset(name: str) -> CalciumIndicator | VoltageIndicator:
    """A named indicator (``gcamp6f``, ``gcamp6s``, ``voltage``)."""
    if name not in INDICATORS:
        raise NeurophantomError(f"unknown indicator {name!r} (known: {', '.join(INDICATORS)})")
    return INDICATORS[name]


def imaging_config(indicator: str = "gcamp6f", **overrides: Any) -> ImagingConfig:
    """An :class:`ImagingConfig` for a preset indicator; bad values raise a one-line error."""
    from pydantic import ValidationError as _PydErr

    try:
        return ImagingConfig(indicator=indicator_preset(indicator), **overrides)
    except _PydErr as exc:
        raise NeurophantomError(f"bad imaging config: {pydantic_message(exc)}") from None


def pydantic_message(exc: Exception) -> str:
    """The first problem of a pydantic ValidationError, as one line."""
    errs = getattr(exc, "errors", None)
    if callable(errs):
        e = errs()[0]
        loc = ".".join(str(x) for x in e.get("loc", ())) or "value"
        return f"{loc}: {e.get('msg', '')}".replace("Value error, ", "")
    return " ".join(str(exc).split())
