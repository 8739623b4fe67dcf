"""A schematic soma layout for C. elegans cells (cect ships no soma positions).

Measured soma positions live in OpenWorm's c302 cell files, which neurophantom does not
depend on (c302 pulls a 38 MB atlas package). Instead every cell is placed by rules from
its name, on an adult hermaphrodite about 1 mm long (x: anterior-posterior from the nose,
y: left(+)/right(-), z: dorsal(+)/ventral(-), all in um):

- pharyngeal neurons inside the pharynx (x 20-90 um, radius 8 um);
- ventral-cord motor neurons in their numbered order along the cord (x 180-860 um,
  ventral), VC neurons around the vulva (x 350-600 um), HSN beside it (x 500 um);
- the tail ganglia's neurons (PVx, PHx, PLM, LUA, DVx, ...) at x 900-960 um and a few
  mid-body neurons (ALM, CAN, AVM, PVM, PDE, PVD, SDQ, BDU) at their approximate
  stations (after the WormAtlas body plan; Altun & Hall);
- every other neuron in the head ganglia around the nerve ring (x 60-150 um);
- body-wall muscles (``MDL01``...``MVR24``) in four quadrants along the body, other
  muscles at the pharynx or mid-body.

Within a station a cell sits at its side (L/R, D/V from the name) on a ring of radius
15 um plus a seeded jitter of a few um, so distinct cells get distinct positions.
The layout is schematic (certainty low): good for rendering and distances between
ganglia, not for sub-ganglion geometry.
"""

from __future__ import annotations

import re

import numpy as np

_TAIL = ("PVC", "PVN", "PVP", "PVQ", "PVR", "PVT", "PVW", "PHA", "PHB", "PHC", "PLM", "PLN", "PQR",
         "LUA", "DVA", "DVB", "DVC", "PDA", "PDB", "ALN")
_MIDBODY = {"BDU": 200.0, "SDQR": 330.0, "AVM": 420.0, "ALM": 450.0, "CAN": 480.0, "HSN": 500.0,
            "SDQL": 650.0, "PVM": 720.0, "PDE": 740.0, "PVD": 760.0}
_CORD = re.compile(r"^(DA|DB|DD|VA|VB|VD|AS|VC)(\d+)$")
_BODY_WALL = re.compile(r"^M([DV])([LR])(\d+)$")
_CORD_SPAN = {"VC": (350.0, 600.0)}
_PHARYNX = (20.0, 90.0)
_HEAD = (60.0, 150.0)
_TAIL_SPAN = (900.0, 960.0)


def _side(name: str) -> tuple[float, float]:
    """(y, z) unit direction from the L/R and D/V letters of a name."""
    y = 1.0 if name.endswith("L") else -1.0 if name.endswith("R") else 0.0
    stem = name[:-1] if y else name
    z = 1.0 if stem.endswith("D") else -1.0 if stem.endswith("V") else 0.0
    if y == 0.0 and z == 0.0:
        z = -1.0  # unpaired cells sit ventrally, as most do
    return y, z


def _station(name: str, pharyngeal: set[str], cord_sizes: dict[str, int]) -> tuple[float, float, float]:
    """(x_lo_um, x_hi_um, radius_um): the span along the body a cell is placed in."""
    m = _CORD.match(name)
    if m:
        lo, hi = _CORD_SPAN.get(m.group(1), (180.0, 860.0))
        k, n = int(m.group(2)), max(cord_sizes.get(m.group(1), 1), 2)
        x = lo + (hi - lo) * (k - 1) / (n - 1)
        return x, x, 10.0
    m = _BODY_WALL.match(name)
    if m:
        x = 100.0 + 800.0 * (int(m.group(3)) - 1) / 23.0
        return x, x, 25.0
    if name in pharyngeal or name.lower().startswith("pm"):
        return (*_PHARYNX, 8.0)
    for key, x in _MIDBODY.items():
        if name.startswith(key):
            return x, x, 15.0
    if name.startswith(_TAIL):
        return (*_TAIL_SPAN, 15.0)
    return (*_HEAD, 15.0)


def soma_positions(names: list[str], pharyngeal: set[str], rng: np.random.Generator) -> np.ndarray:
    """Schematic soma positions (x, y, z) in um for cell ``names`` (see module docstring)."""
    cord_sizes: dict[str, int] = {}
    for name in names:
        m = _CORD.match(name)
        if m:
            cord_sizes[m.group(1)] = max(cord_sizes.get(m.group(1), 0), int(m.group(2)))
    out = np.zeros((len(names), 3))
    for k, name in enumerate(names):
        lo, hi, radius = _station(name, pharyngeal, cord_sizes)
        x = lo + (hi - lo) * rng.random()
        y, z = _side(name)
        norm = np.hypot(y, z)
        out[k] = (x + rng.normal(0.0, 2.0), radius * y / norm + rng.normal(0.0, 2.0), radius * z / norm + rng.normal(0.0, 2.0))
    return out
