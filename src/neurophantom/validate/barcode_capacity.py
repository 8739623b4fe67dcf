"""Barcode capacity: how many protein types a barcode scheme tells apart, at what error.

A molecule-level Monte Carlo of the instrument and the decoder that the pipeline itself
uses, without rendering a volume:

1. the code: a lexicode of the barcode shape at ``min_distance``
   (:mod:`neurophantom.instruments.codebook`) over a protein library of
   ``library_types`` (the real channel and receptor types, then synthetic ones that
   compete for codewords); a code with fewer codewords than the library encodes only
   its first ``codewords`` types;
2. molecules: ``molecules_per_type`` of every encoded type, each labelled with
   probability ``labelling_efficiency`` (:func:`~neurophantom.instruments.labelling.label_molecules`);
   what each shows in every barcode channel comes from the instrument's own readout
   (:func:`~neurophantom.instruments.serial.serial_amplitudes`: per-round brightness
   loss, per-round sample loss, washout;
   :func:`~neurophantom.instruments.parallel.parallel_amplitudes`: crosstalk, brightness
   variation, reference-spectrum error);
3. the detector, per punctum: all of a molecule's photons fall in its readout window
   (the voxels within two PSF standard deviations of the run's barcoded expansion
   light-sheet: 11x, 40 nm specimen voxels), which also collects background; counts are Poisson
   plus Gaussian read noise per voxel, and the window's mean background is subtracted,
   as the reconstruction does. A punctum is found when its brightest voxel (the PSF's
   central fraction of its photons) stands ``threshold_sd`` noise standard deviations
   above the summed channels' background (the reconstruction's detection rule);
4. decoding with the reconstruction's decoder
   (:func:`~neurophantom.reconstruct.puncta.decode_vectors`: single molecules by colour
   calls and bounded-distance decoding, or NNLS unmixing and the nearest conjugate).

Outcome per labelled molecule: right type, wrong type, undecided ("unknown") or missed
(not found). Rates are per labelled molecule; ``molecule_recall`` is per molecule
(labelled or not). A type is *distinguishable* when its own molecules are typed right
at least ``1 - max_error`` of the time and at most ``max_error`` of the molecules
called that type belong to another. Registration between rounds is taken as corrected.

References
----------
Chen KH et al. (2015) Spatially resolved, highly multiplexed RNA profiling in single
cells. Science 348:aaa6090 (error-robust codes, per-molecule decoding error).
Eng C-HL et al. (2019) Transcriptome-scale super-resolved imaging in tissues by RNA
seqFISH+. Nature 568:235-239 (colours x rounds as the capacity of serial barcodes).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import erf

from .._errors import NeurophantomError
from ..instruments.codebook import (
    combinatorial_bound,
    design_parallel_codebook,
    design_serial_codebook,
    protein_library,
)
from ..instruments.exm import ExpansionLightSheet
from ..instruments.labelling import label_molecules
from ..instruments.parallel import ParallelBarcode, crosstalk_matrix, parallel_amplitudes, true_crosstalk
from ..instruments.serial import SerialBarcode, serial_amplitudes
from ..reconstruct.config import DecodeConfig
from ..reconstruct.puncta import MIXTURE, codebook_signature_model, decode_vectors
from ..types.scan import Codebook

_EXM = ExpansionLightSheet()
_SERIAL = SerialBarcode()
_PARALLEL = ParallelBarcode()


def _default(model, name: str):
    return type(model).model_fields[name].default


def psf_window(instrument: ExpansionLightSheet) -> tuple[int, float]:
    """(voxels within two PSF sigmas, fraction of a punctum's photons in its central
    voxel) of an expansion light-sheet, from its PSF and voxel (specimen nm)."""
    sig = np.asarray(instrument.psf_sigma_nm, dtype=np.float64)
    vox = np.asarray(instrument.voxel_size_nm, dtype=np.float64)
    window = int(np.prod(2 * np.ceil(2.0 * sig / vox) + 1))
    peak = float(np.prod(erf(vox / (2.0 * math.sqrt(2.0) * sig))))
    return window, peak


class BarcodeTrial(BaseModel):
    """One barcode configuration and its imaging conditions (defaults: the instrument's).

    ``colors`` and ``rounds`` shape a serial code (one of ``colors`` per round);
    ``fluorophores`` and ``per_tag`` a parallel one. Loss, photon and noise settings
    are the instrument's own (:class:`~neurophantom.instruments.exm.ExpansionLightSheet`,
    :class:`~neurophantom.instruments.serial.SerialBarcode`,
    :class:`~neurophantom.instruments.parallel.ParallelBarcode`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    scheme: Literal["serial", "parallel"] = "serial"
    colors: int = Field(4, ge=2, le=16)
    rounds: int = Field(4, ge=1, le=32)
    fluorophores: int = Field(8, ge=2, le=32)
    per_tag: int = Field(3, ge=1)
    min_distance: int = Field(1, ge=1)
    library_types: int = Field(64, ge=1, le=4096)
    molecules_per_type: int = Field(200, ge=1, le=100_000)
    signal_loss: float = Field(_default(_SERIAL, "signal_loss"), ge=0.0, lt=1.0)
    degradation: float = Field(_default(_SERIAL, "degradation"), ge=0.0, lt=1.0, description="per-round sample loss")
    washout: float = Field(_default(_SERIAL, "washout"), ge=0.0, lt=1.0)
    crosstalk: float = Field(_default(_PARALLEL, "crosstalk"), ge=0.0, lt=1.0)
    brightness_cv: float = Field(_default(_PARALLEL, "brightness_cv"), ge=0.0)
    unmixing_error: float = Field(_default(_PARALLEL, "unmixing_error"), ge=0.0)
    labelling_efficiency: float = Field(_default(_EXM, "labelling_efficiency"), ge=0.0, le=1.0)
    punctum_photons: float = Field(_default(_EXM, "punctum_photons"), gt=0.0)
    background_photons: float = Field(_default(_EXM, "background_photons"), ge=0.0)
    read_noise_e: float = Field(_default(_EXM, "read_noise_e"), ge=0.0)
    #: The optics of the run's barcoded scan (pipeline/config.py): 11x expansion, 440 nm
    #: camera voxels (40 nm in the specimen), the light-sheet's default PSF.
    expansion: float = Field(11.0, ge=4.0, le=20.0)
    camera_voxel_nm: float = Field(440.0, gt=0.0)
    max_error: float = Field(0.05, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _shape(self) -> "BarcodeTrial":
        if self.scheme == "serial" and self.min_distance > self.rounds:
            raise ValueError(f"min_distance {self.min_distance} exceeds rounds {self.rounds}")
        if self.scheme == "parallel":
            if self.per_tag >= self.fluorophores:
                raise ValueError(f"per_tag {self.per_tag} must be < fluorophores {self.fluorophores}")
            if self.min_distance > 2 * self.per_tag:
                raise ValueError(f"min_distance {self.min_distance} exceeds 2 * per_tag = {2 * self.per_tag}")
        return self

    @property
    def window(self) -> tuple[int, float]:
        """(readout window voxels, central-voxel fraction) of a punctum (:func:`psf_window`)."""
        return psf_window(ExpansionLightSheet(expansion=self.expansion, camera_voxel_nm=(self.camera_voxel_nm,) * 3))

    @property
    def shape(self) -> dict[str, int]:
        if self.scheme == "serial":
            return {"rounds": self.rounds, "colors": self.colors}
        return {"fluorophores": self.fluorophores, "per_tag": self.per_tag}

    def barcode(self) -> SerialBarcode | ParallelBarcode:
        if self.scheme == "serial":
            return SerialBarcode(rounds=self.rounds, colors=self.colors, min_distance=self.min_distance,
                                 signal_loss=self.signal_loss, degradation=self.degradation, washout=self.washout,
                                 registration_nm=0.0)
        return ParallelBarcode(fluorophores=self.fluorophores, per_tag=self.per_tag, min_distance=self.min_distance,
                               crosstalk=self.crosstalk, brightness_cv=self.brightness_cv, unmixing_error=self.unmixing_error)


def real_protein_types() -> tuple[str, ...]:
    """The molecular library's channel and receptor types (the real ones of a library)."""
    from ..biophysics import preset

    lib = preset("default")
    return tuple(lib.channels) + tuple(lib.receptors)


def design_code(trial: BarcodeTrial) -> tuple[Codebook, int, int | None]:
    """(codebook over the library's first encodable types, combinatorial bound, full
    lexicode size or None when not enumerated)."""
    library = protein_library(real_protein_types(), trial.library_types)
    bound = combinatorial_bound(trial.scheme, **trial.shape)
    if trial.scheme == "serial":
        size = design_serial_codebook(library[:1], trial.rounds, trial.colors, trial.min_distance).capacity
        n = trial.library_types if size is None else min(trial.library_types, size)
        book = design_serial_codebook(library[:n], trial.rounds, trial.colors, trial.min_distance)
    else:
        size = design_parallel_codebook(library[:1], trial.fluorophores, trial.per_tag, trial.min_distance).capacity
        n = min(trial.library_types, size)
        book = design_parallel_codebook(library[:n], trial.fluorophores, trial.per_tag, trial.min_distance)
    if len(book.proteins) > bound:  # pragma: no cover - a lexicode is a set of distinct words
        raise NeurophantomError(f"code of {len(book.proteins)} words exceeds the {bound} words of its shape")
    return book, bound, size


def simulate_readout(book: Codebook, trial: BarcodeTrial, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each molecule's true type, labelled flag and background-subtracted punctum vector."""
    k = len(book.proteins)
    true = np.repeat(np.arange(k), trial.molecules_per_type)
    m = true.size
    labelled = label_molecules(m, trial.labelling_efficiency, rng)
    photons = trial.punctum_photons * labelled
    bc = trial.barcode()
    if isinstance(bc, SerialBarcode):
        amps = serial_amplitudes(book.codewords[true], photons, bc, rng)
    else:
        amps = parallel_amplitudes(book.codewords[true], photons, bc, true_crosstalk(bc, rng), rng)
    window, _ = trial.window
    bg = window * trial.background_photons
    counts = rng.poisson(amps + bg).astype(np.float64)
    if trial.read_noise_e > 0:
        counts += rng.normal(0.0, trial.read_noise_e * math.sqrt(window), size=counts.shape)
    return {"true": true, "labelled": labelled, "vectors": counts - bg}


def decode_readout(book: Codebook, trial: BarcodeTrial, vectors: np.ndarray,
                   cfg: DecodeConfig | None = None) -> np.ndarray:
    """Called type per molecule: a type index, -1 undecided, -3 not found."""
    cfg = cfg or DecodeConfig()
    bc = trial.barcode()
    channels = tuple(range(vectors.shape[1]))
    x = crosstalk_matrix(bc.fluorophores, bc.crosstalk) if isinstance(bc, ParallelBarcode) else None
    model = codebook_signature_model(book, channels, punctum_photons=trial.punctum_photons,
                                     background_photons=trial.background_photons, read_noise_e=trial.read_noise_e,
                                     shot_noise=True, efficiency=trial.labelling_efficiency,
                                     barcode=bc.model_dump(), crosstalk=x)
    # Detection as the reconstruction does it: the summed channels' brightest voxel above
    # threshold_sd background standard deviations (and a tiny fraction of one molecule).
    sd_voxel = float(np.sqrt(np.sum(model.noise_sd ** 2)))
    tau = max(cfg.threshold_sd * sd_voxel, cfg.min_molecule_fraction * float(model.photons_per_molecule.min()))
    found = vectors.sum(axis=1) * trial.window[1] > tau
    called = np.full(vectors.shape[0], -3, dtype=np.int64)
    if found.any():
        counts, call, _ = decode_vectors(vectors[found], model, cfg)
        mixed = call == MIXTURE  # looked like >= single_max molecules: its largest count
        best = np.argmax(counts, axis=1)
        call = np.where(mixed, np.where(counts.max(axis=1) > 0, best, -1), call)
        called[found] = call
    return called


def score_readout(true: np.ndarray, labelled: np.ndarray, called: np.ndarray, n_types: int,
                  max_error: float) -> dict[str, Any]:
    """Per-molecule rates and the number of distinguishable types (see the module docstring)."""
    lab = labelled.astype(bool)
    t, c = true[lab], called[lab]
    n_lab = max(int(lab.sum()), 1)
    right = c == t
    wrong = (c >= 0) & ~right
    per_type_n = np.bincount(t, minlength=n_types)
    per_type_right = np.bincount(t[right], minlength=n_types)
    calls = np.bincount(c[c >= 0], minlength=n_types)
    calls_right = np.bincount(c[right], minlength=n_types)
    with np.errstate(invalid="ignore", divide="ignore"):
        type_error = 1.0 - per_type_right / per_type_n
        type_fdr = np.where(calls > 0, 1.0 - calls_right / np.maximum(calls, 1), 0.0)
    ok = (per_type_n > 0) & (type_error <= max_error) & (type_fdr <= max_error)
    return {
        "error_rate": float(1.0 - right.sum() / n_lab),
        "misidentified_rate": float(wrong.sum() / n_lab),
        "unknown_rate": float((c == -1).sum() / n_lab),
        "missed_rate": float((c == -3).sum() / n_lab),
        "false_call_rate": float(wrong.sum() / max(int((c >= 0).sum()), 1)),
        "molecule_recall": float(right.sum() / max(true.size, 1)),
        "types_distinguishable": int(ok.sum()),
        "per_type_error": [float(x) for x in np.nan_to_num(type_error, nan=1.0)],
    }


def barcode_capacity(trial: BarcodeTrial, seed: int, book: Codebook | None = None) -> dict[str, Any]:
    """Capacity and per-molecule decoding error of one barcode configuration.

    Returns
    -------
    dict
        ``types_distinguishable`` (never above ``types_encoded`` <= ``codewords`` <=
        ``combinatorial_bound``), ``error_rate``, ``misidentified_rate``,
        ``unknown_rate``, ``missed_rate``, ``false_call_rate``, ``molecule_recall``,
        ``codewords``, ``distance_bound``, ``combinatorial_bound``, ``types_encoded``,
        ``library_types``, ``per_type_error``.
    """
    full = None
    if book is None:
        book, bound, full = design_code(trial)
    else:
        bound = combinatorial_bound(trial.scheme, **trial.shape)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xBA5C0DE]))
    sim = simulate_readout(book, trial, rng)
    called = decode_readout(book, trial, sim["vectors"])
    out = score_readout(sim["true"], sim["labelled"], called, len(book.proteins), trial.max_error)
    out.update({
        # The full lexicode's size; a serial word space too large to enumerate reports
        # the words designed (a lower bound on what the code holds).
        "codewords": int(full if full is not None else (book.capacity or len(book.proteins))),
        "distance_bound": int(book.capacity_bound),
        "combinatorial_bound": int(bound),
        "types_encoded": len(book.proteins),
        "library_types": trial.library_types,
    })
    return out
