"""Read the signal-propagation atlas and its companion data from ``wormneuroatlas``, offline.

The installed ``wormneuroatlas`` package (Randi et al. 2023) ships everything as files:

- ``funatlas.h5``: the signal-propagation atlas. For each strain (``wt``, ``unc31``) and
  each pair (responding neuron ``i``, stimulated neuron ``j``): the mean dF/F over the
  30 s after stimulation (``dFF``, baseline-normalised, corrected for the decay of earlier
  responses), the per-trial values it averages (``dFF_all``), the q-value of the response
  (``q``), and the fitted kernel ``k_ij(t)`` (sums of ``c t^p exp(-g t)`` terms, time in
  seconds) that gives neuron ``i``'s activity when convolved with neuron ``j``'s;
- the synapse-sign data of Fenyves et al. (2020): which ionotropic receptor genes make a
  transmitter excitatory (``+``) or inhibitory (``-``), read with CeNGEN single-cell
  expression (Taylor et al. 2021) through :class:`wormneuroatlas.NeuroAtlas`;
- the extrasynaptic (monoaminergic and neuropeptidergic) connectome of Bentley et al.
  (2016) as CSV edge lists with transmitter and receptor.

``wormneuroatlas.WormBase`` asks wormbase.org for the database version when constructed;
:func:`_offline` replaces that query by the version the package was built for and makes
every other network method of the class raise, so nothing here touches the network.

Neuron names follow cect (the atlas's ``AWCOF``/``AWCOFF`` and ``AWCON`` are ``AWCL`` and
``AWCR``, the convention ``wormneuroatlas.SynapseSign`` itself uses).

References
----------
Randi F, Sharma AK, Dvali S, Leifer AM (2023) Neural signal propagation atlas of
Caenorhabditis elegans. Nature 623:406-414.
Fenyves BG et al. (2020) PLoS Comput Biol 16:e1007974.
Taylor SR et al. (2021) Molecular topography of an entire nervous system. Cell 184:4329.
Bentley B et al. (2016) The multilayer connectome of Caenorhabditis elegans. PLoS Comput
Biol 12:e1005283.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import io
import warnings
from pathlib import Path

import numpy as np

from .._errors import NeurophantomError

#: Atlas neuron names that cect spells differently.
ATLAS_TO_CECT = {"AWCOF": "AWCL", "AWCOFF": "AWCL", "AWCON": "AWCR"}
#: Transmitters with sign data (Fenyves et al. 2020) -> the Wang 2024 transmitter name.
SIGN_TRANSMITTERS = {"ACh": "Acetylcholine", "Glu": "Glutamate", "GABA": "GABA"}
STRAINS = ("wt", "unc31")


def _module():
    try:
        import wormneuroatlas
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise NeurophantomError(f"the C. elegans atlas needs the 'wormneuroatlas' package: pip install 'neurophantom[celegans]' ({exc})") from None
    return wormneuroatlas


#: ``WormBase`` class methods that query wormbase.org (wormneuroatlas 0.0.7.3).
_NETWORK_METHODS = ("get_genes_in_class", "get_transcripts_ids", "get_sequences_from_transcript_id", "get_gene_description")


def _offline() -> None:
    """Make ``wormneuroatlas.WormBase`` answer without the network (idempotent): the
    database-version query returns the version the package was built for (its own
    consistency check then passes), the other web queries raise."""
    cls = _module().WormBase
    if getattr(cls, "_neurophantom_offline", False):
        return

    def refuse(*args, **kwargs):
        raise NeurophantomError("wormneuroatlas tried to reach wormbase.org; neurophantom keeps it offline")

    cls.get_db_version_http = classmethod(lambda c: c.db_version)
    for name in _NETWORK_METHODS:
        if hasattr(cls, name):
            setattr(cls, name, staticmethod(refuse))
    cls._neurophantom_offline = True


def data_dir() -> Path:
    return Path(_module().__file__).parent / "data"


def package_version() -> str:
    return importlib.metadata.version("wormneuroatlas")


def cect_name(atlas_name: str) -> str:
    return ATLAS_TO_CECT.get(atlas_name, atlas_name)


@dataclasses.dataclass(frozen=True, eq=False)
class SignalPropagation:
    """The atlas of one strain; matrices are indexed ``[responding, stimulated]``.

    ``dff`` is NaN where the pair was never measured (and on the diagonal it holds the
    stimulated neuron's own response); ``trials[(i, j)]`` the per-trial values behind
    ``dff[i, j]``; ``kernel_terms[(i, j)]`` a (K, 3) array of kernel terms ``(g_per_s,
    factor, power_t)``.
    """

    strain: str
    names: tuple[str, ...]
    dff: np.ndarray
    q: np.ndarray
    n_trials: np.ndarray
    trials: dict
    kernel_terms: dict
    source: dict

    def index(self, names) -> np.ndarray:
        lookup = {n: k for k, n in enumerate(self.names)}
        bad = [n for n in names if n not in lookup]
        if bad:
            raise NeurophantomError(f"neuron(s) not in the atlas: {', '.join(map(str, bad[:5]))}")
        return np.array([lookup[n] for n in names], dtype=np.int64)

    @property
    def stimulated(self) -> tuple[str, ...]:
        """Neurons stimulated at least once with a measured response elsewhere (sorted)."""
        off = np.isfinite(self.dff) & ~np.eye(len(self.names), dtype=bool)
        return tuple(sorted(self.names[j] for j in np.where(off.any(axis=0))[0]))

    def kernel(self, i: int, j: int, t_s: np.ndarray) -> np.ndarray:
        """Kernel ``k_ij`` evaluated at times ``t_s`` (s, >= 0); zeros where none was fitted."""
        t = np.asarray(t_s, dtype=np.float64)
        out = np.zeros_like(t)
        for g, c, p in self.kernel_terms.get((int(i), int(j)), ()):
            out += c * (t**p if p else 1.0) * np.exp(-g * t)
        return out


@functools.lru_cache(maxsize=2)
def signal_propagation(strain: str = "wt") -> SignalPropagation:
    """The signal-propagation atlas of ``strain`` (``wt`` or ``unc31``), read once per process."""
    import h5py

    if strain not in STRAINS:
        raise NeurophantomError(f"unknown atlas strain {strain!r} (known: {', '.join(STRAINS)})")
    path = data_dir() / "funatlas.h5"
    if not path.is_file():
        raise NeurophantomError(f"wormneuroatlas data file missing: {path}")
    with h5py.File(path, "r") as f:
        names = tuple(cect_name(n.decode()) for n in f["neuron_ids"][:])
        g = f[strain]
        dff = np.asarray(g["dFF"][:], dtype=np.float64)
        q = np.asarray(g["q"][:], dtype=np.float64)
        meas = np.isfinite(dff)
        all_ = g["dFF_all"]
        ker = g["kernels"]
        trials, kernels = {}, {}
        n_trials = np.zeros(dff.shape, dtype=np.int64)
        dall = all_[:]
        kall = ker[:]
        for i, j in zip(*np.where(meas)):
            v = np.asarray(dall[i, j], dtype=np.float64)
            trials[(int(i), int(j))] = v
            n_trials[i, j] = v.size
            k = np.asarray(kall[i, j], dtype=np.float64)
            if k.size >= 4:
                terms = k.reshape(-1, 4)[:, :3]
                terms = terms[terms[:, 1] != 0.0]
                if len(terms):
                    kernels[(int(i), int(j))] = terms
        source = {"package": "wormneuroatlas", "version": package_version(), "file": "funatlas.h5",
                  "compiled": f.attrs["time_compiled"].decode(), "strain": strain,
                  "reference": "Randi et al. 2023, Nature 623:406"}
    return SignalPropagation(strain=strain, names=names, dff=dff, q=q, n_trials=n_trials, trials=trials,
                             kernel_terms=kernels, source=source)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@functools.lru_cache(maxsize=1)
def _neuroatlas():
    """``wormneuroatlas.NeuroAtlas`` without its connectomes (about 1 s), offline."""
    _offline()
    with _quiet():
        return _module().NeuroAtlas(verbose=False, load_connectomes=False)


def _cengen_mapped(na) -> np.ndarray:
    """Which atlas neurons have their own CeNGEN profile. ``NeuroAtlas.cengen_is`` starts
    at 0 (``-1 * np.zeros``), so an unmapped neuron silently reads the first CeNGEN class;
    this recomputes the mapping and reports unmapped neurons as having no data."""
    ids = na.cengen.get_neuron_ids()
    mapped = np.zeros(na.n_neurons, dtype=bool)
    targets = set()
    for atlas_names in na.cengen_ids_to_atlas(list(ids)):
        targets.update(atlas_names if not isinstance(atlas_names, str) else [atlas_names])
    for k, n in enumerate(na.neuron_ids):
        mapped[k] = n in targets
    return mapped


@dataclasses.dataclass(frozen=True)
class ReceptorExpression:
    """Per transmitter (``ACh``, ``Glu``, ``GABA``): neurons expressing any of its
    excitatory (``exc``) or inhibitory (``inh``) ionotropic receptor genes (CeNGEN,
    threshold 4 = stringent, Fenyves et al. 2020 gene lists); ``profiled``: neurons with a
    CeNGEN profile of their own (outside it there is no sign data)."""

    exc: dict
    inh: dict
    profiled: frozenset
    genes: dict


@functools.lru_cache(maxsize=1)
def receptor_expression() -> ReceptorExpression:
    na = _neuroatlas()
    names = [cect_name(str(n)) for n in na.neuron_ids]
    mapped = _cengen_mapped(na)
    exc, inh, genes = {}, {}, {}
    sign = na.synapsesign
    with _quiet():
        for nt in SIGN_TRANSMITTERS:
            sets = []
            for s in ("+", "-"):
                g = sign.get_receptors_for(nt, s)
                genes[f"{nt}{s}"] = [str(x) for x in g]
                expr = np.asarray(na.get_gene_expression(gene_names=g)).sum(axis=1) > 0
                sets.append(frozenset(n for n, e, m in zip(names, expr, mapped) if e and m))
            exc[nt], inh[nt] = sets
    return ReceptorExpression(exc=exc, inh=inh, profiled=frozenset(n for n, m in zip(names, mapped) if m), genes=genes)


def sign_map() -> tuple[tuple[str, ...], np.ndarray]:
    """``NeuroAtlas.get_chemical_synapse_sign()`` as installed: names and signs (3, N, N)
    ``[transmitter (Glu, ACh, GABA), post, pre]``: +1, -1, 0 (both receptor kinds), NaN."""
    na = _neuroatlas()
    with _quiet():
        s = na.get_chemical_synapse_sign()
    return tuple(cect_name(str(n)) for n in na.neuron_ids), np.asarray(s)


@functools.lru_cache(maxsize=1)
def extrasynaptic() -> tuple[tuple[str, str, str, str, str], ...]:
    """Bentley et al. 2016 extrasynaptic edges ``(pre, post, transmitter, receptor, kind)``
    with ``kind`` ``monoamine`` or ``neuropeptide``; self-edges dropped."""
    out = []
    for kind, fname in (("monoamine", "esconnectome_monoamines_Bentley_2016.csv"),
                        ("neuropeptide", "esconnectome_neuropeptides_Bentley_2016.csv")):
        path = data_dir() / fname
        if not path.is_file():
            raise NeurophantomError(f"wormneuroatlas data file missing: {path}")
        for line in path.read_text().splitlines()[1:]:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 4 or not parts[0]:
                continue
            pre, post = cect_name(parts[0]), cect_name(parts[1])
            if pre != post:
                out.append((pre, post, parts[2], parts[3], kind))
    return tuple(sorted(set(out)))
