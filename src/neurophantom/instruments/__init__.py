"""Virtual instruments: static scanners (expansion light-sheet, synchrotron, EM), damage, and dynamic imaging.

Static instruments: ``scan(specimen_or_phantom, config, seed=, chunks=, region=) -> Scan``
with ``config`` one of :class:`ExpansionLightSheet` (optional :class:`SerialBarcode` or
:class:`ParallelBarcode`), :class:`Synchrotron`, :class:`ElectronMicroscope`, each with
optional damage (:class:`SparseDamage`, :class:`SlabDamage`, :class:`MisalignDamage`).
Real-instrument rates live in :mod:`.specs`; the dynamic instrument in :mod:`.dynamic`.

The names below are loaded on first use, so importing :mod:`.dynamic` stays light.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "scan": "static", "instrument_config": "static", "InstrumentConfig": "static",
    "Specimen": "specimen",
    "ExpansionLightSheet": "exm", "Synchrotron": "synchrotron", "ElectronMicroscope": "em",
    "SerialBarcode": "serial", "ParallelBarcode": "parallel", "crosstalk_matrix": "parallel",
    "SparseDamage": "damage", "SlabDamage": "damage", "MisalignDamage": "damage",
    "design_serial_codebook": "codebook", "design_parallel_codebook": "codebook",
    "parse_barcode": "parse", "parse_damage": "parse",
    "gaussian_psf_sigma_nm": "psf",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
