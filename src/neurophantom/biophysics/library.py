"""The Biophysics library: which channel and receptor models a world uses, with what values.

A :class:`Biophysics` turns densities into ODE parameters. Presets hold the defaults of a
kind of tissue; any numeric value can be overridden by a dotted name
(``"receptors.ampa.g_unit_pS"``, ``"channels.leak.E_mV"``, ``"release.graded.vhalf_mV"``,
``"cm_pF_per_um2"``), and the overrides round-trip through JSON so that a Circuit's header
can say exactly which biophysics it was made for.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .._errors import NeurophantomError, ValidationError
from .channels import CHANNELS, ChannelType
from .receptors import RECEPTORS, WORM_RECEPTORS, ReceptorType


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseParams:
    """Presynaptic transmitter release ``T = 1/(1 + exp(-(V - vhalf_mV)/slope_mV))`` (mM)."""

    vhalf_mV: float
    slope_mV: float

    def __post_init__(self) -> None:
        if not (self.slope_mV > 0):
            raise ValidationError("release slope_mV must be > 0")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Biophysics:
    """Channel and receptor models plus membrane constants.

    Parameters
    ----------
    channels, receptors
        Model records keyed by the density-column names a Circuit uses.
    cm_pF_per_um2
        Specific membrane capacitance (0.01 pF/um^2 = 1 uF/cm^2).
    gap_unit_pS
        Unitary conductance of one gap-junction channel (innexin/connexin).
    mg_mM
        Extracellular magnesium for the NMDA block (Jahr & Stevens 1990).
    ca_rest_uM, ca_tau_ms, ca_shell_um
        Submembrane calcium pool: resting level, removal time constant and shell depth.
    release
        Transmitter-release sigmoid for ``"spike"`` and ``"graded"`` presynaptic neurons
        (Destexhe et al. 1994: Vhalf 2 mV, slope 5 mV for spikes).
    overrides
        The dotted-name overrides applied to the preset (kept for provenance).
    """

    preset: str
    channels: Mapping[str, ChannelType]
    receptors: Mapping[str, ReceptorType]
    cm_pF_per_um2: float = 0.01
    gap_unit_pS: float = 100.0
    mg_mM: float = 1.0
    ca_rest_uM: float = 0.05
    ca_tau_ms: float = 50.0
    ca_shell_um: float = 0.1
    release: Mapping[str, ReleaseParams] = dataclasses.field(
        default_factory=lambda: {
            "spike": ReleaseParams(vhalf_mV=2.0, slope_mV=5.0),
            "graded": ReleaseParams(vhalf_mV=-35.0, slope_mV=5.0),
        }
    )
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, val in (
            ("cm_pF_per_um2", self.cm_pF_per_um2),
            ("gap_unit_pS", self.gap_unit_pS),
            ("ca_tau_ms", self.ca_tau_ms),
            ("ca_shell_um", self.ca_shell_um),
        ):
            if not (val > 0):
                raise ValidationError(f"biophysics {name} must be > 0, got {val}")
        if self.mg_mM < 0 or self.ca_rest_uM < 0:
            raise ValidationError("biophysics mg_mM and ca_rest_uM must be >= 0")
        if set(self.release) != {"spike", "graded"}:
            raise ValidationError("biophysics release needs exactly 'spike' and 'graded' entries")

    def channel(self, name: str) -> ChannelType:
        try:
            return self.channels[name]
        except KeyError:
            raise NeurophantomError(f"unknown channel type {name!r} (known: {', '.join(self.channels)})") from None

    def receptor(self, name: str) -> ReceptorType:
        try:
            return self.receptors[name]
        except KeyError:
            raise NeurophantomError(f"unknown receptor type {name!r} (known: {', '.join(self.receptors)})") from None

    def override(self, changes: Mapping[str, float]) -> "Biophysics":
        """A copy with dotted-name overrides applied (see module docstring)."""
        out = self
        for key, value in changes.items():
            out = _apply(out, key, float(value))
        return dataclasses.replace(out, overrides={**self.overrides, **{k: float(v) for k, v in changes.items()}})

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the preset name and the overrides (kinetics live in code)."""
        return {"preset": self.preset, "overrides": dict(self.overrides)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Biophysics":
        if not isinstance(d, Mapping) or "preset" not in d:
            raise ValidationError("biophysics description needs a 'preset'")
        return preset(d["preset"]).override(d.get("overrides", {}) or {})


def _apply(b: Biophysics, key: str, value: float) -> Biophysics:
    parts = key.split(".")
    try:
        if parts[0] == "channels" and len(parts) == 3:
            ch = b.channel(parts[1]).with_params(**{parts[2]: value})
            return dataclasses.replace(b, channels={**b.channels, parts[1]: ch})
        if parts[0] == "receptors" and len(parts) == 3:
            rc = b.receptor(parts[1]).with_params(**{parts[2]: value})
            return dataclasses.replace(b, receptors={**b.receptors, parts[1]: rc})
        if parts[0] == "release" and len(parts) == 3 and parts[1] in b.release:
            rel = dataclasses.replace(b.release[parts[1]], **{parts[2]: value})
            return dataclasses.replace(b, release={**b.release, parts[1]: rel})
        if len(parts) == 1 and parts[0] in {f.name for f in dataclasses.fields(b)} - {"preset", "channels", "receptors", "release", "overrides"}:
            return dataclasses.replace(b, **{parts[0]: value})
    except TypeError:
        pass
    raise NeurophantomError(f"unknown biophysics parameter {key!r}")


def preset(name: str = "default") -> Biophysics:
    """A named Biophysics preset.

    ``default``: mammalian cortex-like values (the library's records unchanged).
    ``celegans``: graded C. elegans neurons: leak reversal -50 mV, graded release centred
    at -35 mV with a 5 mV slope, gap-junction channels of 100 pS, after the c302 parameter
    sets (Gleeson et al. 2018), whose values are themselves estimates of low certainty;
    plus the worm's own receptor types (``WORM_RECEPTORS``: ACh-gated chloride ``acc``,
    GABA-gated cation ``exp1``, slow metabotropic ``gpcr_exc`` and ``gpcr_inh``).
    """
    base = Biophysics(preset=name, channels=dict(CHANNELS), receptors=dict(RECEPTORS))
    if name == "default":
        return base
    if name == "celegans":
        b = _apply(base, "channels.leak.E_mV", -50.0)
        return dataclasses.replace(b, preset="celegans", receptors={**b.receptors, **WORM_RECEPTORS})
    raise NeurophantomError(f"unknown biophysics preset {name!r} (known: default, celegans)")
