"""Glia: segments that carry a glial membrane marker are astrocytes, not neurons.

A barcoded scan that labels an astrocyte marker (the glutamate transporters GLT-1/EAAT2
and GLAST/EAAT1, the potassium channel Kir4.1; Rothstein et al. 1994; Lehre et al. 1995;
Higashi et al. 2001) shows each protoplasmic astrocyte as a segment covered in marker
puncta and nearly free of neuronal proteins. Such a segment is set aside: it is not
emulated as a neuron (it has no spiking channels a scan could count, and it would enter
the emulation as a passive ghost), its contacts are not synapses, and it is listed with
its size, position and marker count.

The call, per segment, from its own decoded puncta (``puncta.segment``, the segment that
holds most of a punctum's light): the marker molecules number at least
``min_markers`` and are at least ``marker_fraction`` of all typed molecules on the
segment (receptors at its contacts included). The fraction rule keeps a neuron with a
few marker miscalls (a decoding error, or a marker punctum whose light spills across a
membrane) a neuron; a scan without the marker in its barcodes calls no glia at all.

References
----------
Rothstein JD et al. (1994) Localization of neuronal and glial glutamate transporters.
Neuron 13:713-725.
Lehre KP, Levy LM, Ottersen OP, Storm-Mathisen J, Danbolt NC (1995) Differential
expression of two glial glutamate transporters in the rat brain. J Neurosci 15:1835-1853.
Higashi K et al. (2001) An inwardly rectifying K+ channel, Kir4.1, expressed in
astrocytes surrounds synapses and blood vessels in brain. Am J Physiol Cell Physiol
281:C922-C931.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Astrocyte membrane markers a barcode may carry (names as in the tissue's molecule
#: table): GLT-1 (EAAT2), GLAST (EAAT1), Kir4.1.
GLIA_MARKERS = ("glt1", "glast", "kir4_1")

GLIA_COLUMNS = ("id", "voxels", "volume_um3", "marker_molecules", "marker_fraction", "z_um", "y_um", "x_um")


def glia_table(rows=()) -> pd.DataFrame:
    """The glia table (columns :data:`GLIA_COLUMNS`) of ``rows`` (records), typed when empty."""
    if len(rows):
        return pd.DataFrame(list(rows), columns=list(GLIA_COLUMNS))
    return pd.DataFrame({c: np.zeros(0, np.int64 if c in ("id", "voxels") else np.float64) for c in GLIA_COLUMNS})


def glia_segments(puncta: pd.DataFrame, proteins: tuple[str, ...], segments: pd.DataFrame, voxel_nm, origin_nm,
                  markers: tuple[str, ...], min_markers: float, marker_fraction: float, efficiency: float = 1.0) -> pd.DataFrame:
    """One row per segment called an astrocyte (columns :data:`GLIA_COLUMNS`, sorted by id).

    ``puncta`` are the decoded puncta (a count column per protein of ``proteins``);
    ``segments`` the per-segment sizes and bounding boxes (:mod:`.contacts`);
    ``efficiency`` the scan's labelling efficiency (marker counts are reported as
    molecules present, like every count of the reconstruction).
    """
    present = [p for p in proteins if p in markers]
    empty = glia_table()
    if not present or len(puncta) == 0 or len(segments) == 0:
        return empty
    seg = puncta["segment"].to_numpy(dtype=np.int64)
    n = int(max(seg.max(), segments.index.max())) + 1
    marker = np.bincount(seg, weights=puncta[present].to_numpy(dtype=np.float64).sum(axis=1), minlength=n)
    typed = np.bincount(seg, weights=puncta[list(proteins)].to_numpy(dtype=np.float64).sum(axis=1), minlength=n)
    ids = segments.index.to_numpy(dtype=np.int64)
    frac = np.divide(marker[ids], typed[ids], out=np.zeros(len(ids)), where=typed[ids] > 0)
    call = (marker[ids] >= min_markers) & (frac >= marker_fraction)
    if not call.any():
        return empty
    s = segments[call]
    vs = np.asarray(voxel_nm, dtype=np.float64)
    # Position: the centroid of the segment's marker molecules (its membrane, weighted by
    # marker count), in the specimen frame.
    w = puncta[present].to_numpy(dtype=np.float64).sum(axis=1)
    xyz = (puncta[["z", "y", "x"]].to_numpy(dtype=np.float64) + 0.5) * vs
    centre = np.stack([np.bincount(seg, weights=w * xyz[:, a], minlength=n)[ids[call]] for a in range(3)], axis=1)
    centre = centre / marker[ids[call]][:, None] + np.asarray(origin_nm, dtype=np.float64)
    return pd.DataFrame({
        "id": ids[call], "voxels": s["voxels"].to_numpy(dtype=np.int64),
        "volume_um3": s["voxels"].to_numpy(dtype=np.float64) * float(np.prod(vs)) * 1e-9,
        "marker_molecules": marker[ids[call]] / efficiency, "marker_fraction": frac[call],
        "z_um": centre[:, 0] / 1000.0, "y_um": centre[:, 1] / 1000.0, "x_um": centre[:, 2] / 1000.0,
    }).sort_values("id").reset_index(drop=True)
