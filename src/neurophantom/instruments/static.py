"""``scan(specimen, config, seed=)``: the one entry point of the static instruments.

It draws everything random once, from ``SeedSequence(seed, spawn_key=(stream, ...))``:
which molecules are labelled, the expansion distortion, the barcode losses and
registration shifts, the damage; builds a :class:`~.forward.ForwardPlan`; and returns a
:class:`~neurophantom.types.scan.Scan` whose images are lazy (computed chunk by chunk when
saved or read). The Scan carries no ground truth.
"""

from __future__ import annotations

from typing import Annotated, Union

import numpy as np
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .._errors import NeurophantomError
from ..types.scan import ChannelInfo, Scan
from .codebook import design_parallel_codebook, design_serial_codebook
from .damage import draw_damage
from .distortion import Distortion
from .em import ElectronMicroscope
from .exm import ExpansionLightSheet
from .forward import ChannelPlan, ForwardPlan, MoleculeIndex, images, lost_mask
from .grid import ScanGrid
from .labelling import label_molecules
from .parallel import ParallelBarcode, crosstalk_matrix, parallel_amplitudes, parallel_channels, true_crosstalk
from .serial import SerialBarcode, registration_shifts, serial_amplitudes, serial_channels
from .specimen import Specimen
from .synchrotron import Synchrotron

InstrumentConfig = Annotated[Union[ExpansionLightSheet, Synchrotron, ElectronMicroscope], Field(discriminator="instrument")]

#: spawn_key namespaces (the detector uses 1, damage 2: see camera.py, damage.py).
STREAM_LABEL, STREAM_DISTORTION, STREAM_BARCODE = 3, 4, 5

#: Default chunk (z, y, x) of scan images: a multiple of the noise tile.
DEFAULT_CHUNKS = (128, 128, 128)


def instrument_config(data: dict) -> InstrumentConfig:
    """Validate an instrument config from a dict (``{"instrument": "exm", ...}``)."""
    try:
        return TypeAdapter(InstrumentConfig).validate_python(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise NeurophantomError(f"instrument config {where}: {err['msg']}") from None


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(stream,)))


def _displaced(pos: np.ndarray, distortion: Distortion | None, damage) -> np.ndarray:
    """Molecule positions after expansion distortion and section misalignment."""
    out = pos.copy()
    if distortion is not None and pos.shape[0]:
        out += distortion.at_points(pos)
    if damage.section_shifts_nm.shape[0] and pos.shape[0]:
        out[:, 1:] += damage.shift_at_z(pos[:, 0])
    return out


def _barcode(spec: Specimen, cfg: ExpansionLightSheet, photons: np.ndarray, seed: int):
    """Channels, channel plans, amplitudes, codebook and derived numbers of a barcode readout."""
    bc = cfg.barcode
    rng = _rng(seed, STREAM_BARCODE)
    bg = cfg.background_photons
    if isinstance(bc, SerialBarcode):
        book = design_serial_codebook(spec.proteins, bc.rounds, bc.colors, bc.min_distance)
        amps = serial_amplitudes(book.codewords[spec.molecule_protein], photons, bc, rng)
        shifts = registration_shifts(bc, rng)  # hidden: a lab registers its rounds itself
        plans = [ChannelPlan(0.0, bg, r * bc.colors + c, tuple(shifts[r])) for r in range(bc.rounds) for c in range(bc.colors)]
        return serial_channels(bc), plans, amps, book, {}
    book = design_parallel_codebook(spec.proteins, bc.fluorophores, bc.per_tag, bc.min_distance)
    x_true = true_crosstalk(bc, rng)
    amps = parallel_amplitudes(book.codewords[spec.molecule_protein], photons, bc, x_true, rng)
    plans = [ChannelPlan(0.0, bg, f) for f in range(bc.fluorophores)]
    derived = {"crosstalk_matrix": crosstalk_matrix(bc.fluorophores, bc.crosstalk).tolist()}
    return parallel_channels(bc), plans, amps, book, derived


def _channels(spec: Specimen, cfg, labelled: np.ndarray, seed: int):
    """(channel records, channel plans, amplitudes or None, codebook or None, derived)."""
    if isinstance(cfg, ExpansionLightSheet):
        infos = [ChannelInfo("membrane", "membrane")]
        plans = [ChannelPlan(cfg.membrane_photons, cfg.background_photons)]
        if cfg.barcode is None or not spec.proteins:
            if cfg.barcode is not None:
                raise NeurophantomError("barcodes need molecules, but the specimen has no protein types")
            return infos, plans, None, None, {}
        photons = cfg.punctum_photons * labelled
        b_infos, b_plans, amps, book, derived = _barcode(spec, cfg, photons, seed)
        return infos + b_infos, plans + b_plans, amps, book, derived
    if isinstance(cfg, Synchrotron):
        infos = [ChannelInfo("membrane", "membrane")]
        plans = [ChannelPlan(-cfg.membrane_contrast * cfg.flux_photons, cfg.flux_photons)]
        amps = np.zeros((spec.molecule_pos_nm.shape[0], len(cfg.tags)))
        for i, tag in enumerate(cfg.tags):
            if tag not in spec.proteins:
                raise NeurophantomError(f"tag {tag!r} is not a protein of this specimen (proteins: {', '.join(spec.proteins) or 'none'})")
            amps[:, i] = cfg.tag_photons * labelled * (spec.molecule_protein == spec.proteins.index(tag))
            infos.append(ChannelInfo(f"tag_{tag}", "tag", protein=tag))
            plans.append(ChannelPlan(0.0, cfg.tag_background, i))
        return infos, plans, (amps if cfg.tags else None), None, {}
    infos = [ChannelInfo("membrane", "membrane")]
    plans = [ChannelPlan(-cfg.membrane_contrast * cfg.dose_electrons, cfg.dose_electrons)]
    return infos, plans, None, None, {}


