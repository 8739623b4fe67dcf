"""The random streams of a scan.

Every random draw of a scan comes from ``SeedSequence(seed, spawn_key=(stream, *key))``
with one ``stream`` namespace per purpose below, so draws never share numbers, adding a
draw to one purpose never shifts another, and the same seed gives the same scan.
"""

from __future__ import annotations

import numpy as np

DETECTOR = 1  # shot and read noise, keyed further by (channel, tile z, tile y, tile x)
DAMAGE = 2  # holes, lost slabs, section shifts, keyed further by the damage's index
LABEL = 3  # which molecules carry a tag
DISTORTION = 4  # the expansion distortion field
BARCODE = 5  # barcode losses, registration shifts, spectra and brightness


def stream_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    """The Generator of ``stream`` (and optional sub-key) under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(stream), *(int(k) for k in key))))
