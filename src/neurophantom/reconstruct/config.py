"""ReconstructConfig: every knob of :func:`~neurophantom.reconstruct.reconstruct`, validated.

One small config per stage, gathered in :class:`ReconstructConfig`. Lengths are in
specimen nanometres (the Scan's frame, before any rescaling to biology), volumes in
specimen um^3; ``geometry_scale`` converts areas to biological um^2 in the recovered
Circuit (areas divided by ``geometry_scale**2``, densities multiplied by it).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .glia import GLIA_MARKERS

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SegmentationConfig(BaseModel):
    """Membrane channel -> neurons (see :mod:`neurophantom.reconstruct.segment`).

    Parameters
    ----------
    smooth_sigma_nm : float or None
        Gaussian smoothing of the membrane channel before thresholding (0 = none).
        ``None`` (auto): half the smallest voxel edge when the channel is noisy (its
        background noise exceeds 0.5% of the membrane contrast), else none.
    threshold : float or None
        Membrane call at this fraction of the way from the background level to the
        membrane level (both estimated from the whole volume's histogram). ``None``
        (auto): 0.45 on the raw channel, 0.40 after smoothing (smoothing lowers thin
        membranes more than the blur around them).
    leak_guard : "strict", "open" or "none"
        How a dim membrane voxel is kept from draining a lumen into the extracellular
        space. ``"strict"`` (default): the extracellular space is the dark space that
        reaches the volume's faces through voxels darker than ``ecs_threshold`` (a dim
        membrane voxel, above it, seals the lumen), plus the one-voxel rim of dark voxels
        around it, which is removed from the lumens; lumens of any thickness survive a
        leak. ``"open"``: the extracellular space is opened (eroded by one voxel, lumens
        grown back), so that one or two noisy voxels in a one-voxel membrane do not join a
        lumen to it; a lumen that leaked and is thinner than three voxels is lost (in dense
        neuropil under blur this split whole neurons into dozens of segments).
        ``"none"``: neither.
    ecs_threshold : float
        For ``leak_guard="strict"``: fraction of the way from background to membrane level
        below which a voxel is certainly not membrane; below ``threshold``.
    min_lumen_um3 : float
        Dark enclosed regions smaller than this are noise, not a neuron's interior.
    min_bridge_voxels : int
        Two lumens are one neuron when at least this many membrane voxels touch both
        (a single membrane between them; two neurons are two membranes apart, but where
        one of them falls below the threshold at a contact a single voxel can touch both:
        at 1 the context-decision task world's held-out scan merged two neurons at their
        synapse, at 2 all 79 are separate and the other scans measured are unchanged; 2
        is not the default yet because with it the closed-loop test world's fit ended
        elsewhere, emulation r 0.64 under its shuffled control's 0.68 - see stop 27).
    flood_nm : float
        How far (geodesic, through membrane) a lumen claims membrane voxels.
    min_segment_um3 : float
        Membrane fragments beyond ``flood_nm`` of any lumen become their own segment
        when at least this large, else background.
    """

    model_config = _FROZEN
    method: Literal["lumen"] = "lumen"
    smooth_sigma_nm: Optional[float] = Field(None, ge=0.0)
    threshold: Optional[float] = Field(None, gt=0.0, lt=1.0)
    leak_guard: Literal["strict", "open", "none"] = "strict"
    ecs_threshold: float = Field(0.2, gt=0.0, lt=1.0)
    min_lumen_um3: float = Field(4e-4, ge=0.0)
    min_bridge_voxels: int = Field(1, ge=1)
    flood_nm: float = Field(320.0, gt=0.0)
    min_segment_um3: float = Field(2e-3, ge=0.0)

    @model_validator(mode="after")
    def _ecs_below_membrane(self) -> "SegmentationConfig":
        if self.leak_guard == "strict" and self.threshold is not None and self.ecs_threshold >= self.threshold:
            raise ValueError(f"ecs_threshold ({self.ecs_threshold}) must be below threshold ({self.threshold})")
        return self


class SynapseConfig(BaseModel):
    """Contacts -> synapses and gap junctions (see :mod:`neurophantom.reconstruct.synapses`).

    Parameters
    ----------
    min_contact_faces : int
        Contacts with fewer voxel faces are ignored.
    patch_gap_vox : float
        Contact faces of one pair of segments closer than this many voxels (measured in
        voxel units, so anisotropic grids link the same neighbours) form one contact
        patch; 1.5 joins faces that share an edge.
    release_site_path_nm : float
        Contact patches of one presynaptic segment joined by a path shorter than this
        inside that segment form one release site (a polyadic synapse: one bouton touching
        several partners; separate boutons of one axon are farther apart along it).
    receptor_radius_nm : float
        Receptor puncta within this distance of a contact patch belong to it.
    thickness_probe_nm : float
        Without receptor labels, the presynaptic side is the thinner neurite within this
        distance of the contact (boutons sit on axons, which are thinner than dendrites).
    arbor_direction : bool
        Direct contacts between an axon and a dendrite or soma by the arbors' polarity
        (:mod:`neurophantom.reconstruct.arbors`) before the receptor or thickness rule.
    arbor_one_sided : bool
        Also direct a contact whose one side is a known arbor and whose other side is a
        segment the arbors cannot classify (a neuron whose axon touches its own dendrite
        leaves one connected arbor around its soma): a dendrite or soma there is the
        postsynaptic side, an axon the presynaptic one. On the task world 13 of 77
        neurons are such, and the receptor rule reversed 74 of the 379 contacts they make.
    arbor_soma_clearance : float
        Arbors are the pieces of a segment outside a ball of this many soma radii.
    arbor_min_voxels : int
        Smaller pieces are not judged (stubs, bits cut by the ball).
    gap_junctions : "auto", "connexin", "thickness" or "none"
        How electrical contacts are told from chemical ones: connexin puncta on both
        sides, two neurites of similar thickness, or never. ``"auto"``: connexins when
        the barcodes include them, thickness when the scan has no barcodes, else none.
    gap_thickness_ratio : float
        ``"thickness"`` rule: a contact whose sides differ less than this ratio is electrical.
    gap_one_sided : bool
        ``"thickness"`` rule: whether a contact the arbors direct from one side only (a
        dendrite or axon against a segment they cannot classify) may still be called
        electrical. Off (default): the one-sided call's own premise (the unknown side is
        the axon a dendrite receives from, or the target an axon sends to) makes it
        chemical, and only contacts with no arbor call at all are tested. On the task
        world's receptor-blind scan (no gap junctions in the truth) "on" called 419 of
        2432 chemical contacts electrical, "off" none; on a 30-neuron worm both find the
        same 69 of 79 junctions.
    gap_connexins_per_um2 : float
        Without connexin labels, a gap junction's channel count is its area times this
        packing density (connexons ~9-10 nm apart: Unwin & Zampighi 1980, Nature 283:545).
    lost_margin_nm : float
        Contacts this close to lost tissue have unknown receptors.
    """

    model_config = _FROZEN
    min_contact_faces: int = Field(1, ge=1)
    patch_gap_vox: float = Field(1.5, gt=0.0)
    release_site_path_nm: float = Field(400.0, ge=0.0)
    receptor_radius_nm: float = Field(120.0, gt=0.0)
    thickness_probe_nm: float = Field(400.0, gt=0.0)
    arbor_direction: bool = True
    arbor_one_sided: bool = True
    arbor_soma_clearance: float = Field(1.5, ge=1.0)
    arbor_min_voxels: int = Field(200, ge=1)
    gap_junctions: Literal["auto", "connexin", "thickness", "none"] = "auto"
    gap_thickness_ratio: float = Field(1.25, ge=1.0)
    gap_one_sided: bool = False
    gap_connexins_per_um2: float = Field(1.0e4, gt=0.0)
    lost_margin_nm: float = Field(80.0, ge=0.0)


class DecodeConfig(BaseModel):
    """Barcode puncta -> protein counts (see :mod:`neurophantom.reconstruct.puncta`).

    Parameters
    ----------
    threshold_sd : float
        Puncta are local maxima of the summed barcode signal above this many standard
        deviations of the background noise.
    min_molecule_fraction : float
        ... and above this fraction of one molecule's summed photons.
    single_max : float
        A punctum holding fewer molecules than this (photons / photons per molecule) is
        decoded as one molecule (colour calls or unmixing, then the nearest codeword);
        brighter ones as a mixture (non-negative least squares on the codeword spectra).
    margin : float
        Parallel barcodes: unknown when the runner-up conjugate is within this relative margin.
    erasure_fraction : float
        Serial barcodes: a round darker than this fraction of its expected brightness is
        an erasure.
    basin_dilation_vox : int
        A punctum's photons are summed over its voxels above the threshold grown by this
        many voxels (0: above the threshold only, which loses the dim edge of every
        punctum and biases every count low: on the task world's held-out scan, molecules
        found per molecule present were 0.93 AMPA, 0.89 GABA-A, 0.83 leak with 0, 1.04,
        1.02, 0.98 with 1; per-synapse relative error unchanged, 0.19).
    """

    model_config = _FROZEN
    threshold_sd: float = Field(5.0, gt=0.0)
    min_molecule_fraction: float = Field(1e-5, gt=0.0, lt=1.0)
    single_max: float = Field(1.5, gt=0.5)
    margin: float = Field(0.1, ge=0.0, lt=1.0)
    erasure_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    basin_dilation_vox: int = Field(1, ge=0, le=3)


class MorphologyConfig(BaseModel):
    """Skeletons and features (see :mod:`neurophantom.reconstruct.morphology`).

    Parameters
    ----------
    skeletons : bool
        Trace skeletons with kimimaro (TEASAR); without them cable length and branch
        counts are NaN.
    teasar_scale, teasar_const_nm : float
        TEASAR invalidation ball ``r = scale * radius + const`` (Sato et al. 2000;
        kimimaro's ``scale`` and ``const``).
    fix_branching : bool
        kimimaro's branch-point repair: each new TEASAR path is joined to the nearest
        point of the skeleton so far (``dijkstra3d.railroad``) rather than followed down
        the root's shortest-path tree. Each repair is a Dijkstra over the segment's whole
        bounding box, so it costs ~1 s per branch on a densely wired 132-Mvoxel volume
        where every neurite spans the volume (the task world: 48 s with it, 11 s without, for 8 neurons).
        Measured on 8 task-world and 24 organoid segments, turning it off changed cable
        length by 0.5-1.3% (median), branch and terminal counts not at all (median;
        correlation 0.99), mean radius by 0.04%; so it is off by default.
    cable_smoothing_vertices : int
        Cable length is measured on each unbranched run after a moving average over this
        many vertices on each side (0: the raw voxel-to-voxel polyline, ~15% long on thin
        neurites; see :mod:`neurophantom.reconstruct.morphology`).
    cell_type_clusters : int
        0: every cell type is ``"unknown"``; k > 0: k-means of standardised morphology
        features (soma radius, cable length, mean radius, branch points) names types
        ``"cluster0"`` ... (seeded by ``cluster_seed``).
    """

    model_config = _FROZEN
    skeletons: bool = True
    teasar_scale: float = Field(1.5, gt=0.0)
    teasar_const_nm: float = Field(300.0, ge=0.0)
    fix_branching: bool = False
    cable_smoothing_vertices: int = Field(2, ge=0, le=50)
    cell_type_clusters: int = Field(0, ge=0)
    cluster_seed: int = Field(0, ge=0)


class GliaCallConfig(BaseModel):
    """Segments -> astrocytes (see :mod:`neurophantom.reconstruct.glia`).

    Parameters
    ----------
    markers : tuple of str
        Astrocyte membrane markers (protein names of the barcodes); a scan that labels
        none of them calls no glia.
    min_markers : float
        A segment needs at least this many decoded marker molecules ...
    marker_fraction : float
        ... and markers must be at least this fraction of its typed molecules.
    """

    model_config = _FROZEN
    markers: tuple[str, ...] = GLIA_MARKERS
    min_markers: float = Field(3.0, ge=0.0)
    marker_fraction: float = Field(0.5, gt=0.0, le=1.0)


class ReconstructConfig(BaseModel):
    """Configuration of :func:`~neurophantom.reconstruct.reconstruct`.

    Parameters
    ----------
    chunk_vox : (int, int, int)
        Chunk (z, y, x) in scan voxels; every stage works chunk by chunk with halos and
        the result does not depend on it (up to tie-breaking in puncta).
    geometry_scale : float
        Specimen length per biological length (a phantom drawn by ``tissue/`` at
        ``TissueConfig.geometry_scale``); areas are reported per biological um^2.
    release : "spike" or "na_density"
        Release mode of recovered neurons: always ``"spike"`` (the default: the scan does
        not show it), or ``"graded"`` where a channel-barcoded scan shows a sodium
        channel density below ``graded_na_below_per_um2``.
    glia : GliaCallConfig
        Which segments are astrocytes (set aside: not neurons, no synapses).
    max_lost_boundary_fraction : float
        A neuron with more of its surface against lost tissue has unknown channels.
    channel_shrinkage : bool
        Channel densities are empirical-Bayes posterior means: each neuron's counts read
        beside the population's spread (:mod:`~neurophantom.reconstruct.shrinkage`);
        False: each neuron's own counts alone.
    shrinkage_min_neurons : int
        Fewer neurons with every channel type counted: no shrinkage.
    receptor_types, channel_types : tuple of str, optional
        Density columns of the recovered Circuit. Default: the barcoded proteins of each
        kind, or (no barcodes) every type of the biophysics library, all unknown.
    """

    model_config = _FROZEN
    chunk_vox: tuple[int, int, int] = (128, 128, 128)
    geometry_scale: float = Field(1.0, gt=0.0, le=10.0)
    segmentation: SegmentationConfig = SegmentationConfig()
    synapses: SynapseConfig = SynapseConfig()
    decoding: DecodeConfig = DecodeConfig()
    morphology: MorphologyConfig = MorphologyConfig()
    glia: GliaCallConfig = GliaCallConfig()
    release: Literal["spike", "na_density"] = "spike"
    graded_na_below_per_um2: float = Field(5.0, ge=0.0)
    max_lost_boundary_fraction: float = Field(0.25, ge=0.0, le=1.0)
    channel_shrinkage: bool = True
    shrinkage_min_neurons: int = Field(12, ge=3)
    receptor_types: Optional[tuple[str, ...]] = None
    channel_types: Optional[tuple[str, ...]] = None

    @field_validator("chunk_vox")
    @classmethod
    def _chunks(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if not all(16 <= int(c) <= 1024 for c in v):
            raise ValueError(f"chunk_vox entries must be in 16..1024 voxels, got {v}")
        return v
