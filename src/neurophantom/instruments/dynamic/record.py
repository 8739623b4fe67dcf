"""``record``: image a simulated specimen with a calcium or voltage indicator.

Per trial: build the Stimulus from the protocol, simulate the Model with the engine on the
fine grid, turn activity into expected photons per frame with the pure observation model
(:func:`~.forward.fluorescence_from_activity`), then add shot and read noise and compute
dF/F. Randomness is explicit: from ``seed`` a ``SeedSequence(seed, spawn_key=(stream,
trial))`` gives the random stimulation subset, the cells' expression levels, and each
trial's engine noise and camera noise their own streams.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..._errors import NeurophantomError
from ...biophysics import build_model
from ...engine import simulate
from ...types.circuit import Circuit
from ...types.recording import Recording
from .config import CalciumIndicator, ImagingConfig
from .forward import (
    SOURCE_ENGINE,
    SOURCE_NAMES,
    SOURCE_SPIKES,
    SOURCE_VOLTAGE,
    Activity,
    CalciumParams,
    OpticsParams,
    Timing,
    VoltageParams,
    calcium_from_activity,
    fluorescence_from_activity,
    indicator_params,
    neuropil_weights,
)
from .noise import add_noise, delta_f_over_f
from .protocol import Protocol, resolve_targets, to_stimulus
from .results import MEASURED_TRACES, GroundTruth, ImagingRecording

# SeedSequence spawn keys of the random streams (stable: changing them changes artifacts).
_STREAM_TARGETS, _STREAM_EXPRESSION, _STREAM_ENGINE, _STREAM_CAMERA = 0, 1, 2, 3


_calcium_jit = jax.jit(calcium_from_activity, static_argnames=("sample_dt_ms",))


def _rng(seed: int, stream: int, trial: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, trial)))


def activity_from_recording(rec: Recording, *, ca_rest_uM: float = 0.05) -> Activity:
    """Fine-grid :class:`~.forward.Activity` from an engine Recording (``v``, optional
    ``ca``, spikes); the spike list is padded to a power of two to limit recompilation."""
    if "v" not in rec.traces:
        raise NeurophantomError("the recording has no 'v' trace: record voltage to image it")
    h = rec.sample_dt_ms
    v = np.asarray(rec.traces["v"], dtype=np.float64)
    T = v.shape[0]
    ca = np.asarray(rec.traces["ca"], dtype=np.float64) if "ca" in rec.traces else np.full_like(v, ca_rest_uM)
    t = rec.spike_times_ms - rec.time_ms[0]
    b = np.clip(np.floor(t / h + 1e-9).astype(np.int64), 0, T - 1)
    lag = np.clip((b + 1) * h - t, 0.0, h)
    column = {int(i): k for k, i in enumerate(rec.neuron_ids)}
    col = np.array([column[int(i)] for i in rec.spike_neuron_ids], dtype=np.int64)
    size = 1 << max(0, int(np.ceil(np.log2(max(t.size, 1)))))
    pad = size - t.size
    return Activity(
        v_mV=jnp.asarray(v),
        ca_uM=jnp.asarray(ca),
        spike_bin=jnp.asarray(np.concatenate([b, np.full(pad, T)]).astype(np.int32)),
        spike_col=jnp.asarray(np.concatenate([col, np.zeros(pad, np.int64)]).astype(np.int32)),
        spike_lag_ms=jnp.asarray(np.concatenate([lag, np.zeros(pad)])),
    )


def calcium_sources(circuit: Circuit, choice: str) -> np.ndarray:
    """Per-neuron calcium source code (see :data:`~.forward.SOURCE_NAMES`)."""
    nrn = circuit.neurons
    has_cal = nrn["cal"].to_numpy() > 0 if "cal" in circuit.channel_types else np.zeros(len(nrn), bool)
    spiking = nrn["release"].to_numpy() == "spike"
    if choice == "auto":
        return np.where(has_cal, SOURCE_ENGINE, np.where(spiking, SOURCE_SPIKES, SOURCE_VOLTAGE)).astype(np.int32)
    code = SOURCE_NAMES.index(choice)
    if code == SOURCE_ENGINE and not has_cal.all():
        bad = nrn["name"].to_numpy()[~has_cal][0]
        raise NeurophantomError(f"calcium_source='engine' needs calcium channels in every neuron; {bad!r} has none")
    return np.full(len(nrn), code, np.int32)


def optics_params(config: ImagingConfig, positions_um: np.ndarray, expression: np.ndarray | None = None) -> OpticsParams:
    """Optics of ``config`` for ROIs at ``positions_um`` (N, 3); ``expression`` scales each
    cell's brightness (default 1: the nominal setup a lab knows, e.g. to start a fit)."""
    pos = np.asarray(positions_um, dtype=np.float64)
    expr = np.ones(len(pos)) if expression is None else np.asarray(expression, dtype=np.float64)
    return OpticsParams(
        photons_rest=jnp.asarray(config.photons_rest * expr),
        neuropil_fraction=jnp.asarray(config.neuropil_fraction),
        neuropil_weights=jnp.asarray(neuropil_weights(pos, config.neuropil_radius_um)),
        bleach_rate_per_ms=jnp.asarray(config.bleach_rate_per_ms),
    )


