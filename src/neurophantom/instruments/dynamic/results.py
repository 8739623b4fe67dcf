"""What the dynamic instrument returns: the recording a lab has, and the hidden ground truth.

:class:`ImagingRecording` holds only what the instrument measured (fluorescence and dF/F
per ROI, one ROI per neuron) and what the experimenter knows (protocol, stimulated
neurons, nominal configuration, ROI positions). :class:`GroundTruth` holds the simulated
activity behind it (voltage, calcium, spikes) and the noise-free expected photons, for
scoring only. They are separate objects, and separate parts of the NWB file, so that a
method cannot read the truth by accident.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from ..._errors import NeurophantomError, ValidationError
from ...types.recording import Recording
from .config import ImagingConfig
from .protocol import Protocol

#: Traces of an instrument Recording: name -> unit.
MEASURED_TRACES = {"fluorescence": "photons", "dff": "1"}


def _stack(recs: tuple[Recording, ...], name: str) -> np.ndarray:
    if not recs:
        raise NeurophantomError("no trials")
    return np.stack([r.trace(name) for r in recs], axis=0)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ImagingRecording:
    """Measured traces per trial (each a Recording at frame times, traces ``fluorescence``
    in photons per frame and ``dff``) plus what the experimenter knows."""

    trials: tuple[Recording, ...]
    config: ImagingConfig
    protocol: Protocol
    stimulated_ids: tuple[tuple[int, ...], ...]
    roi_positions_um: np.ndarray
    seed: int
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        trials = tuple(self.trials)
        if not trials:
            raise ValidationError("an imaging recording needs at least one trial")
        for r in trials:
            if set(r.traces) != set(MEASURED_TRACES):
                raise ValidationError(f"imaging trial traces must be {sorted(MEASURED_TRACES)}, got {sorted(r.traces)}")
            if not (np.array_equal(r.neuron_ids, trials[0].neuron_ids) and np.array_equal(r.time_ms, trials[0].time_ms)):
                raise ValidationError("imaging trials must share neurons and frame times")
        pos = np.asarray(self.roi_positions_um, dtype=np.float64)
        if pos.shape != (trials[0].neuron_ids.size, 3):
            raise ValidationError(f"roi_positions_um must be (neurons, 3), got {pos.shape}")
        if len(self.stimulated_ids) != len(self.protocol.stimulations):
            raise ValidationError("one stimulated-id list per protocol stimulation is required")
        pos.flags.writeable = False
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "roi_positions_um", pos)
        object.__setattr__(self, "stimulated_ids", tuple(tuple(int(i) for i in s) for s in self.stimulated_ids))

    @property
    def neuron_ids(self) -> np.ndarray:
        return self.trials[0].neuron_ids

    @property
    def neuron_names(self) -> tuple[str, ...] | None:
        return self.trials[0].neuron_names

    @property
    def frame_times_ms(self) -> np.ndarray:
        """Start of each frame's exposure, ms from its trial's start."""
        return self.trials[0].time_ms

    def stacked(self, name: str = "fluorescence") -> np.ndarray:
        """Trace ``name`` of every trial, shape (trials, frames, neurons)."""
        return _stack(self.trials, name)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class GroundTruth:
    """The activity behind an :class:`ImagingRecording` (for scoring, never for methods).

    ``activity[k]`` is trial k's engine Recording on the fine grid with spikes and traces
    ``v`` (mV), ``ca`` (uM, the engine's pool, if the model has one) and, for calcium
    indicators, ``calcium`` (uM, free calcium driving the indicator);
    ``expected_photons`` (trials, frames, neurons) is the noise-free instrument output;
    ``photons_rest`` the drawn expression per neuron; ``calcium_source`` per neuron.
    """

    activity: tuple[Recording, ...]
    expected_photons: np.ndarray
    photons_rest: np.ndarray
    calcium_source: tuple[str, ...]

    def __post_init__(self) -> None:
        act = tuple(self.activity)
        exp = np.asarray(self.expected_photons, dtype=np.float64)
        if not act or exp.ndim != 3 or exp.shape[0] != len(act) or exp.shape[2] != act[0].neuron_ids.size:
            raise ValidationError(f"ground truth: expected_photons {exp.shape} does not match {len(act)} trials")
        rest = np.asarray(self.photons_rest, dtype=np.float64)
        if rest.shape != (act[0].neuron_ids.size,):
            raise ValidationError("ground truth: photons_rest must have one value per neuron")
        for a in (exp, rest):
            a.flags.writeable = False
        object.__setattr__(self, "activity", act)
        object.__setattr__(self, "expected_photons", exp)
        object.__setattr__(self, "photons_rest", rest)
        object.__setattr__(self, "calcium_source", tuple(str(s) for s in self.calcium_source))

    def stacked(self, name: str = "v") -> np.ndarray:
        """Truth trace ``name`` of every trial, shape (trials, samples, neurons)."""
        return _stack(self.activity, name)
