"""``score(reconstruction, phantom) -> Score``: every reconstruction metric against the truth.

The one entry point of reconstruction validation. It reads the truth (the Phantom) and
the reconstruction, matches them by overlap (:mod:`.match`), then scores the
segmentation (:mod:`.segmentation`), the synapses and the connectome (:mod:`.connectome`)
and the molecules (:mod:`.molecules`). :meth:`Score.to_json` is one nested object;
:func:`write_figures` draws a segmentation overlay slice and the confusion matrix.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from .connectome import edge_scores, gap_scores, recovered_edges, recovered_rows, synapse_scores, truth_edges
from .match import check_frames, glia_scores, overlap, truth_block
from .molecules import molecule_scores
from .segmentation import adapted_rand, run_lengths, splits_and_merges, variation_of_information


class ScoreConfig(BaseModel):
    """Tolerances of :func:`score`.

    Parameters
    ----------
    synapse_tolerance_nm : float
        A recovered synapse matches a truth synapse whose contact centre lies this close.
    min_overlap_fraction : float
        A segment maps to the truth neuron holding at least this fraction of its voxels.
    split_fraction : float
        A neuron counts as split (a segment as merged) when each of two or more pieces
        holds more than this fraction.
    chunk_vox : (int, int, int)
        Chunk of the overlap pass.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    synapse_tolerance_nm: float = Field(250.0, gt=0.0)
    min_overlap_fraction: float = Field(0.5, gt=0.0, le=1.0)
    split_fraction: float = Field(0.05, gt=0.0, lt=0.5)
    chunk_vox: tuple[int, int, int] = (128, 128, 128)


@dataclasses.dataclass(frozen=True)
class Score:
    """Scores of one reconstruction (nested dicts, JSON-ready) and the neuron maps.

    ``neuron_map`` maps recovered neuron ids to truth neuron ids one to one (the map to
    compare emulated activity neuron by neuron); ``segment_to_truth`` is the many-to-one
    majority map used for synapses and edges.
    """

    segmentation: dict
    synapses: dict
    connectome: dict
    molecules: dict
    neuron_map: dict
    segment_to_truth: dict
    inputs: dict
    run_lengths: pd.DataFrame = dataclasses.field(repr=False, default=None)

    def to_json(self) -> dict:
        """One nested JSON object (NaN written as null)."""
        return _clean({
            "segmentation": self.segmentation, "synapses": self.synapses, "connectome": self.connectome,
            "molecules": self.molecules, "neuron_map": {str(k): v for k, v in sorted(self.neuron_map.items())},
            "inputs": self.inputs,
        })


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def _node_segments(recon, phantom) -> np.ndarray:
    sk = phantom.skeletons
    if sk.empty:
        return np.zeros(0, dtype=np.int64)
    pos = sk[["z_um", "y_um", "x_um"]].to_numpy(dtype=np.float64) * 1000.0
    vox = np.floor((pos - np.asarray(recon.origin_nm)) / np.asarray(recon.voxel_size_nm)).astype(np.int64)
    shape = np.asarray(recon.segmentation.shape)
    inside = np.all((vox >= 0) & (vox < shape), axis=1)
    out = np.zeros(len(vox), dtype=np.int64)
    if inside.any():
        v = vox[inside]
        out[inside] = np.asarray(recon.segmentation.vindex[v[:, 0], v[:, 1], v[:, 2]].compute()).astype(np.int64)
    return out


class _Scanned:
    """The phantom as far as a scan of a sub-region saw it: the truth synapse rows and gap
    junctions whose contact centre lies inside the scanned box (every other attribute is
    the phantom's own). A scan of a part of the specimen is judged on that part only."""

    def __init__(self, phantom, lo_nm, hi_nm):
        self._phantom = phantom
        lo, hi = np.asarray(lo_nm, dtype=np.float64), np.asarray(hi_nm, dtype=np.float64)

        def inside(df: pd.DataFrame) -> pd.DataFrame:
            pos = df[["z_um", "y_um", "x_um"]].to_numpy(dtype=np.float64) * 1000.0
            keep = np.all((pos >= lo) & (pos < hi), axis=1)
            return df if keep.all() else df[keep].reset_index(drop=True)

        self.synapses = inside(phantom.synapses)
        self.gap_junctions = inside(phantom.gap_junctions)

    def __getattr__(self, name):
        return getattr(self._phantom, name)


