"""``scan(specimen, config, seed=)``: the one entry point of the static instruments.

It draws everything random once, from the streams of :mod:`.streams`: which molecules
are labelled, the expansion distortion, the damage, and (in each instrument's
``channels`` method) the barcode losses and registration shifts. It builds a
:class:`~.forward.ForwardPlan` and returns a :class:`~neurophantom.types.scan.Scan` whose
images are lazy (computed chunk by chunk when saved or read). The Scan carries no ground
truth.
"""

from __future__ import annotations

from typing import Annotated, Union

import numpy as np
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .._errors import NeurophantomError
from ..types.scan import Scan
from .damage import draw_damage
from .distortion import Distortion
from .em import ElectronMicroscope
from .exm import ExpansionLightSheet
from .forward import ForwardPlan, MoleculeIndex, images, lost_mask
from .grid import ScanGrid
from .labelling import label_molecules
from .specimen import Specimen
from .streams import DISTORTION, LABEL, stream_rng
from .synchrotron import Synchrotron

InstrumentConfig = Annotated[Union[ExpansionLightSheet, Synchrotron, ElectronMicroscope], Field(discriminator="instrument")]

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


def _displaced(pos: np.ndarray, distortion: Distortion | None, damage) -> np.ndarray:
    """Molecule positions after expansion distortion and section misalignment."""
    out = pos.copy()
    if distortion is not None and pos.shape[0]:
        out += distortion.at_points(pos)
    if damage.section_shifts_nm.shape[0] and pos.shape[0]:
        out[:, 1:] += damage.shift_at_z(pos[:, 0])
    return out


def build_plan(spec: Specimen, cfg, *, seed: int):
    """The forward plan of a scan and what the Scan records beside its images."""
    grid = ScanGrid.covering(spec.extent_nm, cfg.voxel_size_nm)
    m = spec.molecule_pos_nm.shape[0]
    eff = getattr(cfg, "labelling_efficiency", 0.0)
    labelled = label_molecules(m, eff, stream_rng(seed, LABEL)).astype(np.float64)
    dist_nm = getattr(cfg, "distortion_nm", 0.0)
    distortion = (Distortion.random(dist_nm, cfg.distortion_length_nm, stream_rng(seed, DISTORTION))
                  if dist_nm > 0 else None)
    damage = draw_damage(cfg.damage, spec.extent_nm, seed)
    ch = cfg.channels(spec, labelled, seed)
    molecules = None
    if ch.amplitudes is not None and m:
        molecules = MoleculeIndex.build(_displaced(spec.molecule_pos_nm, distortion, damage), grid)
    plan = ForwardPlan(
        grid=grid, channels=tuple(ch.plans), psf_sigma_nm=tuple(cfg.psf_sigma_nm), labels=spec.labels,
        specimen_shape=spec.shape, specimen_voxel_nm=spec.voxel_size_nm, molecules=molecules,
        amplitudes=ch.amplitudes, distortion=distortion, damage=damage, shot_noise=cfg.shot_noise,
        read_noise_e=cfg.read_noise_e, seed=int(seed),
    )
    # Only what the instrument's operator knows goes on record: no molecule counts, no
    # drawn shifts or distortions (ground truth stays with the specimen).
    derived = {"voxel_size_nm": list(grid.voxel_size_nm), "psf_sigma_nm": list(plan.psf_sigma_nm),
               "membrane_contrast": "bright" if ch.plans[0].membrane_gain >= 0 else "dark", **ch.derived}
    return plan, list(ch.infos), ch.codebook, derived


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