def _expression(config: ImagingConfig, n: int, seed: int) -> np.ndarray:
    """Per-cell expression, log-normal with mean 1 and coefficient of variation ``brightness_cv``."""
    sigma = np.sqrt(np.log1p(config.brightness_cv**2))
    return np.exp(sigma * _rng(seed, _STREAM_EXPRESSION).standard_normal(n) - 0.5 * sigma**2)


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What stays fixed across the trials of one recording."""

    config: ImagingConfig
    timing: Timing
    indicator: CalciumParams | VoltageParams
    optics: OpticsParams
    source: jnp.ndarray
    names: tuple[str, ...]


def _image_trial(model, stimulus, setup: _Setup, *, seed: int, trial: int, t0_ms: float, pools=None
                 ) -> tuple[Recording, Recording, np.ndarray]:
    """Simulate one trial and image it: (measured Recording, truth Recording, expected photons).
    With ``pools`` (slow extracellular pools of a world's hidden glia or modulator) the
    trial runs through :func:`~neurophantom.engine.hidden.simulate_hidden`."""
    cfg, timing = setup.config, setup.timing
    calcium = isinstance(setup.indicator, CalciumParams)
    record_vars = ("v", "ca") if model.meta.has_calcium else ("v",)
    key = jax.random.key(int(np.random.SeedSequence(seed, spawn_key=(_STREAM_ENGINE, trial)).generate_state(1)[0]))
    if pools is None:
        sim = simulate(model, stimulus, dt_ms=cfg.dt_ms, sample_dt_ms=cfg.sample_dt_ms, record=record_vars, key=key, neuron_names=setup.names)
    else:
        from ...engine.hidden import simulate_hidden

        run = simulate_hidden(model, stimulus, dt_ms=cfg.dt_ms, pools=pools, record=record_vars, sample_dt_ms=cfg.sample_dt_ms, key=key)
        sim = dataclasses.replace(run.recording, neuron_names=setup.names)
    act = activity_from_recording(sim, ca_rest_uM=float(setup.indicator.ca_rest_uM) if calcium else 0.05)
    expected = np.asarray(fluorescence_from_activity(act, setup.indicator, setup.optics, setup.source, timing=timing, t0_ms=t0_ms))
    photons = add_noise(expected, _rng(seed, _STREAM_CAMERA, trial), read_noise_e=cfg.read_noise_e)
    window = max(1, int(round(cfg.baseline_window_s * cfg.frame_rate_hz)))
    dff = delta_f_over_f(photons, percentile=cfg.baseline_percentile, window_frames=window)
    meta = {"trial": trial, "trial_start_ms": t0_ms}
    measured = Recording(
        time_ms=timing.frame_times_ms(), neuron_ids=sim.neuron_ids, traces={"fluorescence": photons, "dff": dff},
        units=dict(MEASURED_TRACES), dt_ms=timing.frame_period_ms, neuron_names=setup.names, metadata=meta,
    )
    traces, units = dict(sim.traces), dict(sim.units)
    if calcium:
        c, _ = _calcium_jit(act, setup.indicator, setup.source, sample_dt_ms=cfg.sample_dt_ms)
        traces["calcium"], units["calcium"] = np.asarray(c)[:-1], "uM"
    truth = Recording(
        time_ms=sim.time_ms, neuron_ids=sim.neuron_ids, traces=traces, units=units, dt_ms=sim.dt_ms,
        spike_neuron_ids=sim.spike_neuron_ids, spike_times_ms=sim.spike_times_ms, spike_step_times_ms=sim.spike_step_times_ms,
        neuron_names=setup.names, metadata={**dict(sim.metadata), **meta},
    )
    return measured, truth, expected


def record(
    circuit: Circuit,
    protocol: Protocol,
    config: ImagingConfig | None = None,
    *,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    pools=None,
) -> tuple[ImagingRecording, GroundTruth]:
    """Image ``circuit`` under ``protocol`` with ``config``; one ROI per neuron.

    Parameters
    ----------
    circuit
        The specimen (its header names the Biophysics used to build the Model).
    protocol
        Duration, background drive, stimulations and number of trials.
    config
        The imaging setup (default: GCaMP6f at 30 Hz).
    seed
        Root of every random stream; same inputs and seed give the same arrays.
    progress
        Called as ``progress(trials_done, trials)`` after each trial.
    pools : neurophantom.engine.hidden.Pools, optional
        Slow extracellular pools the specimen has and no scan shows (a world's glia or
        modulator, :mod:`neurophantom.sources.hidden`); each trial starts with them empty.

    Returns
    -------
    (ImagingRecording, GroundTruth)
        What the instrument recorded, and the activity behind it (for scoring only).
    """
    config = config if config is not None else ImagingConfig()
    if not isinstance(circuit, Circuit) or not isinstance(protocol, Protocol) or not isinstance(config, ImagingConfig):
        raise NeurophantomError("record(circuit, protocol, config) needs a Circuit, a Protocol and an ImagingConfig")
    seed = int(seed)
    if seed < 0:
        raise NeurophantomError(f"seed must be >= 0, got {seed}")
    timing = Timing.of(config, protocol.duration_ms)
    if timing.n_frames < 1:
        raise NeurophantomError(f"duration {protocol.duration_ms} ms is shorter than one exposure ({config.exposure_ms:g} ms)")
    calcium = isinstance(config.indicator, CalciumIndicator)
    model = build_model(circuit, transmission=config.transmission)
    source = calcium_sources(circuit, config.calcium_source) if calcium else np.full(circuit.n_neurons, -1, np.int32)
    targets = resolve_targets(protocol, circuit, _rng(seed, _STREAM_TARGETS))
    stimulus = to_stimulus(protocol, targets)
    positions = circuit.neurons[["x_um", "y_um", "z_um"]].to_numpy()
    optics_p = optics_params(config, positions, _expression(config, circuit.n_neurons, seed))
    setup = _Setup(config=config, timing=timing, indicator=indicator_params(config.indicator), optics=optics_p,
                   source=jnp.asarray(source), names=tuple(str(x) for x in circuit.neurons["name"]))
    results = []
    for k in range(protocol.trials):
        results.append(_image_trial(model, stimulus, setup, seed=seed, trial=k, t0_ms=k * protocol.duration_ms, pools=pools))
        if progress is not None:
            progress(k + 1, protocol.trials)
    measured, truth, expected_all = zip(*results)
    rec = ImagingRecording(
        trials=tuple(measured), config=config, protocol=protocol, stimulated_ids=targets,
        roi_positions_um=positions, seed=seed,
        metadata={"circuit_source": circuit.provenance.source, "n_frames": timing.n_frames},
    )
    gt = GroundTruth(
        activity=tuple(truth), expected_photons=np.stack(expected_all), photons_rest=np.asarray(optics_p.photons_rest),
        calcium_source=tuple(SOURCE_NAMES[s] if s >= 0 else "none" for s in source),
    )
    return rec, gt
