"""record(): engine + instrument end to end, determinism, protocols and their errors.

Oracles: the truth calcium of spiking neurons equals the closed-form sum of one-spike
kernels over the spikes the engine produced; measured photons scatter around the
noise-free expectation with Poisson + read-noise variance; a seed fixes every artifact.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.instruments.dynamic import (
    CalciumIndicator,
    ImagingConfig,
    Protocol,
    Timing,
    activity_from_recording,
    fluorescence_from_activity,
    indicator_params,
    optics_params,
    Stimulation,
    imaging_config,
    parse_protocol,
    record,
    resolve_targets,
    to_stimulus,
)
from neurophantom.instruments.dynamic.forward import SOURCE_NAMES
from neurophantom.types.stimulus import Noise, Pulses, Step


def test_truth_calcium_is_the_sum_of_spike_kernels(calcium_run):
    circuit, prot, cfg, rec, truth = calcium_run
    ind = cfg.indicator
    assert truth.calcium_source == ("spikes", "spikes", "voltage")
    for act in truth.activity:
        t = act.time_ms
        for col in (0, 1):
            spikes = act.spike_trains()[int(act.neuron_ids[col])]
            assert spikes.size >= 1
            s = t[:, None] - spikes[None, :]
            ref = ind.ca_rest_uM + ind.spike_increment_uM * np.where(s > 0, np.exp(-np.clip(s, 0, None) / ind.tau_decay_ms), 0).sum(1)
            np.testing.assert_allclose(act.traces["calcium"][:, col], ref, rtol=0, atol=1e-12)
        # The graded cell, depolarised by ~40 mV by its 400 pA step (200-300 ms), gains
        # calcium: towards c_rest + J tau_d sigma(1) = 0.18 uM with tau_d = 180 ms.
        c2 = act.traces["calcium"][:, 2]
        assert c2[(t > 250) & (t < 300)].min() > 1.25 * c2[t < 150].max()


def test_measured_photons_scatter_as_shot_and_read_noise(calcium_run):
    _, prot, cfg, rec, truth = calcium_run
    lam = truth.expected_photons
    z = (rec.stacked("fluorescence") - lam) / np.sqrt(lam + cfg.read_noise_e**2)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert rec.stacked().shape == (2, cfg.n_frames(prot.duration_ms), 3) == (2, 12, 3)


def test_bleaching_accumulates_across_trials(calcium_run):
    """Trial k is imaged after trials 0..k-1, so its photons carry the bleaching factor
    exp(-k D / tau_b): recomputing trial 1 from its true activity at t0 = D reproduces the
    recorded expectation, and at t0 = 0 gives it divided by exactly exp(-D / tau_b)."""
    circuit, prot, cfg, rec, truth = calcium_run
    act = activity_from_recording(truth.activity[1])
    optics = optics_params(cfg, rec.roi_positions_um, truth.photons_rest / cfg.photons_rest)
    source = jnp.asarray([SOURCE_NAMES.index(s) for s in truth.calcium_source])
    timing = Timing.of(cfg, prot.duration_ms)
    ind = indicator_params(cfg.indicator)
    at_d = np.asarray(fluorescence_from_activity(act, ind, optics, source, timing=timing, t0_ms=prot.duration_ms))
    at_0 = np.asarray(fluorescence_from_activity(act, ind, optics, source, timing=timing, t0_ms=0.0))
    np.testing.assert_allclose(at_d, truth.expected_photons[1], rtol=1e-12)
    np.testing.assert_allclose(at_d / at_0, np.exp(-prot.duration_ms / (1000 * cfg.bleach_tau_s)), rtol=1e-12)


def test_same_seed_same_recording_other_seed_differs(circuit, calcium_run):
    _, prot, cfg, rec, truth = calcium_run
    rec2, truth2 = record(circuit, prot, cfg, seed=7)
    np.testing.assert_array_equal(rec2.stacked(), rec.stacked())
    np.testing.assert_array_equal(rec2.stacked("dff"), rec.stacked("dff"))
    np.testing.assert_array_equal(truth2.stacked("v"), truth.stacked("v"))
    assert rec2.stimulated_ids == rec.stimulated_ids
    rec3, truth3 = record(circuit, prot, cfg, seed=8)
    assert not np.array_equal(rec3.stacked(), rec.stacked())
    assert not np.array_equal(truth3.stacked("v"), truth.stacked("v"))
    # Trials are separate simulations with their own noise.
    assert not np.array_equal(truth.activity[0].traces["v"], truth.activity[1].traces["v"])


def test_stimulated_neurons_and_random_subset(calcium_run, circuit):
    _, prot, _, rec, truth = calcium_run
    assert rec.stimulated_ids[:2] == ((0,), (2,))
    (rand,) = rec.stimulated_ids[2:]
    assert len(rand) == 1 and rand[0] in (0, 1, 2)
    # The subset is drawn from the seed: the same seed draws it again.
    prot5 = parse_protocol("pulses:on=random:2,amp=1,width=2,period=50")
    picks = {resolve_targets(prot5, circuit, np.random.default_rng(np.random.SeedSequence(s, spawn_key=(0, 0))))[0] for s in range(12)}
    assert all(len(p) == 2 and len(set(p)) == 2 for p in picks) and len(picks) > 1
    # n0 is driven by its 10 ms step: it spikes during the step in every trial.
    for act in truth.activity:
        t0 = act.spike_trains()[0]
        assert np.any((t0 >= 100) & (t0 < 115))


def test_voltage_imaging_dims_at_spikes(voltage_run):
    """ASAP-like indicator: frames holding a spike of n0 are dimmer than quiet frames."""
    _, prot, cfg, rec, truth = voltage_run
    assert cfg.frame_rate_hz == 1000 and rec.stacked().shape == (1, 200, 3)
    spikes = truth.activity[0].spike_trains()[0]
    assert spikes.size >= 3
    spike_frames = np.unique(np.floor(spikes).astype(int))
    lam = truth.expected_photons[0, :, 0]
    quiet = np.setdiff1d(np.arange(25, 180), np.concatenate([spike_frames + k for k in range(-1, 4)]))
    assert lam[spike_frames].mean() < lam[quiet].mean() * 0.95
    assert "calcium" not in truth.activity[0].traces


def test_protocol_to_stimulus():
    prot = parse_protocol(
        "spontaneous:duration=300,sigma=7,tau=3;step:on=a+b,amp=-20,start=10,stop=50;"
        "pulses:on=3,amp=2,width=5,period=20,start=100,drive=conductance,E=-70"
    )
    assert prot.duration_ms == 300 and prot.background_sigma_pA == 7 and prot.background_tau_ms == 3
    stim = to_stimulus(prot, ((1, 2), (3,)))
    noise, step, pulses = stim.components
    assert isinstance(noise, Noise) and noise.targets == "all" and noise.sigma_pA == 7
    assert isinstance(step, Step) and step.targets == (1, 2) and step.amplitude_pA == -20 and step.stop_ms == 50
    assert isinstance(pulses, Pulses) and pulses.kind == "conductance" and pulses.E_mV == -70 and pulses.period_ms == 20
    # A conductance step is one pulse spanning its window.
    s = to_stimulus(Protocol(duration_ms=80, stimulations=(Stimulation(kind="step", targets=(0,), amplitude=3, drive="conductance", start_ms=20),)), ((0,),))
    (p,) = s.components
    assert (p.start_ms, p.stop_ms, p.width_ms, p.amplitude, p.kind) == (20, 80, 60, 3, "conductance")


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("zap", "malformed protocol part"),
        ("zap:on=n0", "unknown protocol part 'zap'"),
        ("step:on=n0,amp=abc", "is not a number"),
        ("step:on=n0,amp", "expected key=value"),
        ("step:amp=3", "needs on="),
        ("step:on=n0,amp=3,volume=2", "unknown protocol field(s) ['volume']"),
        ("spontaneous:duration=-5", "duration_ms: Input should be greater than 0"),
        ("spontaneous:duration=100;spontaneous:duration=200", "more than one spontaneous"),
        ("spontaneous:duration=100;step:on=n0,amp=3,start=150", "after the trial ends"),
        ("pulses:on=n0,amp=3,width=5", "pulses need width_ms and period_ms"),
        ("step:on=n0,amp=3,start=50,stop=20", "must exceed start_ms"),
        ("step:on=random:x,amp=3", "whole number K"),
        ("step:on=n0,amp=-3,drive=conductance", "conductance amplitude"),
        ("step:on=n0,amp=3,drive=laser", "drive"),
    ],
)
def test_malformed_protocols_raise_one_line(spec, needle):
    with pytest.raises(NeurophantomError) as exc:
        parse_protocol(spec)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_protocol_errors_that_need_the_circuit(circuit):
    rng = np.random.default_rng(0)
    with pytest.raises(NeurophantomError, match="unknown neuron 'NOPE'"):
        resolve_targets(parse_protocol("step:on=n0+NOPE,amp=3"), circuit, rng)
    with pytest.raises(NeurophantomError, match="unknown neuron 99"):
        resolve_targets(parse_protocol("step:on=99,amp=3"), circuit, rng)
    with pytest.raises(NeurophantomError, match="cannot stimulate 4 random neurons"):
        resolve_targets(parse_protocol("step:on=random:4,amp=3"), circuit, rng)
    with pytest.raises(NeurophantomError, match="same neuron twice"):
        resolve_targets(parse_protocol("step:on=n1+1,amp=3"), circuit, rng)
    assert resolve_targets(parse_protocol("step:on=n1+2,amp=3"), circuit, rng) == ((1, 2),)


def test_config_validation():
    with pytest.raises(NeurophantomError, match="unknown indicator 'gcamp9'"):
        imaging_config("gcamp9")
    with pytest.raises(NeurophantomError, match="sample_dt_ms"):
        imaging_config("gcamp6f", sample_dt_ms=0.07)
    with pytest.raises(NeurophantomError, match="neuropil_fraction"):
        imaging_config("gcamp6f", neuropil_fraction=1.5)
    with pytest.raises(ValueError, match="tau_rise_ms"):  # pydantic's error for direct construction
        CalciumIndicator(tau_rise_ms=500.0, tau_decay_ms=100.0)
    v = ImagingConfig(indicator="voltage")
    assert (v.frame_rate_hz, v.sample_dt_ms, v.baseline_percentile) == (1000.0, 0.1, 50.0)
    assert ImagingConfig.model_validate_json(v.model_dump_json()) == v  # round-trips through JSON
    assert imaging_config("gcamp6s").indicator.kd_uM == 0.144


def test_engine_calcium_drives_the_indicator_of_cells_with_calcium_channels():
    """A graded cell with L-type channels images the engine's own calcium pool; a cell
    without them falls back to voltage-gated influx; 'engine' for all is refused."""
    from neurophantom.sources._tables import make_circuit
    from neurophantom.types import Provenance

    c = make_circuit(
        neurons={"id": [0, 1], "name": ["cal", "plain"], "cell_type": ["x", "x"], "x_um": [0.0, 0.0], "y_um": [0.0, 0.0],
                 "z_um": [0.0, 0.0], "area_um2": [2000.0, 2000.0], "release": ["graded", "graded"], "leak": [0.5, 0.5], "cal": [0.02, 0.0]},
        synapses=None, gap_junctions=None, channel_types=("leak", "cal"), receptor_types=(), provenance=Provenance(source="test"),
    )
    prot = parse_protocol("step:on=cal+plain,amp=40,start=50,stop=150;spontaneous:duration=200")
    rec, truth = record(c, prot, imaging_config("gcamp6f"), seed=0)
    act = truth.activity[0]
    assert truth.calcium_source == ("engine", "voltage")
    np.testing.assert_allclose(act.traces["calcium"][:, 0], act.traces["ca"][:, 0], rtol=1e-14)
    ca = act.traces["ca"][:, 0]
    assert ca[(act.time_ms > 100) & (act.time_ms < 150)].min() > 2 * ca[act.time_ms < 50].max()
    assert truth.expected_photons[0, 4, 0] > 1.05 * truth.expected_photons[0, 0, 0]  # frame 4 = 133-167 ms
    with pytest.raises(NeurophantomError, match="'plain' has none"):
        record(c, prot, imaging_config("gcamp6f", calcium_source="engine"), seed=0)