def build_plan(spec: Specimen, cfg, *, seed: int):
    """The forward plan of a scan and what the Scan records beside its images."""
    grid = ScanGrid.covering(spec.extent_nm, cfg.voxel_size_nm)
    m = spec.molecule_pos_nm.shape[0]
    eff = getattr(cfg, "labelling_efficiency", 0.0)
    labelled = label_molecules(m, eff, _rng(seed, STREAM_LABEL)).astype(np.float64)
    dist_nm = getattr(cfg, "distortion_nm", 0.0)
    distortion = (Distortion.random(dist_nm, cfg.distortion_length_nm, _rng(seed, STREAM_DISTORTION))
                  if dist_nm > 0 else None)
    damage = draw_damage(cfg.damage, spec.extent_nm, seed)
    infos, plans, amps, book, derived = _channels(spec, cfg, labelled, seed)
    molecules = None
    if amps is not None and m:
        molecules = MoleculeIndex.build(_displaced(spec.molecule_pos_nm, distortion, damage), grid)
    plan = ForwardPlan(
        grid=grid, channels=tuple(plans), psf_sigma_nm=tuple(cfg.psf_sigma_nm), labels=spec.labels,
        specimen_shape=spec.shape, specimen_voxel_nm=spec.voxel_size_nm, molecules=molecules,
        amplitudes=amps, distortion=distortion, damage=damage, shot_noise=cfg.shot_noise,
        read_noise_e=cfg.read_noise_e, seed=int(seed),
    )
    # Only what the instrument's operator knows goes on record: no molecule counts, no
    # drawn shifts or distortions (ground truth stays with the specimen).
    derived = {"voxel_size_nm": list(grid.voxel_size_nm), "psf_sigma_nm": list(plan.psf_sigma_nm),
               "membrane_contrast": "bright" if plans[0].membrane_gain >= 0 else "dark", **derived}
    return plan, infos, book, derived


def scan(specimen, config, *, seed: int = 0, chunks=DEFAULT_CHUNKS, region=None) -> Scan:
    """Image a specimen (a :class:`Specimen` or a Phantom) with a static instrument.

    Parameters
    ----------
    specimen : Specimen or Phantom
        What to image.
    config : ExpansionLightSheet, Synchrotron, ElectronMicroscope or dict
        The instrument (a dict is validated by :func:`instrument_config`).
    seed : int
        Seed of every random draw; the same seed gives the same Scan.
    chunks : (z, y, x)
        Chunk shape of the lazy images; the result does not depend on it.
    region : ((z0, y0, x0), (z1, y1, x1)), optional
        Image only this box of specimen voxels; the Scan's ``origin_nm`` places it.

    Returns
    -------
    Scan
        Lazy images plus the instrument's record (time, damage, codebook).
    """
    if isinstance(config, dict):
        config = instrument_config(config)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise NeurophantomError(f"seed must be a non-negative integer, got {seed!r}")
    if len(tuple(chunks)) != 3 or any(int(c) < 1 for c in chunks):
        raise NeurophantomError(f"chunks must be 3 positive ints (z, y, x), got {chunks}")
    spec = specimen if isinstance(specimen, Specimen) else Specimen.from_phantom(specimen)
    origin = (0.0, 0.0, 0.0)
    if region is not None:
        spec, origin = spec.crop(*region)
    plan, infos, book, derived = build_plan(spec, config, seed=int(seed))
    mask, lost_fraction = None, 0.0
    if plan.damage.loses_tissue:
        mask = lost_mask(plan, chunks)
        lost_fraction = float(mask.mean().compute())
    cfg_json = config.model_dump(mode="json")
    cfg_json["derived"] = derived
    return Scan(
        images=images(plan, chunks), channels=tuple(infos), voxel_size_nm=plan.grid.voxel_size_nm,
        instrument=config.instrument, config=cfg_json,
        instrument_seconds=float(config.instrument_seconds(spec.volume_um3)),
        lost_fraction=lost_fraction, lost_mask=mask, lost_regions=tuple(plan.damage.regions()),
        codebook=book, seed=int(seed), origin_nm=origin, provenance=dict(spec.source),
    )
