"""Labelling efficiency: which molecules carry a tag.

Each molecule is labelled independently with probability ``efficiency`` (a Bernoulli draw
per molecule, so the labelled count is Binomial(M, efficiency)). Antibody labelling of
expanded tissue reaches a fraction of the epitopes only; Tillberg et al. (2016) and
Gao et al. (2019) report retention and labelling well below one.

References
----------
Tillberg PW et al. (2016) Protein-retention expansion microscopy of cells and tissues
labeled using standard fluorescent proteins and antibodies. Nat Biotechnol 34:987-992.
Gao R et al. (2019) Cortical column and whole-brain imaging with molecular contrast and
nanoscale resolution. Science 363:eaau8302.
"""

from __future__ import annotations

import numpy as np

from .._errors import NeurophantomError


def label_molecules(n_molecules: int, efficiency: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask (n_molecules,) of labelled molecules, each kept with probability ``efficiency``."""
    if not 0.0 <= float(efficiency) <= 1.0:
        raise NeurophantomError(f"labelling efficiency must be in [0, 1], got {efficiency}")
    if int(n_molecules) < 0:
        raise NeurophantomError(f"number of molecules must be >= 0, got {n_molecules}")
    return rng.random(int(n_molecules)) < float(efficiency)
