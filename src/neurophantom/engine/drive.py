"""Compile a Stimulus into per-step arrays the engine scans over.

Each deterministic component becomes a column of a low-rank drive: a waveform over steps
(``T x K``) times a target map (``K x N``), so the per-step input costs ``O(K N)`` and the
stored drive ``O(T K)``, never ``O(T N)``. Noise components become per-neuron OU
amplitudes with a window gate per step; the noise itself is drawn inside the scan from the
simulation key.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.stimulus import Noise, Pulses, Step, Stimulus, Waveform


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Drive:
    """Stimulus as arrays: current and conductance waveforms, target maps, noise."""

    i_wave: jnp.ndarray  # (T, Ki) pA
    i_map: jnp.ndarray  # (Ki, N)
    g_wave: jnp.ndarray  # (T, Kg) nS
    g_map: jnp.ndarray  # (Kg, N)
    g_E_mV: jnp.ndarray  # (Kg,)
    n_gate: jnp.ndarray  # (T, Kn) 0/1 window
    n_sigma_pA: jnp.ndarray  # (Kn, N)
    n_tau_ms: jnp.ndarray  # (Kn,)
    #: Teacher forcing (optional): (T, N) transmitter level per presynaptic neuron and step,
    #: NaN where the neuron's own voltage sets it (see :func:`with_transmitter`).
    t_wave: jnp.ndarray | None = None

    def tree_flatten(self):
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self)), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    @property
    def n_steps(self) -> int:
        return int(self.i_wave.shape[0])

    def slice_steps(self, start: int, stop: int) -> "Drive":
        return dataclasses.replace(
            self, i_wave=self.i_wave[start:stop], g_wave=self.g_wave[start:stop], n_gate=self.n_gate[start:stop],
            t_wave=None if self.t_wave is None else self.t_wave[start:stop],
        )


def with_transmitter(drive: Drive, t_wave) -> Drive:
    """``drive`` with the transmitter of some presynaptic neurons imposed (teacher forcing).

    ``t_wave`` is (steps, N): the released-transmitter level (0..1, the kinetic synapse's
    ``T``) of each presynaptic neuron at each step, NaN where the neuron's own simulated
    voltage sets it. Synapses then see the imposed activity instead of the model's, so
    each neuron's response can be compared with a recording without errors of the rest of
    the network propagating into it (teacher forcing; Williams & Zipser 1989; used for
    fitting recurrent circuit models to recorded activity, e.g. Abbott, DePasquale &
    Memmesheimer 2016). Applies to kinetic transmission.

    References
    ----------
    Williams RJ, Zipser D (1989) A learning algorithm for continually running fully
    recurrent neural networks. Neural Comput 1:270-280.
    Abbott LF, DePasquale B, Memmesheimer RM (2016) Building functional networks of
    spiking model neurons. Nat Neurosci 19:350-355.
    """
    t = jnp.asarray(t_wave)
    if t.ndim != 2 or t.shape[0] != drive.n_steps:
        raise NeurophantomError(f"transmitter wave must be (steps={drive.n_steps}, neurons), got {tuple(t.shape)}")
    return dataclasses.replace(drive, t_wave=t)


def _target_row(model: Model, targets) -> np.ndarray:
    row = np.zeros(model.n_neurons)
    if targets == "all":
        row[:] = 1.0
    else:
        row[model.index_of(np.asarray(targets))] = 1.0
    return row


def _window_mask(t_ms: np.ndarray, start: float, stop: float | None) -> np.ndarray:
    m = t_ms >= start - 1e-9
    if stop is not None:
        m &= t_ms < stop - 1e-9
    return m


def compile_drive(stimulus: Stimulus, model: Model, *, dt_ms: float, n_steps: int) -> Drive:
    """Arrays for ``n_steps`` steps of ``dt_ms``; the value of step k applies on [k dt, (k+1) dt)."""
    if not (dt_ms > 0):
        raise NeurophantomError(f"dt_ms must be > 0, got {dt_ms}")
    n = model.n_neurons
    fdt = np.float64 if model.meta.dtype == "float64" else np.float32
    t = np.arange(n_steps) * dt_ms
    iw, im, gw, gm, ge, ng, ns, nt = [], [], [], [], [], [], [], []
    for c in stimulus.components:
        if isinstance(c, Step):
            iw.append(_window_mask(t, c.start_ms, c.stop_ms) * c.amplitude_pA)
            im.append(_target_row(model, c.targets))
        elif isinstance(c, Pulses):
            on = _window_mask(t, c.start_ms, c.stop_ms) & (((t - c.start_ms) % c.period_ms) < c.width_ms - 1e-9)
            wave = on * c.amplitude
            if c.kind == "current":
                iw.append(wave); im.append(_target_row(model, c.targets))
            else:
                gw.append(wave); gm.append(_target_row(model, c.targets)); ge.append(c.E_mV)
        elif isinstance(c, Noise):
            ng.append(_window_mask(t, c.start_ms, c.stop_ms).astype(float))
            ns.append(_target_row(model, c.targets) * c.sigma_pA)
            nt.append(c.tau_ms)
        elif isinstance(c, Waveform):
            # Sample-and-hold resampling of the waveform onto the step grid.
            k = np.floor((t - c.start_ms) / c.sample_dt_ms + 1e-9).astype(np.int64)
            valid = (k >= 0) & (k < c.values.shape[0])
            cols = c.values.shape[1]
            rows = [_target_row(model, c.targets)] if cols == 1 else [
                _target_row(model, (tid,)) for tid in c.targets
            ]
            for j in range(cols):
                wave = np.where(valid, c.values[np.clip(k, 0, c.values.shape[0] - 1), j], 0.0)
                if c.kind == "current":
                    iw.append(wave); im.append(rows[j])
                else:
                    gw.append(wave); gm.append(rows[j]); ge.append(c.E_mV)
        else:  # pragma: no cover - Stimulus validates component types
            raise NeurophantomError(f"unknown stimulus component {type(c).__name__}")

    def stack(waves, maps, k_empty=0):
        if not waves:
            return np.zeros((n_steps, 0), fdt), np.zeros((0, n), fdt)
        return np.stack(waves, axis=1).astype(fdt), np.stack(maps, axis=0).astype(fdt)

    i_wave, i_map = stack(iw, im)
    g_wave, g_map = stack(gw, gm)
    n_gate, n_sigma = stack(ng, ns)
    return Drive(
        i_wave=jnp.asarray(i_wave),
        i_map=jnp.asarray(i_map),
        g_wave=jnp.asarray(g_wave),
        g_map=jnp.asarray(g_map),
        g_E_mV=jnp.asarray(np.asarray(ge, dtype=fdt).reshape(-1)),
        n_gate=jnp.asarray(n_gate),
        n_sigma_pA=jnp.asarray(n_sigma),
        n_tau_ms=jnp.asarray(np.asarray(nt, dtype=fdt).reshape(-1)),
    )
