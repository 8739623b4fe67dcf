"""Stimuli: what is done to chosen neurons over time.

A :class:`Stimulus` is a duration plus a tuple of components. Each component targets a set
of neuron ids (or every neuron) and is one of

- :class:`Step`: a current step (pA) on ``[start_ms, stop_ms)``;
- :class:`Pulses`: a train of rectangular pulses, as current (pA) or as a conductance (nS)
  with a reversal potential; ``kind="conductance", E_mV=0`` is an optogenetic
  channelrhodopsin-like drive;
- :class:`Noise`: Ornstein-Uhlenbeck current noise (standard deviation ``sigma_pA``,
  correlation time ``tau_ms``), independent per neuron, drawn from the simulation key;
- :class:`Waveform`: an arbitrary sampled current or conductance, one column per target
  (or one column shared by all targets).

Stimuli are immutable and validated; :func:`parse_stimulus` reads the CLI's compact spec.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal, Union

import numpy as np

from .._errors import NeurophantomError, ValidationError

Targets = Union[tuple[int, ...], Literal["all"]]


def _targets(t) -> Targets:
    if isinstance(t, str):
        if t != "all":
            raise ValidationError(f"stimulus targets must be neuron ids or 'all', got {t!r}")
        return "all"
    try:
        out = tuple(int(x) for x in np.asarray(t).ravel())
    except (TypeError, ValueError):
        raise ValidationError(f"stimulus targets must be integer neuron ids, got {t!r}") from None
    if not out:
        raise ValidationError("stimulus component has no targets")
    if len(set(out)) != len(out):
        raise ValidationError("stimulus targets contain duplicates")
    return out


def _window(start_ms: float, stop_ms: float | None) -> None:
    if not np.isfinite(start_ms) or start_ms < 0:
        raise ValidationError(f"stimulus start_ms must be >= 0, got {start_ms}")
    if stop_ms is not None and not (stop_ms > start_ms):
        raise ValidationError(f"stimulus stop_ms ({stop_ms}) must exceed start_ms ({start_ms})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Step:
    targets: Targets
    amplitude_pA: float
    start_ms: float = 0.0
    stop_ms: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _targets(self.targets))
        _window(self.start_ms, self.stop_ms)
        if not np.isfinite(self.amplitude_pA):
            raise ValidationError("step amplitude_pA must be finite")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pulses:
    targets: Targets
    amplitude: float
    width_ms: float
    period_ms: float
    start_ms: float = 0.0
    stop_ms: float | None = None
    kind: Literal["current", "conductance"] = "conductance"
    E_mV: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _targets(self.targets))
        _window(self.start_ms, self.stop_ms)
        if not (self.width_ms > 0 and self.period_ms >= self.width_ms):
            raise ValidationError("pulses need width_ms > 0 and period_ms >= width_ms")
        if self.kind not in ("current", "conductance"):
            raise ValidationError(f"pulse kind must be 'current' or 'conductance', got {self.kind!r}")
        if self.kind == "conductance" and self.amplitude < 0:
            raise ValidationError("a conductance pulse amplitude (nS) must be >= 0")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Noise:
    targets: Targets
    sigma_pA: float
    tau_ms: float = 5.0
    start_ms: float = 0.0
    stop_ms: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _targets(self.targets))
        _window(self.start_ms, self.stop_ms)
        if not (self.sigma_pA >= 0 and self.tau_ms > 0):
            raise ValidationError("noise needs sigma_pA >= 0 and tau_ms > 0")


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Waveform:
    targets: Targets
    values: np.ndarray
    sample_dt_ms: float
    start_ms: float = 0.0
    kind: Literal["current", "conductance"] = "current"
    E_mV: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _targets(self.targets))
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[0] == 0:
            raise ValidationError(f"waveform values must have shape (T,) or (T, n_targets), got {np.shape(self.values)}")
        if self.targets != "all" and v.shape[1] not in (1, len(self.targets)):
            raise ValidationError(f"waveform has {v.shape[1]} columns for {len(self.targets)} targets")
        if self.targets == "all" and v.shape[1] != 1:
            raise ValidationError("a waveform on 'all' neurons must have one column")
        if not np.all(np.isfinite(v)):
            raise ValidationError("waveform values must be finite")
        if not (self.sample_dt_ms > 0):
            raise ValidationError("waveform sample_dt_ms must be > 0")
        if self.kind not in ("current", "conductance"):
            raise ValidationError(f"waveform kind must be 'current' or 'conductance', got {self.kind!r}")
        _window(self.start_ms, None)
        v.flags.writeable = False
        object.__setattr__(self, "values", v)


Component = Union[Step, Pulses, Noise, Waveform]


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Stimulus:
    """A protocol: ``duration_ms`` of simulated time and the components applied in it."""

    duration_ms: float
    components: tuple[Component, ...] = ()

    def __post_init__(self) -> None:
        if not (np.isfinite(self.duration_ms) and self.duration_ms > 0):
            raise ValidationError(f"stimulus duration_ms must be > 0, got {self.duration_ms}")
        comps = tuple(self.components)
        for c in comps:
            if not isinstance(c, (Step, Pulses, Noise, Waveform)):
                raise ValidationError(f"unknown stimulus component {type(c).__name__}")
        object.__setattr__(self, "components", comps)

    def with_duration(self, duration_ms: float) -> "Stimulus":
        return Stimulus(duration_ms=duration_ms, components=self.components)

    def target_ids(self) -> set[int]:
        out: set[int] = set()
        for c in self.components:
            if c.targets != "all":
                out.update(c.targets)
        return out


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_stimulus(spec: str, duration_ms: float, resolve) -> Stimulus:
    """Parse a compact CLI stimulus spec.

    Components are separated by ``;``; each is ``KIND:key=value,key=value``. Targets are
    given by ``on=NAME+NAME`` (neuron names, ``+``-separated; resolved by ``resolve``) or
    ``on=all``. Kinds and their keys (times in ms, currents in pA, conductances in nS):

    - ``step:on=AVAL,amp=50,start=100,stop=400``
    - ``pulses:on=ASHL,amp=2,width=5,period=50,start=0,stop=500[,kind=current][,E=0]``
    - ``noise:on=all,sigma=20,tau=5``

    Example: ``"step:on=ASHL+ASHR,amp=20,start=100,stop=600;noise:on=all,sigma=5"``.
    """
    comps: list[Component] = []
    if len(spec) > 100_000:
        raise NeurophantomError(f"stimulus spec of {len(spec)} characters (at most 100000)")
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    if spec.strip() and not parts:
        raise NeurophantomError(f"stimulus spec {spec[:40]!r} has no components (expected KIND:key=value,...)")
    for part in parts:
        m = re.fullmatch(r"(\w+):(.*)", part)
        if not m:
            raise NeurophantomError(f"malformed stimulus component {part!r} (expected KIND:key=value,...)")
        kind, body = m.group(1), m.group(2)
        kv: dict[str, str] = {}
        for item in [x for x in body.split(",") if x]:
            if "=" not in item:
                raise NeurophantomError(f"malformed stimulus field {item!r} in {part!r} (expected key=value)")
            k, v = item.split("=", 1)
            if k.strip() in kv:
                raise NeurophantomError(f"stimulus field {k.strip()!r} given twice in {part[:60]!r}")
            kv[k.strip()] = v.strip()
        if "on" not in kv:
            raise NeurophantomError(f"stimulus component {part!r} needs on=NAMES or on=all")
        on = kv.pop("on")
        targets = "all" if on == "all" else tuple(int(i) for i in resolve([n for n in on.split("+") if n]))

        def num(key: str, default: float | None = None) -> float:
            if key not in kv:
                if default is None:
                    raise NeurophantomError(f"stimulus component {part!r} needs {key}=")
                return default
            val = kv.pop(key)
            if len(val) > 64 or not re.fullmatch(_NUM, val):
                raise NeurophantomError(f"stimulus field {key}={val[:40]!r} is not a number")
            x = float(val)
            if not np.isfinite(x):
                raise NeurophantomError(f"stimulus field {key}={val!r} is not a finite number")
            return x

        def opt(key: str) -> float | None:
            return num(key) if key in kv else None

        try:
            if kind == "step":
                c: Component = Step(targets=targets, amplitude_pA=num("amp"), start_ms=num("start", 0.0), stop_ms=opt("stop"))
            elif kind == "pulses":
                pk = kv.pop("kind", "conductance")
                c = Pulses(
                    targets=targets, amplitude=num("amp"), width_ms=num("width"), period_ms=num("period"),
                    start_ms=num("start", 0.0), stop_ms=opt("stop"), kind=pk, E_mV=num("E", 0.0),
                )
            elif kind == "noise":
                c = Noise(targets=targets, sigma_pA=num("sigma"), tau_ms=num("tau", 5.0), start_ms=num("start", 0.0), stop_ms=opt("stop"))
            else:
                raise NeurophantomError(f"unknown stimulus kind {kind!r} (known: step, pulses, noise)")
        except ValidationError as exc:
            raise NeurophantomError(f"bad stimulus component {part!r}: {exc}") from None
        if kv:
            raise NeurophantomError(f"unknown stimulus field(s) {sorted(kv)} in {part!r}")
        comps.append(c)
    return Stimulus(duration_ms=duration_ms, components=tuple(comps))
