"""Cell types of the synthetic organoid: membranes, counts and soma positions.

Three cortex-like types (Markram et al. 2015; Tremblay, Lee & Rudy 2016), all spiking
single compartments built from the library's channels:

- ``pyramidal``: regular-spiking excitatory cell (Traub-Miles Na/Kdr as COBAHH, mild
  Ca-activated K adaptation);
- ``pv``: fast-spiking parvalbumin-like interneuron: smaller, leakier, with high Na and
  very high Kdr density (narrow spikes, no adaptation, rates above 150 Hz);
- ``sst``: adapting somatostatin-like interneuron: L-type Ca and strong SK-type
  Ca-activated K give spike-frequency adaptation.

Each neuron's area and channel densities are its type's values times independent
log-normal factors (``cell_variability`` is their standard deviation in log space).
Somata are uniform in a slab (x, y, z extents in um).

References
----------
Markram H et al. (2015) Reconstruction and simulation of neocortical microcircuitry.
Cell 163:456-492.
Tremblay R, Lee S, Rudy B (2016) GABAergic interneurons in the neocortex: from cellular
properties to circuits. Neuron 91:260-292.
Brette R et al. (2007) J Comput Neurosci 23:349-398 (COBAHH membrane).
"""

from __future__ import annotations

import numpy as np

#: Cell-type names, in id order within the circuit (excitatory first).
TYPES = ("pyramidal", "pv", "sst")
#: Channel types of the organoid's membranes.
CHANNEL_TYPES = ("na", "kdr", "leak", "cal", "kca")
#: The organoid world's biophysics: the library's channels with the Traub-Miles activation
#: curves shifted by +5 mV (VT = -58 mV instead of COBAHH's -63 mV). With COBAHH's VT an
#: isolated cell of these densities fires tonically at ~14 Hz with no input (the Na window
#: current exceeds the leak at rest); cortical pyramidal and interneurons rest silently
#: and fire when driven (rheobase ~100-200 pA here), which the shift restores.
WORLD_BIOPHYSICS = {"channels.na.VT_mV": -58.0, "channels.kdr.VT_mV": -58.0}
#: Per-type membrane: area (um^2) and channel densities (channels/um^2; unitary
#: conductances na 20, kdr 10, leak 1, cal 10, kca 10 pS).
MEMBRANES: dict[str, dict[str, float]] = {
    # COBAHH densities (100 mS/cm^2 Na, 30 mS/cm^2 Kdr, 0.05 mS/cm^2 leak).
    "pyramidal": {"area_um2": 10000.0, "na": 50.0, "kdr": 30.0, "leak": 0.5, "cal": 0.02, "kca": 0.2},
    # Fast spiking: Kdr 90 mS/cm^2 (Erisir et al. 1999: Kv3 makes PV spikes narrow and fast).
    "pv": {"area_um2": 5000.0, "na": 70.0, "kdr": 90.0, "leak": 1.0, "cal": 0.0, "kca": 0.0},
    # Adapting: Ca entry through L-type channels drives SK current (adaptation ratio > 1).
    "sst": {"area_um2": 7000.0, "na": 40.0, "kdr": 25.0, "leak": 0.5, "cal": 0.05, "kca": 1.0},
}


def type_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Integer counts per type summing to ``n`` (largest remainders, deterministic)."""
    raw = np.array([fractions[t] * n for t in TYPES])
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return dict(zip(TYPES, counts.tolist()))


def neuron_table(counts: dict[str, int], slab_um: tuple[float, float, float], variability: float,
                 rng: np.random.Generator) -> dict[str, np.ndarray | list]:
    """Neuron columns: ids, names (``pyramidal017``), types, positions, area and densities."""
    types = [t for t in TYPES for _ in range(counts[t])]
    n = len(types)
    index = np.concatenate([np.arange(counts[t]) for t in TYPES])
    pos = rng.random((n, 3)) * np.asarray(slab_um)
    cols: dict[str, np.ndarray | list] = {
        "id": np.arange(n, dtype=np.int64),
        "name": [f"{t}{k:03d}" for t, k in zip(types, index)],
        "cell_type": types,
        "x_um": pos[:, 0], "y_um": pos[:, 1], "z_um": pos[:, 2],
        "release": ["spike"] * n,
    }
    for key in ("area_um2",) + CHANNEL_TYPES:
        base = np.array([MEMBRANES[t][key] for t in types])
        cols[key] = base * np.exp(variability * rng.standard_normal(n))
    return cols