def scanned_region_nm(recon) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(low, high) corners of the scanned box in specimen nm (z, y, x)."""
    lo = tuple(float(o) for o in recon.origin_nm)
    hi = tuple(o + int(n) * v for o, n, v in zip(lo, recon.segmentation.shape, recon.voxel_size_nm))
    return lo, hi


def score(recon, phantom, config: ScoreConfig | None = None) -> Score:
    """Score a :class:`~neurophantom.reconstruct.Reconstruction` against its Phantom.

    Synapses, gap junctions and edges are counted only where the scan looked: a truth
    contact whose centre lies outside the scanned box (a scan of a sub-region) is neither
    missed nor matched. Raises :class:`~neurophantom.NeurophantomError` when the
    reconstruction was imaged from another phantom geometry (voxel size, shape or seed differ).
    """
    config = config or ScoreConfig()
    check_frames(recon.record, phantom)
    lo_nm, hi_nm = scanned_region_nm(recon)
    n_all = len(phantom.synapses)
    phantom = _Scanned(phantom, lo_nm, hi_nm)
    ov = overlap(recon.segmentation, recon.voxel_size_nm, recon.origin_nm, phantom, chunk=config.chunk_vox,
                 min_fraction=config.min_overlap_fraction)
    split_vi, merge_vi = variation_of_information(ov.table)
    are, prec, rec = adapted_rand(ov.table)
    splits, merges = splits_and_merges(ov.table, config.split_fraction)
    runs, erl = run_lengths(phantom.skeletons, _node_segments(recon, phantom), ov.neuron_map, set(merges))
    seen = ov.table[(ov.table["label"] > 0)]
    n_truth = int(seen["truth"].nunique())
    segm = {
        "voi_split": split_vi, "voi_merge": merge_vi, "voi": split_vi + merge_vi, "adapted_rand_error": are,
        "rand_precision": prec, "rand_recall": rec, "truth_neurons": n_truth,
        "segments": int(recon.circuit.n_neurons), "matched_neurons": len(ov.neuron_map),
        "split_neurons": len(splits), "merged_segments": len(merges),
        "skeleton_um": float(runs["skeleton_um"].sum()) if len(runs) else 0.0,
        "run_um": float(runs["run_um"].sum()) if len(runs) else 0.0, "expected_run_length_um": erl,
        "run_fraction": float(runs["run_um"].sum() / runs["skeleton_um"].sum()) if len(runs) and runs["skeleton_um"].sum() > 0 else None,
        "run_lengths": runs.to_dict(orient="records"),
        "glia": glia_scores(recon.segmentation, recon.voxel_size_nm, recon.origin_nm, phantom,
                            recon.glia["id"].tolist() if hasattr(recon, "glia") else [], chunk=config.chunk_vox),
    }
    rows = recovered_rows(recon.contacts, recon.origin_nm)
    syn, matched = synapse_scores(phantom.synapses, rows, ov.segment_to_truth, config.synapse_tolerance_nm)
    syn["gap_junctions"] = gap_scores(phantom, recon.contacts, recon.origin_nm, config.synapse_tolerance_nm)
    conn = edge_scores(truth_edges(phantom), recovered_edges(recon.contacts, ov.segment_to_truth, phantom))
    scale = float(recon.record.get("config", {}).get("geometry_scale", 1.0))
    areas = recon.morphology.set_index("id")["area_um2"] if len(recon.morphology) else pd.Series(dtype=float)
    mol = molecule_scores(phantom, recon.uncertainty, rows, matched, ov.neuron_map, ov.truth_area_nm2, areas, scale)
    inputs = {"instrument": recon.record.get("scan", {}).get("instrument"), "voxel_size_nm": list(recon.voxel_size_nm),
              "phantom_voxel_size_nm": list(phantom.voxel_size_nm), "phantom_seed": int(phantom.seed),
              "scanned_region_nm": [list(lo_nm), list(hi_nm)],
              "truth_synapse_rows_outside_scan": int(n_all - len(phantom.synapses)),
              "config": config.model_dump(mode="json")}
    return Score(segm, syn, conn, mol, ov.neuron_map, ov.segment_to_truth, inputs, runs)


def map_neurons(recon, phantom, *, min_fraction: float = 0.5, chunk=(128, 128, 128)) -> dict:
    """Recovered neuron id -> truth neuron id, one to one, by voxel overlap.

    The map to compare emulated activity neuron by neuron (also in :attr:`Score.neuron_map`).
    A recovered neuron is mapped when at least ``min_fraction`` of its voxels lie in one
    truth neuron and it is the largest such piece of that neuron.
    """
    check_frames(recon.record, phantom)
    return overlap(recon.segmentation, recon.voxel_size_nm, recon.origin_nm, phantom, chunk=chunk,
                   min_fraction=min_fraction).neuron_map


def load_and_score(recon_dir, phantom_dir, config: ScoreConfig | None = None) -> tuple[Score, Any, Any]:
    """Load a reconstruction folder and a phantom folder, then :func:`score` them."""
    from ..reconstruct import Reconstruction
    from ..types.phantom import Phantom

    recon = Reconstruction.load(recon_dir)
    if not Path(phantom_dir).is_dir():
        raise NeurophantomError(f"phantom folder not found: {phantom_dir}")
    phantom = Phantom.load(phantom_dir)
    return score(recon, phantom, config), recon, phantom


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def write_figures(result: Score, recon, phantom, folder) -> list[Path]:
    """Segmentation overlay (the z slice with most truth foreground) and confusion matrix PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    from ..io import atomic_write_bytes

    folder = Path(folder)
    out = []
    shape = tuple(int(s) for s in recon.segmentation.shape)
    zs = np.linspace(0, shape[0] - 1, min(shape[0], 16)).astype(int)
    counts = [int((truth_block(phantom, recon.voxel_size_nm, recon.origin_nm, (z, 0, 0), (z + 1, shape[1], shape[2])) > 0).sum())
              for z in zs]
    z = int(zs[int(np.argmax(counts))])
    truth = truth_block(phantom, recon.voxel_size_nm, recon.origin_nm, (z, 0, 0), (z + 1, shape[1], shape[2]))[0]
    seg = np.asarray(recon.segmentation[z:z + 1].compute())[0].astype(np.int64)
    fig, ax = plt.subplots(1, 2, figsize=(9, 4.5))
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.2, 1.0, size=(int(max(seg.max(), truth.max())) + 1, 3))
    colours[0] = 0.0
    ax[0].imshow(colours[truth % len(colours)], interpolation="nearest")
    ax[0].set_title(f"truth (z = {z})")
    over = colours[seg % len(colours)].copy()
    over[find_boundaries(truth, mode="inner") & (truth > 0)] = (1.0, 1.0, 1.0)
    ax[1].imshow(over, interpolation="nearest")
    s = result.segmentation
    ax[1].set_title(f"segments, truth outlines (VI {s['voi_split']:.3f} + {s['voi_merge']:.3f})")
    for a in ax:
        a.axis("off")
    fig.tight_layout()
    out.append(atomic_write_bytes(folder / "segmentation_overlay.png", _png(fig)))
    plt.close(fig)
    conf = result.molecules.get("confusion")
    fig, ax = plt.subplots(figsize=(6, 5))
    if conf:
        m = np.asarray(conf["matrix"], dtype=np.float64)
        frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)
        im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(conf["columns"])), conf["columns"], rotation=60, fontsize=7)
        ax.set_yticks(range(len(conf["rows"])), conf["rows"], fontsize=7)
        ax.set_xlabel("decoded")
        ax.set_ylabel("truth")
        fig.colorbar(im, ax=ax, label="fraction of row")
        acc = result.molecules.get("type_accuracy")
        ax.set_title(f"protein types (accuracy {acc:.4f})" if acc is not None else "protein types")
    else:
        ax.text(0.5, 0.5, "no barcodes: protein types unknown", ha="center", va="center")
        ax.axis("off")
    fig.tight_layout()
    out.append(atomic_write_bytes(folder / "confusion_matrix.png", _png(fig)))
    plt.close(fig)
    return out
