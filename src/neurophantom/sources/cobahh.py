"""The COBAHH benchmark network (Brette et al. 2007, benchmark 3) as a Circuit.

Built exactly as Brian2's example ``examples/COBAHH.py`` (``frompapers/Brette_et_al_2007``):
``n_neurons`` Traub-Miles Hodgkin-Huxley cells of 20000 um^2 (C 1 uF/cm^2, g_L 5e-5 S/cm^2,
E_L -60 mV, g_Na 100 mS/cm^2, E_Na 50 mV, g_Kd 30 mS/cm^2, E_K -90 mV, VT -63 mV), the
first ``exc_fraction`` excitatory; every ordered pair (pre, post) is connected
independently with probability ``p_connect`` (Brian2's ``connect(p=0.02)``, autapses
included); each excitatory spike adds ``we = 6 nS`` to a single-exponential conductance
(tau 5 ms, E 0 mV), each inhibitory one ``wi = 67 nS`` (tau 10 ms, E -80 mV); spikes are
``V > -20 mV`` with a 3 ms refractory period. The engine integrates it with exponential
Euler exactly as Brian2's ``exponential_euler``.

How the numbers become protein densities (the Circuit carries densities, not weights):

- channels: ``na`` 50/um^2 x 20 pS = 100 mS/cm^2; ``kdr`` 30/um^2 x 10 pS = 30 mS/cm^2;
  ``leak`` 0.5/um^2 x 1 pS = 5e-5 S/cm^2 (the library's unitary conductances).
- synapses: one contact of ``contact_area_um2`` (default 1 um^2) per connection, with
  ``ampa`` density ``we / (area x 10 pS)`` = 600/um^2 on excitatory ones and ``gaba_a``
  density ``wi / (area x 20 pS)`` = 3350/um^2 on inhibitory ones, so that density x area x
  unitary conductance is exactly ``we`` or ``wi``.
- receptor kinetics: the header's ``biophysics`` overrides make both receptors single
  exponentials (``tau_rise_ms = 0``) with COBAHH's decay times and reversals
  (:data:`BIOPHYSICS_OVERRIDES`); leak reversal -60 mV, ``VT_mV`` -63 mV.

Soma positions (uniform in a cube) and synapse positions (midpoint of the two somata) are
only for the later tissue stages; the benchmark has no space and they do not enter the
dynamics. The random initial state of the benchmark (``v``, ``ge``, ``gi``) is
:func:`initial_state`.

``expected_in_degree`` (instead of ``p_connect``) sets ``p = K / n_neurons`` so that every
neuron receives ``K`` synapses on average whatever the size: the scaling option of the
benchmarks (the dynamics stay those of the 4000-neuron network with ``K = 80``).

References
----------
Brette R, Rudolph M, Carnevale T, et al. (2007) Simulation of networks of spiking neurons:
a review of tools and strategies. J Comput Neurosci 23:349-398 (benchmark 3).
Traub RD, Miles R (1991) Neuronal Networks of the Hippocampus. Cambridge University Press.
Stimberg M, Brette R, Goodman DFM (2019) Brian 2, an intuitive and efficient neural
simulator. eLife 8:e47314 (the ``COBAHH`` example).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..biophysics.channels import CHANNELS
from ..biophysics.receptors import RECEPTORS
from ..types import Circuit, Provenance
from ._tables import make_circuit

#: Benchmark membrane and synapse constants (Brette et al. 2007, Brian2's COBAHH.py).
AREA_UM2 = 20000.0
G_NA_MS_PER_CM2 = 100.0
G_KD_MS_PER_CM2 = 30.0
G_LEAK_S_PER_CM2 = 5e-5
E_LEAK_MV = -60.0
TAU_E_MS, TAU_I_MS = 5.0, 10.0
E_E_MV, E_I_MV = 0.0, -80.0
THRESHOLD_MV = -20.0
REFRACTORY_MS = 3.0

#: Biophysics overrides the Circuit header records (single-exponential COBAHH synapses).
BIOPHYSICS_OVERRIDES: dict[str, float] = {
    "channels.leak.E_mV": E_LEAK_MV,
    "channels.na.E_mV": 50.0,
    "channels.kdr.E_mV": -90.0,
    "channels.na.VT_mV": -63.0,
    "channels.kdr.VT_mV": -63.0,
    "receptors.ampa.tau_rise_ms": 0.0,
    "receptors.ampa.tau_decay_ms": TAU_E_MS,
    "receptors.ampa.E_mV": E_E_MV,
    "receptors.gaba_a.tau_rise_ms": 0.0,
    "receptors.gaba_a.tau_decay_ms": TAU_I_MS,
    "receptors.gaba_a.E_mV": E_I_MV,
    "cm_pF_per_um2": 0.01,
}


class Config(BaseModel):
    """Options of the COBAHH source (defaults: the benchmark as published)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0)
    n_neurons: int = Field(4000, ge=2, le=2_000_000)
    exc_fraction: float = Field(0.8, gt=0.0, lt=1.0)
    p_connect: float = Field(0.02, ge=0.0, le=1.0, description="connection probability per ordered pair")
    expected_in_degree: float | None = Field(
        None, gt=0, description="if set, p_connect = expected_in_degree / n_neurons (scaling option)"
    )
    we_nS: float = Field(6.0, gt=0, description="excitatory weight (nS)")
    wi_nS: float = Field(67.0, gt=0, description="inhibitory weight (nS)")
    contact_area_um2: float = Field(1.0, gt=0, description="postsynaptic contact area of every synapse")
    autapses: bool = Field(True, description="allow i -> i (Brian2's connect(p=...) does)")
    box_um: float = Field(500.0, gt=0, description="edge of the cube holding the somata (no effect on dynamics)")

    @property
    def probability(self) -> float:
        if self.expected_in_degree is not None:
            return min(1.0, self.expected_in_degree / self.n_neurons)
        return self.p_connect

    @property
    def n_exc(self) -> int:
        # Brian2's example slices P[:3200] for 4000 neurons: int(0.8 * N) excitatory.
        return int(round(self.exc_fraction * self.n_neurons))


