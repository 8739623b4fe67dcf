"""Recording protocols: spontaneous activity, stimulation of chosen or random neurons, trials.

A :class:`Protocol` is what the experimenter does in every trial: ``duration_ms`` of
imaging under a background noise drive (spontaneous activity) plus any number of
stimulations (:class:`Stimulation`: current or optogenetic-like conductance steps or pulse
trains) of neurons chosen by name or id, or of a random subset drawn once per recording
from its seed. Each of the ``trials`` is a separate simulation with its own noise seed.

Compact spec (CLI ``--protocol``), parts separated by ``;``, each ``KIND:key=value,...``:

- ``spontaneous:duration=2000,sigma=20,tau=5`` (ms, pA, ms; at most once; default
  duration 1000 ms, no background noise)
- ``step:on=AVAL+AVAR,amp=40,start=500,stop=1500[,drive=current|conductance][,E=0]``
- ``pulses:on=random:3,amp=2,width=5,period=50,start=0,stop=800[,drive=conductance]``

``on=`` takes ``+``-separated neuron names or ids, or ``random:K`` (K random neurons).
Amplitudes are pA for current and nS for conductance drives (reversal ``E`` in mV).
"""

from __future__ import annotations

import re
from typing import Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError as _PydErr, model_validator

from ..._errors import NeurophantomError
from ...types.circuit import Circuit
from ...types.stimulus import Noise, Pulses, Step, Stimulus
from .config import pydantic_message

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Stimulation(BaseModel):
    """One stimulation: a step or a pulse train on named neurons or a random subset."""

    model_config = _FROZEN
    kind: Literal["step", "pulses"]
    targets: tuple[Union[int, str], ...] = ()
    random_count: Optional[int] = Field(None, ge=1)
    amplitude: float
    drive: Literal["current", "conductance"] = "current"
    E_mV: float = 0.0
    start_ms: float = Field(0.0, ge=0)
    stop_ms: Optional[float] = None
    width_ms: Optional[float] = Field(None, gt=0)
    period_ms: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "Stimulation":
        if bool(self.targets) == (self.random_count is not None):
            raise ValueError("give either targets or random_count (exactly one)")
        if self.stop_ms is not None and not self.stop_ms > self.start_ms:
            raise ValueError(f"stop_ms ({self.stop_ms}) must exceed start_ms ({self.start_ms})")
        if self.kind == "pulses" and (self.width_ms is None or self.period_ms is None or self.period_ms < self.width_ms):
            raise ValueError("pulses need width_ms and period_ms >= width_ms")
        if self.kind == "step" and (self.width_ms is not None or self.period_ms is not None):
            raise ValueError("a step has no width_ms or period_ms")
        if self.drive == "conductance" and self.amplitude < 0:
            raise ValueError("a conductance amplitude (nS) must be >= 0")
        if not np.isfinite(self.amplitude):
            raise ValueError("amplitude must be finite")
        return self


class Protocol(BaseModel):
    """Every trial: ``duration_ms`` of imaging, background noise, stimulations."""

    model_config = _FROZEN
    duration_ms: float = Field(1000.0, gt=0)
    trials: int = Field(1, ge=1)
    background_sigma_pA: float = Field(0.0, ge=0)
    background_tau_ms: float = Field(5.0, gt=0)
    stimulations: tuple[Stimulation, ...] = ()

    @model_validator(mode="after")
    def _within(self) -> "Protocol":
        for s in self.stimulations:
            if s.start_ms >= self.duration_ms:
                raise ValueError(f"a stimulation starts at {s.start_ms} ms, after the trial ends ({self.duration_ms} ms)")
        return self


def resolve_targets(protocol: Protocol, circuit: Circuit, rng: np.random.Generator) -> tuple[tuple[int, ...], ...]:
    """Neuron ids of each stimulation: names/ids looked up, random subsets drawn from ``rng``."""
    names = dict(zip(circuit.neurons["name"], circuit.neurons["id"]))
    ids = set(int(i) for i in circuit.neuron_ids)
    out = []
    for s in protocol.stimulations:
        if s.random_count is not None:
            if s.random_count > circuit.n_neurons:
                raise NeurophantomError(f"cannot stimulate {s.random_count} random neurons: the circuit has {circuit.n_neurons}")
            pick = rng.choice(circuit.neuron_ids, size=s.random_count, replace=False)
            out.append(tuple(sorted(int(i) for i in pick)))
            continue
        got = []
        for t in s.targets:
            if str(t) in names:
                got.append(int(names[str(t)]))
            elif re.fullmatch(r"-?\d+", str(t)) and int(t) in ids:
                got.append(int(t))
            else:
                raise NeurophantomError(f"unknown neuron {t!r} in protocol (not a neuron name or id of the circuit)")
        if len(set(got)) != len(got):
            raise NeurophantomError(f"a stimulation names the same neuron twice: {list(s.targets)}")
        out.append(tuple(got))
    return tuple(out)


