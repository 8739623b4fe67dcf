"""The nouns every stage shares: Circuit, Stimulus, Recording, Phantom and Scan.

``Phantom`` and ``Scan`` pull in dask and zarr, so they are imported on first use.
"""

from .circuit import Circuit as Circuit
from .circuit import Provenance as Provenance
from .circuit_views import to_networkx as to_networkx
from .circuit_views import weight_matrix as weight_matrix
from .recording import Recording as Recording
from .stimulus import Stimulus as Stimulus

_LAZY = {"Phantom": ".phantom", "Scan": ".scan"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