def bernoulli_edges(rng: np.random.Generator, n_pre: int, n_post: int, p: float, *, offset_pre: int = 0,
                    autapses: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair connected independently with probability ``p`` (Brian2's ``connect(p=p)``).

    Out-degrees are Binomial(``n_post``, p); the targets of one source are a uniform subset
    of that size, drawn with replacement and redrawn where duplicated (a permutation-
    invariant procedure, hence a uniform subset), so the cost is O(edges), not O(pairs).
    """
    pre_ids = np.arange(n_pre) + offset_pre
    allowed = n_post - (1 if not autapses else 0)
    deg = rng.binomial(max(allowed, 0), p, size=n_pre)
    pre = np.repeat(pre_ids, deg)
    post = np.empty(len(pre), np.int64)
    todo = np.arange(len(pre))
    while len(todo):
        post[todo] = rng.integers(0, n_post, size=len(todo))
        bad = np.zeros(len(pre), bool)
        if not autapses:
            bad[todo] = post[todo] == pre[todo]
        key = pre * n_post + post
        order = np.argsort(key, kind="stable")
        dup = np.zeros(len(pre), bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        todo = np.flatnonzero(dup | bad)
    order = np.lexsort((post, pre))
    return pre[order], post[order]


def _neurons(config: Config, rng: np.random.Generator) -> dict:
    n, ne = config.n_neurons, config.n_exc
    na, kdr, leak = CHANNELS["na"], CHANNELS["kdr"], CHANNELS["leak"]
    # 1 mS/cm^2 = 10 pS/um^2; density = conductance per area / unitary conductance.
    pos = rng.uniform(0.0, config.box_um, size=(n, 3))
    return {
        "id": np.arange(n, dtype=np.int64),
        "name": [f"E{i}" if i < ne else f"I{i - ne}" for i in range(n)],
        "cell_type": ["excitatory"] * ne + ["inhibitory"] * (n - ne),
        "x_um": pos[:, 0], "y_um": pos[:, 1], "z_um": pos[:, 2],
        "area_um2": np.full(n, AREA_UM2),
        "release": ["spike"] * n,
        "na": np.full(n, G_NA_MS_PER_CM2 * 10.0 / na.g_unit_pS),
        "kdr": np.full(n, G_KD_MS_PER_CM2 * 10.0 / kdr.g_unit_pS),
        "leak": np.full(n, G_LEAK_S_PER_CM2 * 1e4 / leak.g_unit_pS),
    }


def _synapses(config: Config, rng: np.random.Generator, pos: np.ndarray) -> dict:
    n, ne, p = config.n_neurons, config.n_exc, config.probability
    pe, qe = bernoulli_edges(rng, ne, n, p, autapses=config.autapses)
    pi, qi = bernoulli_edges(rng, n - ne, n, p, offset_pre=ne, autapses=config.autapses)
    pre, post = np.concatenate([pe, pi]), np.concatenate([qe, qi])
    exc = pre < ne
    area = config.contact_area_um2
    ampa = np.where(exc, config.we_nS * 1e3 / (area * RECEPTORS["ampa"].g_unit_pS), 0.0)
    gaba = np.where(exc, 0.0, config.wi_nS * 1e3 / (area * RECEPTORS["gaba_a"].g_unit_pS))
    mid = 0.5 * (pos[pre] + pos[post])
    return {
        "synapse_id": np.arange(len(pre), dtype=np.int64),
        "pre": pre.astype(np.int64), "post": post.astype(np.int64),
        "x_um": mid[:, 0], "y_um": mid[:, 1], "z_um": mid[:, 2],
        "contact_area_um2": np.full(len(pre), area),
        "ampa": ampa, "gaba_a": gaba,
    }


def build(config: Config) -> Circuit:
    """The COBAHH network for ``config`` (same config and seed: identical tables)."""
    root = np.random.SeedSequence(config.seed)
    rng_pos, rng_syn = (np.random.default_rng(s) for s in root.spawn(2))
    neurons = _neurons(config, rng_pos)
    pos = np.stack([neurons["x_um"], neurons["y_um"], neurons["z_um"]], axis=1)
    synapses = _synapses(config, rng_syn, pos)
    return make_circuit(
        neurons=neurons,
        synapses=synapses,
        gap_junctions=None,
        channel_types=("na", "kdr", "leak"),
        receptor_types=("ampa", "gaba_a"),
        provenance=Provenance(
            source="cobahh",
            dataset="Brette et al. 2007 benchmark 3",
            seed=config.seed,
            config=config.model_dump(),
            metadata={
                "biophysics": {"preset": "default", "overrides": dict(BIOPHYSICS_OVERRIDES)},
                "spike_threshold_mV": THRESHOLD_MV,
                "refractory_ms": REFRACTORY_MS,
                "n_excitatory": config.n_exc,
                "initial_state": "neurophantom.sources.cobahh.initial_state(circuit, seed)",
            },
        ),
    )


def initial_state(circuit: Circuit, seed: int) -> dict[str, np.ndarray]:
    """The benchmark's random initial state, for ``simulate(..., init=...)``.

    As Brian2's example: ``v = E_L + (5 randn - 5) mV``, ``ge = (1.5 randn + 4) x 10 nS``,
    ``gi = (12 randn + 20) x 10 nS`` (conductances may start negative, as there), and the
    gates ``m``, ``h``, ``n`` at 0 (the example does not set them), in the Circuit's neuron
    order (the Model's order). Keys: ``v``, ``g_syn.ampa``, ``g_syn.gaba_a``,
    ``gate.na.m``, ``gate.na.h``, ``gate.kdr.n``.
    """
    n = circuit.n_neurons
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    return {
        "v": E_LEAK_MV + (rng.standard_normal(n) * 5.0 - 5.0),
        "g_syn.ampa": (rng.standard_normal(n) * 1.5 + 4.0) * 10.0,
        "g_syn.gaba_a": (rng.standard_normal(n) * 12.0 + 20.0) * 10.0,
        "gate.na.m": np.zeros(n),
        "gate.na.h": np.zeros(n),
        "gate.kdr.n": np.zeros(n),
    }
