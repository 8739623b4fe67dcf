"""The Rosetta stone: learn morphology -> receptor and channel densities where barcodes
were read, apply it where only shapes were seen.

Training data are reconstructions with barcodes (expansion light-sheet), possibly only a
sampled fraction of their synapses and neurons (ExM run on samples of each region). The
map has two parts:

1. *Cell types from shape.* Neurons are clustered on standardised morphology features
   (k-means, ``scipy.cluster.vq.kmeans2``, k chosen by the silhouette score over
   2..``max_types``); a receptor-blind reconstruction's neurons are assigned to the
   nearest centroid. This is the "few hundred cell types" hypothesis in miniature.
2. *Densities from types and size.* For each receptor type, presence is the majority
   vote per (presynaptic type, postsynaptic type) pair; where present,
   ``log density = a[pair] + b log(contact size)`` is fitted by least squares (shared
   slope, an intercept per pair, the global intercept for pairs never sampled). Channel
   densities are each type's geometric mean.

If receptor composition follows from morphology this recovers it; if densities carry
information shape does not (a stored memory), that information is lost, which is the
question "is synapse size enough?" in a form one can measure.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2

from .._errors import NeurophantomError
from ..types import Circuit


@dataclasses.dataclass(frozen=True, eq=False)
class RosettaMap:
    feature_names: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray
    centroids: np.ndarray
    receptor_types: tuple[str, ...]
    channel_types: tuple[str, ...]
    presence: dict  # receptor -> {(pre_type, post_type): bool}
    intercept: dict  # receptor -> {(pre_type, post_type): float}
    global_intercept: dict  # receptor -> float
    slope: dict  # receptor -> float
    residual_sd: dict  # receptor -> float (log units)
    channel_log_mean: dict  # channel -> array over types
    n_training_synapses: int
    n_types: int

    def to_dict(self) -> dict:
        return {
            "n_types": self.n_types,
            "features": list(self.feature_names),
            "n_training_synapses": self.n_training_synapses,
            "slope": {k: float(v) for k, v in self.slope.items()},
            "residual_sd_log": {k: float(v) for k, v in self.residual_sd.items()},
        }


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mean) / sd, mean, sd


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw 1987), computed exactly for the few hundred neurons here."""
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    ks = np.unique(labels)
    if len(ks) < 2:
        return -1.0
    s = np.zeros(len(x))
    for i in range(len(x)):
        own = labels == labels[i]
        a = d[i, own].sum() / max(own.sum() - 1, 1)
        b = min(d[i, labels == k].mean() for k in ks if k != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())


