"""Hidden rules of a world the static scan does not see: a slow neuromodulator and glia.

Both are slow extracellular pools (:class:`~neurophantom.engine.hidden.Pools`) released
by spikes and acting through receptors of their own; each is off unless a world asks for
it (strength 0 or no config: the world is today's, bit for bit, because nothing is added
to the engine's run).

- :class:`ModulatorConfig`: one volume-transmitted modulator (e.g. serotonin acting on
  5-HT1A receptors that open GIRK potassium channels; Marder 2012), released by every
  excitatory spike and cleared with ``tau_ms`` (about a second). The pool is the
  population's low-passed firing rate (Hz); a neuron's conductance at 10 Hz is
  ``strength_nS`` times its own receptor level (log-normal, mean 1). It is slow
  negative feedback that the scan's receptor list (no modulator receptor) cannot show.
- :class:`GliaConfig`: ``n_astrocytes`` astrocytes tiling the slab, each with a domain
  of radius ``domain_um`` (Bushong et al. 2002: non-overlapping domains). Spikes in a
  domain raise its astrocyte's calcium-like signal (time constant ``tau_ms``), which
  drives a slow inward current in the domain's neurons (gliotransmitter glutamate on
  extrasynaptic NMDA receptors; Angulo et al. 2004; Fellin et al. 2004), reversal 0 mV.

References
----------
Marder E (2012) Neuromodulation of neuronal circuits: back to the future. Neuron 76:1-11.
Bushong EA, Martone ME, Jones YZ, Ellisman MH (2002) Protoplasmic astrocytes in CA1
stratum radiatum occupy separate anatomical domains. J Neurosci 22:183-192.
Angulo MC, Kozlov AS, Charpak S, Audinat E (2004) Glutamate released from glial cells
synchronizes neuronal activity in the hippocampus. J Neurosci 24:6920-6927.
Fellin T et al. (2004) Neuronal synchrony mediated by the release of glutamate from
astrocytes. Neuron 43:729-743.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..engine.hidden import Pools
from ..types import Circuit

#: Population rate (Hz) at which a modulator receptor of level 1 gives ``strength_nS``.
REFERENCE_RATE_HZ = 10.0


class ModulatorConfig(BaseModel):
    """A slow volume-transmitted modulator (see module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strength_nS: float = Field(0.0, ge=0, description="conductance of a mean-sensitivity neuron at a 10 Hz population rate")
    tau_ms: float = Field(1000.0, gt=0, description="clearance time constant")
    E_mV: float = Field(-90.0, description="reversal of the modulated conductance (GIRK-like potassium)")
    receptor_sigma_log: float = Field(0.5, ge=0, description="log-normal spread of receptor levels across neurons")
    source_types: tuple[str, ...] = Field(("pyramidal",), min_length=1, description="cell types whose spikes release it")


class GliaConfig(BaseModel):
    """Astrocytes tiling the slab, each acting slowly on the neurons of its domain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_astrocytes: int = Field(4, ge=1)
    domain_um: float = Field(60.0, gt=0, description="domain radius")
    strength_nS: float = Field(0.0, ge=0, description="slow inward conductance at a 10 Hz domain rate")
    tau_ms: float = Field(2000.0, gt=0)
    E_mV: float = Field(0.0)


def _positions(circuit: Circuit) -> np.ndarray:
    nrn = circuit.neurons
    return np.stack([nrn["x_um"], nrn["y_um"], nrn["z_um"]], axis=1).astype(np.float64)


def modulator_pools(circuit: Circuit, config: ModulatorConfig, seed: int) -> Pools:
    """One pool: released by ``source_types`` spikes (normalised to a rate in Hz), acting on every neuron."""
    nrn = circuit.neurons
    n = len(nrn)
    src = nrn["cell_type"].isin(config.source_types).to_numpy()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(19, 1)))
    level = rng.lognormal(-0.5 * config.receptor_sigma_log**2, config.receptor_sigma_log, n)
    release = np.where(src, 1.0 / max(int(src.sum()), 1) / (config.tau_ms * 1e-3), 0.0)
    action = config.strength_nS / REFERENCE_RATE_HZ * level
    return Pools(release=release[None, :], action_nS=action[None, :], E_mV=np.array([config.E_mV]),
                 tau_ms=np.array([config.tau_ms]))


def astrocytes(circuit: Circuit, config: GliaConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Astrocyte soma positions (A, 3) um (uniform in the neurons' bounding box) and domain membership (A, N)."""
    pos = _positions(circuit)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(19, 2)))
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    where = lo + rng.random((config.n_astrocytes, 3)) * (hi - lo)
    d = np.linalg.norm(pos[None, :, :] - where[:, None, :], axis=2)
    nearest = d == d.min(axis=0, keepdims=True)  # separate domains: each neuron to its nearest astrocyte
    return where, nearest & (d <= config.domain_um)


def glia_pools(circuit: Circuit, config: GliaConfig, seed: int) -> Pools:
    """One pool per astrocyte: released by spikes in its domain (as a domain rate, Hz), acting there."""
    _, member = astrocytes(circuit, config, seed)
    size = np.maximum(member.sum(axis=1, keepdims=True), 1)
    release = member / size / (config.tau_ms * 1e-3)
    action = member * (config.strength_nS / REFERENCE_RATE_HZ)
    k = config.n_astrocytes
    return Pools(release=release.astype(np.float64), action_nS=action.astype(np.float64),
                 E_mV=np.full(k, config.E_mV), tau_ms=np.full(k, config.tau_ms))
