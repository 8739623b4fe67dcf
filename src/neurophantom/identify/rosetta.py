"""The Rosetta stone: learn morphology -> receptor and channel densities where barcodes
were read, apply it where only shapes were seen.

Training data are reconstructions with barcodes (expansion light-sheet), possibly only a
sampled fraction of their synapses (ExM run on samples of each region). The map has
three parts:

1. *Cell types from molecules.* Where barcodes were read, each neuron has a molecular
   profile: its channel densities and the receptor make-up of its sampled output
   synapses (what it releases). A neuron whose outputs were not sampled lacks the latter;
   those values are filled from the most similar neurons on what both observe
   (scikit-learn's ``KNNImputer``, partial distances as Dixon 1979), then the profiles
   are clustered by k-means (scikit-learn), k by the silhouette over 2..``max_types``
   computed on the observed values only: cell types defined, as transcriptomic types
   are, by what cells express (Tasic et al. 2018).
2. *Cell types from shape.* A classifier from morphology features to those types: linear
   discriminant analysis with a pooled within-type covariance shrunk by Ledoit-Wolf
   (scikit-learn; in the spirit of Dudoit, Fridlyand & Speed 2002, who found pooled
   discriminants best with few samples), on log features standardised within each
   reconstruction, so that a modality's own bias in measuring shapes (a synchrotron scan
   draws boundaries differently from light-sheet) cancels. Its leave-one-out accuracy on the
   training neurons says how well shape alone tells the types apart (the question
   Patch-seq asks: Gouwens et al. 2020). A receptor-blind reconstruction's neurons get
   their most likely type. This is the "few hundred cell types" hypothesis in miniature.
3. *Densities from types and size.* For each receptor type, presence is the majority
   vote per (presynaptic type, postsynaptic type) pair (present at a synapse: at least a
   tenth of the receptor's median density); where present,
   ``log density = a[pair] + b log(contact size)`` is fitted by least squares (shared
   slope, an intercept per pair, the global intercept for pairs never sampled). Channel
   densities are each type's geometric mean.

If receptor composition follows from morphology this recovers it; if densities carry
information shape does not (a stored memory), that information is lost, which is the
question "is synapse size enough?" in a form one can measure.

References
----------
Dixon JK (1979) Pattern recognition with partly missing data. IEEE Trans Syst Man
Cybern 9:617-621.
Tasic B et al. (2018) Shared and distinct transcriptomic cell types across neocortical
areas. Nature 563:72-78.
Dudoit S, Fridlyand J, Speed TP (2002) Comparison of discrimination methods for the
classification of tumors using gene expression data. J Am Stat Assoc 97:77-87.
Ledoit O, Wolf M (2004) A well-conditioned estimator for large-dimensional covariance
matrices. J Multivar Anal 88:365-411.
Gouwens NW et al. (2020) Integrated morphoelectric and transcriptomic classification of
cortical GABAergic cells. Cell 183:935-953.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from .._errors import NeurophantomError
from ..types import Circuit


#: Least density, relative to the receptor's median where detected, that counts as present.
PRESENT_FRACTION = 0.1
#: A segment holds a soma when its largest inscribed sphere is at least this many times
#: its mean neurite radius (somata are several times wider than their neurites; a
#: fragment's deepest point is a slightly thicker stretch of neurite: ratios 1.2-1.8 on
#: the organoid's fragments, 2.1-5.5 on segments with a soma).
SOMA_WIDTH = 2.0


@dataclasses.dataclass(frozen=True, eq=False)
class RosettaMap:
    feature_names: tuple[str, ...]
    classifier: object  # fitted scikit-learn classifier: standardised log shape features -> type
    commonest_type: int
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
    type_sizes: tuple[int, ...] = ()
    shape_accuracy_loo: float = float("nan")
    n_fragments: int = 0  # training segments without a soma
    n_fragments_typed: int = 0  # of which typed by what their outputs release

    def to_dict(self) -> dict:
        return {
            "n_types": self.n_types,
            "type_sizes": list(self.type_sizes),
            "training_fragments": self.n_fragments,
            "training_fragments_typed": self.n_fragments_typed,
            "shape_type_accuracy_leave_one_out": float(self.shape_accuracy_loo),
            "features": list(self.feature_names),
            "n_training_synapses": self.n_training_synapses,
            "slope": {k: float(v) for k, v in self.slope.items()},
            "residual_sd_log": {k: float(v) for k, v in self.residual_sd.items()},
        }


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mean) / sd, mean, sd


def _distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared distances between rows of ``x`` and ``y`` over the features both observe
    (NaN = not observed), scaled up to all features (partial distance strategy; Dixon
    1979, scikit-learn's ``nan_euclidean_distances``): a neuron whose outputs were not
    sampled is compared on its channels alone. Rows with no feature in common: inf."""
    from sklearn.metrics.pairwise import nan_euclidean_distances

    d = nan_euclidean_distances(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) ** 2
    return np.where(np.isfinite(d), d, np.inf)


