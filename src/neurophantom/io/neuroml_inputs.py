"""Stimulus and initial synaptic state of a NeuroML export, as NeuroML inputs.

- ``Step`` -> one ``pulseGenerator`` (delay = start, duration = stop - start);
- ``Pulses`` -> one ``pulseGenerator`` (current) or ``npConductancePulse`` (conductance)
  per pulse;
- ``Waveform`` -> one pulse per run of equal samples (sample-and-hold, as the engine's
  drive), zero runs omitted;
- ``Noise`` is refused: the engine's Ornstein-Uhlenbeck draws cannot be reproduced by
  another simulator's random stream (as for the Brian2 export);
- an initial event conductance ``g_syn.<receptor>`` -> one ``npDecayingConductance`` per
  receptor, weighted per neuron by its initial value in nS.

Each input is a :class:`InputSpec`: a component (a libNeuroML element for the standard
``pulseGenerator``, LEMS XML text for the custom types) and the neurons it drives, with a
weight each.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..types.stimulus import Noise, Pulses, Step, Stimulus, Waveform

#: The most inputs one export may hold (a waveform of many distinct samples would need one each).
MAX_INPUT_COMPONENTS = 20000


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input component and the neurons (model order) it drives, with weights."""

    id: str
    standard: Any | None  # a libNeuroML element (pulseGenerator), or None
    lems: str | None  # LEMS <Component .../> text for a custom type, or None
    neurons: np.ndarray
    weights: np.ndarray


def _targets(targets, index_of, n: int) -> np.ndarray:
    return np.arange(n) if targets == "all" else index_of(np.asarray(targets))


def _q(x: float, unit: str) -> str:
    return f"{float(x)!r}{unit}"


def _pulse(nml, cid: str, kind: str, delay_ms: float, dur_ms: float, amp: float, E_mV: float, rows, weights) -> InputSpec:
    if kind == "current":
        pg = nml.PulseGenerator(id=cid, delay=_q(delay_ms, "ms"), duration=_q(dur_ms, "ms"), amplitude=_q(amp, "pA"))
        return InputSpec(cid, pg, None, rows, weights)
    lems = (f'<Component id="{cid}" type="npConductancePulse" gbase="{_q(amp, "nS")}" erev="{_q(E_mV, "mV")}" '
            f'delay="{_q(delay_ms, "ms")}" duration="{_q(dur_ms, "ms")}"/>')
    return InputSpec(cid, None, lems, rows, weights)


def _runs(values: np.ndarray) -> list[tuple[int, int, float]]:
    """(first sample, sample count, value) of each run of equal nonzero values."""
    edges = np.flatnonzero(np.diff(values) != 0) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(values)]])
    return [(int(a), int(b - a), float(values[a])) for a, b in zip(starts, stops) if values[a] != 0]


def stimulus_inputs(nml, stimulus: Stimulus | None, index_of, n: int) -> list[InputSpec]:
    """Inputs for every component of ``stimulus`` over its duration (module docstring)."""
    if stimulus is None:
        return []
    out: list[InputSpec] = []
    T = float(stimulus.duration_ms)
    for c_i, c in enumerate(stimulus.components):
        if isinstance(c, Noise):
            raise NeurophantomError("cannot export stimulus noise to NeuroML (the random streams differ); drop the noise component")
        rows = _targets(c.targets, index_of, n)
        ones = np.ones(len(rows))
        if isinstance(c, Step):
            stop = T if c.stop_ms is None else min(c.stop_ms, T)
            if stop > c.start_ms:
                out.append(_pulse(nml, f"stim{c_i}", "current", c.start_ms, stop - c.start_ms, c.amplitude_pA, 0.0, rows, ones))
        elif isinstance(c, Pulses):
            stop = T if c.stop_ms is None else min(c.stop_ms, T)
            k, t0 = 0, c.start_ms
            while t0 < stop:
                out.append(_pulse(nml, f"stim{c_i}_{k}", c.kind, t0, min(c.width_ms, stop - t0), c.amplitude, c.E_mV, rows, ones))
                k += 1
                t0 = c.start_ms + k * c.period_ms
                _check_count(out)
        elif isinstance(c, Waveform):
            cols = c.values.shape[1]
            for j in range(cols):
                r = rows if cols == 1 else rows[j:j + 1]
                for a, cnt, val in _runs(c.values[:, j]):
                    t0 = c.start_ms + a * c.sample_dt_ms
                    if t0 < T:
                        dur = min(cnt * c.sample_dt_ms, T - t0)
                        out.append(_pulse(nml, f"stim{c_i}_{j}_{a}", c.kind, t0, dur, val, c.E_mV, r, np.ones(len(r))))
                _check_count(out)
    return out


def _check_count(out: list) -> None:
    if len(out) > MAX_INPUT_COMPONENTS:
        raise NeurophantomError(f"the stimulus needs more than {MAX_INPUT_COMPONENTS} NeuroML input components; "
                                "export a shorter or smoother stimulus")


def initial_conductance_inputs(init: Mapping[str, Any], receptors: Mapping[str, Any], mg_mM: float, n: int) -> list[InputSpec]:
    """One ``npDecayingConductance`` per receptor with an initial conductance (``g_syn.<r>``, nS)."""
    out = []
    for key, val in init.items():
        if not key.startswith("g_syn."):
            continue
        name = key[6:]
        if name not in receptors:
            raise NeurophantomError(f"initial state {key!r}: no receptor {name!r} in this circuit")
        rec = receptors[name]
        g = np.broadcast_to(np.asarray(val, np.float64), (n,))
        rows = np.flatnonzero(g != 0)
        if not len(rows):
            continue
        mg = mg_mM if rec.mg_block else 0.0
        lems = (f'<Component id="init_{name}" type="npDecayingConductance" gbase="1nS" erev="{_q(rec.E_mV, "mV")}" '
                f'tauDecay="{_q(rec.tau_decay_ms, "ms")}" mg="{_q(mg, "mM")}"/>')
        out.append(InputSpec(f"init_{name}", None, lems, rows, g[rows]))
    return out