def _log_features(features: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    x = features[list(names)].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise NeurophantomError("morphology features contain NaN or infinite values")
    return np.log1p(np.clip(x, 0.0, None))


def cluster_types(features: pd.DataFrame, *, max_types: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(labels, centroids, mean, sd) of the best k-means clustering by silhouette."""
    names = list(features.columns)
    x, mean, sd = _standardise(_log_features(features, names))
    best = None
    for k in range(2, max(2, min(max_types, len(x) - 1)) + 1):
        cent, lab = kmeans2(x, k, seed=np.random.default_rng(seed + k), minit="++")
        if len(np.unique(lab)) < k:
            continue
        score = _silhouette(x, lab)
        if best is None or score > best[0]:
            best = (score, lab, cent)
    if best is None:
        lab = np.zeros(len(x), dtype=int)
        cent = x.mean(axis=0, keepdims=True)
    else:
        _, lab, cent = best
    return lab, cent, mean, sd


def assign_types(rmap: RosettaMap, features: pd.DataFrame) -> np.ndarray:
    x = (_log_features(features, rmap.feature_names) - rmap.mean) / rmap.sd
    return np.argmin(((x[:, None, :] - rmap.centroids[None]) ** 2).sum(-1), axis=1)


def sample_training(circuit: Circuit, fraction: float, seed: int) -> np.ndarray:
    """Rows of ``circuit.synapses`` whose barcodes were read: a random ``fraction`` of the
    release sites (ExM on samples), always at least one."""
    if not (0.0 < fraction <= 1.0):
        raise NeurophantomError(f"Rosetta sampling fraction must be in (0, 1], got {fraction}")
    sites = np.unique(circuit.synapses["synapse_id"].to_numpy())
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(31,)))
    keep = rng.choice(sites, size=max(1, int(round(fraction * len(sites)))), replace=False)
    return np.isin(circuit.synapses["synapse_id"].to_numpy(), keep)


def learn_rosetta(
    circuits: Sequence[Circuit],
    features: Sequence[pd.DataFrame],
    *,
    fraction: float = 1.0,
    max_types: int = 6,
    seed: int = 0,
) -> RosettaMap:
    """Learn the map from barcoded reconstructions and their per-neuron morphology
    features (indexed by neuron id); only a ``fraction`` of release sites is used."""
    if not circuits or len(circuits) != len(features):
        raise NeurophantomError("learn_rosetta needs one feature table per circuit")
    names = tuple(features[0].columns)
    all_feat = pd.concat([f.loc[c.neuron_ids, list(names)] for c, f in zip(circuits, features)])
    labels, cent, mean, sd = cluster_types(all_feat, max_types=max_types, seed=seed)
    receptors = tuple(circuits[0].receptor_types)
    channels = tuple(circuits[0].channel_types)
    rows, offset = [], 0
    chan_rows = []
    for k, (c, f) in enumerate(zip(circuits, features)):
        lab = dict(zip(c.neuron_ids, labels[offset : offset + c.n_neurons]))
        offset += c.n_neurons
        use = sample_training(c, fraction, seed + k) & c.synapses["receptors_observed"].to_numpy()
        syn = c.synapses[use]
        rows.append(pd.DataFrame({
            "pre_t": [lab[i] for i in syn["pre"]], "post_t": [lab[i] for i in syn["post"]],
            "log_size": np.log(syn["contact_area_um2"].to_numpy()),
            **{r: syn[r].to_numpy() for r in receptors},
        }))
        nrn = c.neurons[c.neurons["channels_observed"].to_numpy()]
        if len(nrn):
            chan_rows.append(pd.DataFrame({"t": [lab[i] for i in nrn["id"]], **{ch: nrn[ch].to_numpy() for ch in channels}}))
    data = pd.concat(rows, ignore_index=True)
    if data.empty:
        raise NeurophantomError("no barcoded synapses to learn the Rosetta map from")
    presence, intercept, g_int, slope, res_sd = {}, {}, {}, {}, {}
    pair = list(zip(data["pre_t"], data["post_t"]))
    for r in receptors:
        d = data[r].to_numpy()
        on = d > 0
        presence[r] = {}
        for p in set(pair):
            m = np.array([q == p for q in pair])
            presence[r][p] = bool(on[m].mean() > 0.5)
        if on.sum() < 2:
            intercept[r], g_int[r], slope[r], res_sd[r] = {}, -np.inf, 0.0, np.nan
            continue
        pairs_on = sorted({q for q, o in zip(pair, on) if o})
        X = np.column_stack([data["log_size"].to_numpy()[on]] + [np.array([q == p for q, o in zip(pair, on) if o], float) for p in pairs_on])
        y = np.log(d[on])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        slope[r] = float(coef[0])
        intercept[r] = dict(zip(pairs_on, (float(v) for v in coef[1:])))
        g_int[r] = float(np.mean(y - slope[r] * X[:, 0]))
        res_sd[r] = float(np.std(y - X @ coef))
    chan = pd.concat(chan_rows, ignore_index=True) if chan_rows else pd.DataFrame({"t": []})
    n_types = int(cent.shape[0])
    ch_mean = {}
    for ch in channels:
        vals = np.full(n_types, np.nan)
        for t in range(n_types):
            v = chan.loc[chan["t"] == t, ch].to_numpy() if len(chan) else np.zeros(0)
            v = v[np.isfinite(v)]
            vals[t] = np.mean(np.log(v + 1e-12)) if v.size else np.nan
        glob = chan[ch].to_numpy() if len(chan) else np.zeros(0)
        glob = glob[np.isfinite(glob)]
        fallback = np.mean(np.log(glob + 1e-12)) if glob.size else np.log(1e-12)
        ch_mean[ch] = np.where(np.isfinite(vals), vals, fallback)
    return RosettaMap(
        feature_names=names, mean=mean, sd=sd, centroids=cent, receptor_types=receptors, channel_types=channels,
        presence=presence, intercept=intercept, global_intercept=g_int, slope=slope, residual_sd=res_sd,
        channel_log_mean=ch_mean, n_training_synapses=len(data), n_types=n_types,
    )


def apply_rosetta(rmap: RosettaMap, circuit: Circuit, features: pd.DataFrame) -> Circuit:
    """Fill every unobserved density of ``circuit`` from morphology (observed ones stay).

    Filled rows keep ``*_observed = False``: the values are estimates, not observations.
    """
    circuit = _adopt_types(rmap, circuit)
    lab = dict(zip(circuit.neuron_ids, assign_types(rmap, features.loc[circuit.neuron_ids])))
    syn = circuit.synapses.copy()
    blind = ~syn["receptors_observed"].to_numpy()
    if blind.any():
        pre_t = np.array([lab[i] for i in syn["pre"]])
        post_t = np.array([lab[i] for i in syn["post"]])
        log_size = np.log(syn["contact_area_um2"].to_numpy())
        for r in circuit.receptor_types:
            if r not in rmap.presence:
                raise NeurophantomError(f"the Rosetta map was not trained on receptor type {r!r}")
            est = np.zeros(len(syn))
            for i in np.flatnonzero(blind):
                p = (pre_t[i], post_t[i])
                if not rmap.presence[r].get(p, False):
                    continue
                a = rmap.intercept[r].get(p, rmap.global_intercept[r])
                est[i] = np.exp(a + rmap.slope[r] * log_size[i]) if np.isfinite(a) else 0.0
            col = syn[r].to_numpy().copy()
            col[blind] = est[blind]
            syn[r] = col
    nrn = circuit.neurons.copy()
    blind_n = ~nrn["channels_observed"].to_numpy()
    if blind_n.any():
        t = np.array([lab[i] for i in nrn["id"]])
        for ch in circuit.channel_types:
            col = nrn[ch].to_numpy().copy()
            col[blind_n] = np.exp(rmap.channel_log_mean[ch][t[blind_n]])
            nrn[ch] = col
    return circuit.replace(synapses=syn, neurons=nrn)


def _adopt_types(rmap: RosettaMap, circuit: Circuit) -> Circuit:
    """A wholly receptor-blind (or channel-blind) reconstruction knows no protein types:
    its type list is the whole library, all unknown, so it takes the Rosetta map's types
    instead. A partly observed one keeps its own types (and a type the map never saw is
    an error in ``apply_rosetta``)."""
    syn, receptors = _blind_types(circuit.synapses, "receptors_observed", circuit.receptor_types, rmap.receptor_types)
    nrn, channels = _blind_types(circuit.neurons, "channels_observed", circuit.channel_types, rmap.channel_types)
    if receptors == circuit.receptor_types and channels == circuit.channel_types:
        return circuit
    return circuit.replace(synapses=syn, neurons=nrn, receptor_types=receptors, channel_types=channels)


def _blind_types(table: pd.DataFrame, flag: str, have: tuple[str, ...], want: Sequence[str]):
    """``table`` with density columns ``want`` (NaN) instead of ``have`` when no row of it
    is observed; else unchanged."""
    if not len(table) or table[flag].any():
        return table, tuple(have)
    table = table.drop(columns=[t for t in have if t not in want])
    for t in want:
        if t not in table.columns:
            table[t] = np.nan
    return table, tuple(want)
