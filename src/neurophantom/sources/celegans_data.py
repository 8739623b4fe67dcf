"""Read C. elegans connectomes and transmitter identities from ``cect``, offline.

``cect`` (the OpenWorm ConnectomeToolbox) ships the published datasets as spreadsheets
plus a JSON cache of every reader's result. :func:`load_dataset` loads a reader by the
name cect's own comparison tables use (``Cook2019Herm``, ``Witvliet8``, ``Varshney``, ...)
or by its module name (``WitvlietDataReader8``), from the cache when the reader has one
and from the shipped spreadsheets otherwise; nothing is downloaded.
:func:`transmitters` reads the neurotransmitter atlas of Wang et al. (2024) through cect's
``Wang2024Reader``.

References
----------
Cook SJ et al. (2019) Whole-animal connectomes of both Caenorhabditis elegans sexes.
Nature 571:63-71.
Witvliet D et al. (2021) Connectomes across development reveal principles of brain
maturation. Nature 596:257-261.
Varshney LR et al. (2011) Structural properties of the Caenorhabditis elegans neuronal
network. PLoS Comput Biol 7:e1001066.
Wang C et al. (2024) A neurotransmitter atlas of C. elegans males and hermaphrodites.
eLife 13:RP95402.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import io
import logging
import warnings

import numpy as np

from .._errors import NeurophantomError

#: Dataset name (as in cect's comparison pages) -> cect reader module.
DATASETS: dict[str, str] = {
    "Cook2019Herm": "cect.readers.Cook2019HermReader",
    "Cook2019Male": "cect.readers.Cook2019MaleReader",
    "Cook2020": "cect.readers.Cook2020DataReader",
    "Varshney": "cect.readers.VarshneyDataReader",
    "White_whole": "cect.readers.White_whole",
    "White_A": "cect.readers.White_A",
    "White_L4": "cect.readers.White_L4",
    "WhiteJSH": "cect.readers.DurbinJSHDataReader",
    "WhiteN2U": "cect.readers.DurbinN2UDataReader",
    **{f"Witvliet{k}": f"cect.readers.WitvlietDataReader{k}" for k in range(1, 9)},
    "Yim2024": "cect.readers.Yim2024DataReader",
    "Yim2024NonNorm": "cect.readers.Yim2024NonNormDataReader",
    "WormNeuroAtlas": "cect.readers.WormNeuroAtlasReader",
    "Wang2024Herm": "cect.readers.Wang2024HermReader",
    "Wang2024Male": "cect.readers.Wang2024MaleReader",
    "OpenWormUnified": "cect.readers.OpenWormUnifiedReader",
    "GleesonModel": "cect.readers.GleesonModelReader",
    "OlivaresModel": "cect.readers.OlivaresModelReader",
    "HaspelODonovan": "cect.readers.HaspelODonovanDataReader",
    "Brittin2021": "cect.readers.BrittinDataReader",
    "Randi2023": "cect.readers.WormNeuroAtlasFuncReader",
    "Bentley2016_MA": "cect.readers.Bentley2016MAReader",
}


@contextlib.contextmanager
def _quiet():
    """cect readers print progress and openpyxl warns about spreadsheet extensions."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.INFO)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def reader_module(name: str) -> str:
    """The cect module that reads dataset ``name`` (one-line error for an unknown name)."""
    if name in DATASETS:
        return DATASETS[name]
    if name.isidentifier() and importlib.util.find_spec(f"cect.readers.{name}") is not None:
        return f"cect.readers.{name}"
    raise NeurophantomError(f"unknown C. elegans dataset {name!r} (known: {', '.join(DATASETS)}, or a cect reader module name)")


@functools.lru_cache(maxsize=8)
def load_dataset(name: str):
    """The cect ``ConnectomeDataset`` for ``name`` (cached per process; treat as read-only)."""
    with _quiet():
        module = importlib.import_module(reader_module(name))
        if not hasattr(module, "get_instance"):
            raise NeurophantomError(f"cect module {module.__name__} is not a dataset reader")
        try:
            return module.get_instance(from_cache=True)
        except FileNotFoundError:
            # Readers without a shipped JSON cache parse the spreadsheets cect ships.
            return module.get_instance(from_cache=False)


def transmitters(male: bool = False) -> dict[str, tuple[str, ...]]:
    """Neuron name -> transmitters it releases (Wang et al. 2024 atlas; ``male`` adds the
    male-specific neurons of its second table). Read once per process."""
    return _atlas(bool(male))


@functools.lru_cache(maxsize=2)
def _atlas(male: bool) -> dict[str, tuple[str, ...]]:
    from cect.readers.Cook2019DataReader import HERMAPHRODITE, MALE
    from cect.readers.Wang2024Reader import Wang2024Reader

    with _quiet():
        reader = Wang2024Reader(MALE if male else HERMAPHRODITE)
    return {str(k): tuple(t for t in v if t is not None) for k, v in reader.all_neurotransmitters.items()}


@dataclasses.dataclass(frozen=True)
class Connections:
    """Every connection of a dataset between the chosen cells, as flat arrays.

    ``pre`` and ``post`` index ``cells``; ``number`` is cect's connection weight and
    ``synclass`` its class (``Generic_CS``, ``Generic_GJ``, or a transmitter name).
    """

    cells: tuple[str, ...]
    pre: np.ndarray
    post: np.ndarray
    number: np.ndarray
    synclass: np.ndarray
    syntype: np.ndarray


def connections(dataset, cells: list[str]) -> Connections:
    """The connections cect reports among ``cells`` (every class, both directions)."""
    index = {c: k for k, c in enumerate(cells)}
    pre, post, number, synclass, syntype = [], [], [], [], []
    for ci in dataset.get_current_connection_info_list():
        if ci.pre_cell in index and ci.post_cell in index:
            pre.append(index[ci.pre_cell])
            post.append(index[ci.post_cell])
            number.append(float(ci.number))
            synclass.append(ci.synclass)
            syntype.append(ci.syntype)
    return Connections(
        cells=tuple(cells),
        pre=np.asarray(pre, dtype=np.int64),
        post=np.asarray(post, dtype=np.int64),
        number=np.asarray(number, dtype=np.float64),
        synclass=np.asarray(synclass, dtype=object),
        syntype=np.asarray(syntype, dtype=object),
    )
