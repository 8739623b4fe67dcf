"""neurophantom: an in-silico brain-uploading pipeline with known ground truth.

Stages follow the data: ``sources`` (ground-truth circuits) -> ``biophysics`` (Model) ->
``engine`` (activity) -> ``tissue`` -> ``instruments`` -> ``reconstruct`` -> ``identify``
-> ``validate`` -> ``report``, with ``plan`` beside.
"""

from ._errors import CorruptDataError as CorruptDataError
from ._errors import NeurophantomError as NeurophantomError
from ._errors import ValidationError as ValidationError
from .types import Circuit as Circuit
from .types import Provenance as Provenance

__version__ = "0.1.0"