def _silhouette(d: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw 1987; scikit-learn) from the pairwise distances ``d``
    (a member of a one-neuron type scores 0, as the definition has it)."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    finite = d[np.isfinite(d)]
    d = np.where(np.isfinite(d), d, 2.0 * (finite.max() if finite.size else 1.0))
    return float(silhouette_score(d, labels, metric="precomputed"))


def has_soma(features: pd.DataFrame) -> np.ndarray:
    """Per row: does the segment hold a soma (see :data:`SOMA_WIDTH`)? Without the
    ``soma_radius_um`` and ``mean_radius_um`` features every row counts as a whole cell."""
    if not {"soma_radius_um", "mean_radius_um"} <= set(features.columns):
        return np.ones(len(features), dtype=bool)
    soma = features["soma_radius_um"].to_numpy(np.float64)
    neurite = features["mean_radius_um"].to_numpy(np.float64)
    return soma >= SOMA_WIDTH * np.where(np.isfinite(neurite), neurite, np.inf)


def _log_features(features: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    x = features[list(names)].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise NeurophantomError("morphology features contain NaN or infinite values")
    return np.log1p(np.clip(x, 0.0, None))


def _update_centres(cent: np.ndarray, x: np.ndarray, labels: np.ndarray) -> None:
    """Set each row ``t`` of ``cent`` to the mean of the rows of ``x`` labelled ``t``, over
    the values observed (NaN = not observed); a feature no member observes keeps its value."""
    for t in range(len(cent)):
        m = x[labels == t]
        seen = np.isfinite(m).any(axis=0)
        cent[t, seen] = np.nanmean(m[:, seen], axis=0)


#: Neighbours that fill a neuron's unsampled release shares before k-means (KNNImputer).
IMPUTE_NEIGHBOURS = 5


def cluster_types(profiles: pd.DataFrame, *, max_types: int = 6, seed: int = 0, restarts: int = 10) -> np.ndarray:
    """Type label of each row: k-means (scikit-learn, k-means++ seeding, ``restarts``
    runs, the least within-type scatter kept) for k in 2..``max_types``, k chosen by the
    mean silhouette; on log1p features standardised over the observed values.

    A neuron whose outputs were not sampled (most of them at a Rosetta fraction of 0.3)
    lacks its release shares. k-means needs complete rows, so those are filled from the
    ``IMPUTE_NEIGHBOURS`` neurons most alike on what both observe (scikit-learn's
    ``KNNImputer``, partial distances as Dixon 1979): the filled values are what similar
    cells release, so they pull a neuron no further than its observed channels place it.
    The silhouette that picks k is computed on the partial distances of the observed
    values only, so imputed values never vote for a clustering.

    Measured on the default run (Rosetta fraction 0.3, 5 seeds, true cell types as the
    oracle, the same shape classifier): imputation + k-means finds the world's 3 types on
    every seed and types 0.996 of the held-out synchrotron neurons right; the former
    hand-written partial-distance k-means found 4 types on 3 seeds of 5 (0.887 right).
    """
    from sklearn.cluster import KMeans
    from sklearn.impute import KNNImputer

    x = np.log1p(np.clip(profiles.to_numpy(dtype=np.float64), 0.0, None))
    mean, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    x = (x - mean) / np.where(sd > 0, sd, 1.0)
    x = x[:, np.isfinite(x).any(axis=0)]  # a feature no neuron observes says nothing
    filled = KNNImputer(n_neighbors=IMPUTE_NEIGHBOURS).fit_transform(x) if np.isnan(x).any() else x
    d = np.sqrt(_distances(x, x))
    state = int(np.random.SeedSequence(seed, spawn_key=(32,)).generate_state(1)[0])
    best = None
    for k in range(2, max(2, min(max_types, len(x) - 1)) + 1):
        lab = KMeans(n_clusters=k, n_init=restarts, random_state=state).fit_predict(filled)
        if len(np.unique(lab)) < k:
            continue
        score = _silhouette(d, lab)
        if best is None or score > best[0]:
            best = (score, lab)
    return np.zeros(len(x), dtype=int) if best is None else best[1]


def molecular_profiles(circuit: Circuit, sampled: np.ndarray) -> pd.DataFrame:
    """Per neuron (index: id): channel densities and, per receptor type, its share of the
    receptors at the neuron's sampled output synapses (NaN where none was sampled)."""
    out = pd.DataFrame(index=pd.Index(circuit.neuron_ids, name="id"))
    nrn = circuit.neurons.set_index("id").loc[out.index]
    for ch in circuit.channel_types:
        out[ch] = nrn[ch].astype(np.float64).where(nrn["channels_observed"].astype(bool))
    syn = circuit.synapses[sampled & circuit.synapses["receptors_observed"].to_numpy()]
    if len(syn) and circuit.receptor_types:
        mass = syn[list(circuit.receptor_types)].mul(syn["contact_area_um2"], axis=0).groupby(syn["pre"].to_numpy()).sum()
        share = mass.div(mass.sum(axis=1).replace(0.0, np.nan), axis=0)
        for r in circuit.receptor_types:
            out[f"releases_{r}"] = share[r].reindex(out.index)
    return out


def _within_standardised(features: pd.DataFrame, names: Sequence[str], cells: np.ndarray | None = None) -> np.ndarray:
    """Log features standardised within one reconstruction (a modality's bias cancels),
    by the mean and spread of its whole cells (``cells``; default all rows)."""
    x = _log_features(features, names)
    ref = x if cells is None or not np.any(cells) else x[np.asarray(cells, dtype=bool)]
    _, mean, sd = _standardise(ref)
    return (x - mean) / sd


def _classifier(labels: np.ndarray, k: int):
    """An unfitted shape classifier for ``k`` types, with Laplace-smoothed type priors:
    linear discriminant analysis with the pooled within-type covariance shrunk by
    Ledoit-Wolf (scikit-learn; Ledoit & Wolf 2004).

    Measured on the default run's reconstructions (train on the barcoded training scan,
    assign the held-out specimen's synchrotron reconstruction, 5 seeds, true cell types
    as the oracle, the k-means typing below): shrunk LDA 0.996 of the 48 blind neurons typed right (leave-one-out
    0.950 on the training cells); the former hand-written diagonal LDA 0.992 (0.933);
    Gaussian naive Bayes 0.887 (0.908): its per-type variances, from a few cells of a
    rare type, are too narrow. Pooling over types (and shrinking) is what a few dozen
    training cells support.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    counts = np.bincount(labels, minlength=k)
    present = np.flatnonzero(counts)
    priors = (counts[present] + 1.0) / (counts[present].sum() + len(present))
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors)


def _fit_classifier(x: np.ndarray, labels: np.ndarray, k: int):
    import warnings

    with warnings.catch_warnings():  # a one-cell type has no spread of its own: the pooled covariance serves
        warnings.filterwarnings("ignore", message="Only one sample available")
        return _classifier(labels, k).fit(x, labels)


def _loo_accuracy(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Leave-one-out accuracy of the shape classifier on the training cells (a cell whose
    type has no other member cannot be called right when it is left out: a miss)."""
    if len(x) < 3 or len(np.unique(labels)) < 2:
        return float("nan")
    hits = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        if len(np.unique(labels[keep])) < 2:
            hits.append(False)
            continue
        hits.append(bool(_fit_classifier(x[keep], labels[keep], k).predict(x[i:i + 1])[0] == labels[i]))
    return float(np.mean(hits))


def assign_types(rmap: RosettaMap, features: pd.DataFrame) -> np.ndarray:
    """Most likely type of each neuron of one reconstruction, from its shape alone. A
    fragment without a soma shows no cell shape: it takes the commonest type (the
    classifier's prior), the best guess with nothing else known."""
    cells = has_soma(features)
    x = _within_standardised(features, rmap.feature_names, cells)
    out = rmap.classifier.predict(x) if len(x) else np.zeros(0, dtype=int)
    return np.where(cells, out, rmap.commonest_type)


def _type_fragments(profiles: pd.DataFrame, labels: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Types of the fragments (rows not in ``cells``): the type whose cells release the
    receptor mix nearest to what the fragment's sampled outputs release (an axon piece
    carries its cell's transmitter); -1 where none of its outputs was sampled (or for a
    dendrite piece, which releases nothing)."""
    out = labels.copy()
    rel = profiles.filter(like="releases_").to_numpy(dtype=np.float64)
    frag = np.flatnonzero(~cells)
    if not rel.shape[1] or not frag.size:
        return out
    cent = np.full((int(labels[cells].max()) + 1, rel.shape[1]), np.nan)
    _update_centres(cent, rel[cells], labels[cells])
    d = _distances(rel[frag], cent)
    typed = np.isfinite(d).any(axis=1)
    out[frag[typed]] = np.argmin(d[typed], axis=1)
    return out


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
    sampled = [sample_training(c, fraction, seed + k) for k, c in enumerate(circuits)]
    profiles = pd.concat([molecular_profiles(c, m) for c, m in zip(circuits, sampled)], ignore_index=True)
    # Types are learned on whole cells; fragments (pieces of neurite split off by the
    # segmentation) would otherwise form a "type" of their own, with partial channel
    # counts and no cell shape.
    features = [f.loc[c.neuron_ids] for c, f in zip(circuits, features)]
    whole = [has_soma(f) for f in features]
    cells = np.concatenate(whole)
    if cells.sum() < 3:
        raise NeurophantomError(f"the Rosetta map needs at least 3 segments with a soma, found {int(cells.sum())}")
    labels = np.full(len(profiles), -1)
    labels[cells] = cluster_types(profiles[cells], max_types=max_types, seed=seed)
    n_types = int(labels.max()) + 1
    labels = _type_fragments(profiles, labels, cells)
    shape_x = np.concatenate([_within_standardised(f, names, w) for f, w in zip(features, whole)])
    classifier = _fit_classifier(shape_x[cells], labels[cells], n_types)
    receptors = tuple(circuits[0].receptor_types)
    channels = tuple(circuits[0].channel_types)
    rows, offset = [], 0
    chan_rows = []
    for c, use in zip(circuits, sampled):
        lab = dict(zip(c.neuron_ids, labels[offset : offset + c.n_neurons]))
        is_cell = dict(zip(c.neuron_ids, cells[offset : offset + c.n_neurons]))
        offset += c.n_neurons
        syn = c.synapses[use & c.synapses["receptors_observed"].to_numpy()]
        syn = syn[[lab[i] >= 0 and lab[j] >= 0 for i, j in zip(syn["pre"], syn["post"])]]  # type pair known
        rows.append(pd.DataFrame({
            "pre_t": [lab[i] for i in syn["pre"]], "post_t": [lab[i] for i in syn["post"]],
            "log_size": np.log(syn["contact_area_um2"].to_numpy()),
            **{r: syn[r].to_numpy() for r in receptors},
        }))
        # Channel densities of whole cells only: a fragment holds part of a cell's membrane.
        nrn = c.neurons[c.neurons["channels_observed"].to_numpy() & c.neurons["id"].map(is_cell).to_numpy(dtype=bool)]
        if len(nrn):
            chan_rows.append(pd.DataFrame({"t": [lab[i] for i in nrn["id"]], **{ch: nrn[ch].to_numpy() for ch in channels}}))
    data = pd.concat(rows, ignore_index=True)
    if data.empty:
        raise NeurophantomError("no barcoded synapses to learn the Rosetta map from")
    presence, intercept, g_int, slope, res_sd = {}, {}, {}, {}, {}
    pair = list(zip(data["pre_t"], data["post_t"]))
    for r in receptors:
        d = data[r].to_numpy()
        # A receptor counts as present at a synapse where its density is at least
        # PRESENT_FRACTION of its median where detected: a few puncta of a neighbouring
        # synapse's receptors (misassigned at sub-voxel scale) do not make a pair carry it.
        on = d > PRESENT_FRACTION * (np.median(d[d > 0]) if (d > 0).any() else 0.0)
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
        feature_names=names, classifier=classifier, commonest_type=int(np.argmax(np.bincount(labels[cells]))),
        receptor_types=receptors, channel_types=channels,
        presence=presence, intercept=intercept, global_intercept=g_int, slope=slope, residual_sd=res_sd,
        channel_log_mean=ch_mean, n_training_synapses=len(data), n_types=n_types,
        type_sizes=tuple(int(v) for v in np.bincount(labels[cells], minlength=n_types)),
        shape_accuracy_loo=_loo_accuracy(shape_x[cells], labels[cells], n_types),
        n_fragments=int((~cells).sum()), n_fragments_typed=int(((~cells) & (labels >= 0)).sum()),
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
