"""The nouns every stage shares: Circuit, Stimulus, Recording (Phantom and Scan join later)."""

from .circuit import Circuit as Circuit
from .circuit import Provenance as Provenance
from .circuit_views import to_networkx as to_networkx
from .circuit_views import weight_matrix as weight_matrix
