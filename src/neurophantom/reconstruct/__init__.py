"""Reconstruction: from scans back to the membrane-protein-density-annotated hypergraph.

``reconstruct(scan, ReconstructConfig(...)) -> Reconstruction`` (its ``circuit`` is the
recovered Circuit). Stages, one file each: :mod:`.membrane` and :mod:`.segment`
(boundaries, lumens, agglomeration, seeded flooding, cleanup; chunked with halos and
stitched), :mod:`.contacts`, :mod:`.puncta` (barcode decoding per punctum, using
:mod:`.barcodes`), :mod:`.synapses`, :mod:`.morphology` (kimimaro skeletons),
:mod:`.assemble`; :mod:`.pipeline` runs them. Nothing here reads ground truth.
"""

from .config import DecodeConfig as DecodeConfig
from .config import MorphologyConfig as MorphologyConfig
from .config import ReconstructConfig as ReconstructConfig
from .config import SegmentationConfig as SegmentationConfig
from .config import SynapseConfig as SynapseConfig
from .pipeline import Reconstruction as Reconstruction
from .pipeline import Stages as Stages
from .pipeline import reconstruct as reconstruct