def to_stimulus(protocol: Protocol, targets: tuple[tuple[int, ...], ...]) -> Stimulus:
    """The engine Stimulus of one trial (the noise realisation comes from the trial's key)."""
    comps = []
    if protocol.background_sigma_pA > 0:
        comps.append(Noise(targets="all", sigma_pA=protocol.background_sigma_pA, tau_ms=protocol.background_tau_ms))
    for s, ids in zip(protocol.stimulations, targets):
        if s.kind == "step" and s.drive == "current":
            comps.append(Step(targets=ids, amplitude_pA=s.amplitude, start_ms=s.start_ms, stop_ms=s.stop_ms))
        elif s.kind == "step":  # a conductance step is one pulse spanning the window
            stop = s.stop_ms if s.stop_ms is not None else protocol.duration_ms
            width = stop - s.start_ms
            comps.append(Pulses(targets=ids, amplitude=s.amplitude, width_ms=width, period_ms=width, start_ms=s.start_ms, stop_ms=stop, kind="conductance", E_mV=s.E_mV))
        else:
            comps.append(Pulses(
                targets=ids, amplitude=s.amplitude, width_ms=s.width_ms, period_ms=s.period_ms, start_ms=s.start_ms,
                stop_ms=s.stop_ms, kind=s.drive, E_mV=s.E_mV,
            ))
    return Stimulus(duration_ms=protocol.duration_ms, components=tuple(comps))


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_KEYS = {
    "spontaneous": {"duration": "duration_ms", "sigma": "background_sigma_pA", "tau": "background_tau_ms"},
    "step": {"amp": "amplitude", "start": "start_ms", "stop": "stop_ms", "E": "E_mV"},
    "pulses": {"amp": "amplitude", "start": "start_ms", "stop": "stop_ms", "E": "E_mV", "width": "width_ms", "period": "period_ms"},
}


def _fields(part: str) -> tuple[str, dict[str, str]]:
    m = re.fullmatch(r"(\w+):(.*)", part)
    if not m:
        raise NeurophantomError(f"malformed protocol part {part!r} (expected KIND:key=value,...)")
    kind = m.group(1)
    if kind not in _KEYS:
        raise NeurophantomError(f"unknown protocol part {kind!r} (known: {', '.join(_KEYS)})")
    kv: dict[str, str] = {}
    for item in [x.strip() for x in m.group(2).split(",") if x.strip()]:
        if "=" not in item:
            raise NeurophantomError(f"malformed protocol field {item!r} in {part!r} (expected key=value)")
        k, v = (x.strip() for x in item.split("=", 1))
        if k in kv:
            raise NeurophantomError(f"protocol field {k!r} given twice in {part!r}")
        kv[k] = v
    return kind, kv


def _numbers(kind: str, kv: dict[str, str], part: str) -> dict[str, float]:
    out = {}
    for key, field in _KEYS[kind].items():
        if key in kv:
            val = kv.pop(key)
            if len(val) > 64 or not re.fullmatch(_NUM, val):
                raise NeurophantomError(f"protocol field {key}={val[:40]!r} in {part[:60]!r} is not a number")
            if not np.isfinite(float(val)):
                raise NeurophantomError(f"protocol field {key}={val!r} in {part[:60]!r} is not a finite number")
            out[field] = float(val)
    return out


def _stimulation(kind: str, kv: dict[str, str], part: str) -> dict:
    args: dict = {"kind": kind, **_numbers(kind, kv, part)}
    on = kv.pop("on", None)
    if not on:
        raise NeurophantomError(f"protocol part {part!r} needs on=NAMES, on=IDS or on=random:K")
    m = re.fullmatch(r"random:(\S+)", on)
    if m:
        if not re.fullmatch(r"\d+", m.group(1)):
            raise NeurophantomError(f"on=random:K needs a whole number K, got {m.group(1)!r}")
        args["random_count"] = int(m.group(1))
    else:
        args["targets"] = tuple(int(t) if re.fullmatch(r"-?\d+", t) else t for t in on.split("+") if t)
    if "drive" in kv:
        args["drive"] = kv.pop("drive")
    return args


def parse_protocol(spec: str, *, trials: int = 1) -> Protocol:
    """Parse the compact spec (module docstring) into a validated :class:`Protocol`.

    Ids in ``on=`` are written as integers and names as text; at record time a name is
    looked up first, so a neuron named ``"7"`` is found by name.
    """
    glob: dict = {"trials": trials}
    stims = []
    seen_spont = False
    for part in [p.strip() for p in str(spec).split(";") if p.strip()]:
        kind, kv = _fields(part)
        if kind == "spontaneous":
            if seen_spont:
                raise NeurophantomError("protocol has more than one spontaneous: part")
            seen_spont = True
            glob.update(_numbers(kind, kv, part))
        else:
            stims.append((_stimulation(kind, kv, part), part))
        if kv:
            raise NeurophantomError(f"unknown protocol field(s) {sorted(kv)} in {part!r}")
    built = []
    for args, part in stims:
        try:
            built.append(Stimulation(**args))
        except _PydErr as exc:
            raise NeurophantomError(f"bad protocol part {part!r}: {pydantic_message(exc)}") from None
    try:
        return Protocol(**glob, stimulations=tuple(built))
    except _PydErr as exc:
        raise NeurophantomError(f"bad protocol: {pydantic_message(exc)}") from None
