"""Tissue: fold a Circuit into a 3D specimen (Phantom).

``grow_tissue(circuit, TissueConfig(...)) -> Phantom``: somata from the Circuit's
positions (:mod:`.layout`), axons and dendrites routed on a lattice so that every synapse
and gap junction is a contact (:mod:`.routing`, :mod:`.wiring`), shapes from voxel
templates (:mod:`.geometry`), molecules on membranes (:mod:`.molecules`), the label volume
rendered lazily chunk by chunk (:mod:`.render`).
"""

from .config import TissueConfig as TissueConfig
from .grow import grow_tissue as grow_tissue
from .render import render_block as render_block
from .specimen import specimen_circuit as specimen_circuit
