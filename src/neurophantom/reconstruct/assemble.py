"""Assemble the recovered Circuit, its morphology table and its uncertainty table.

Units: positions in um of the specimen frame (the Scan's ``origin_nm`` plus voxel
centres); areas in biological um^2 (specimen um^2 / ``geometry_scale**2``); densities per
biological um^2. Molecule counts are estimates of the molecules present: decoded
labelled molecules divided by the scan's labelling efficiency.

Uncertainty of a count ``N = n / e`` (``n`` decoded labelled molecules, ``e`` labelling
efficiency, ``u`` undecided molecules at the same site)::

    sd(N)^2 = n (1 - e) / e^2  +  (u / e)^2

the binomial spread of labelling (each of ``N`` molecules labelled with probability
``e``) plus the worst case that every undecided molecule at the site is of this type.
Photon shot noise on ``n`` is second order at the photon budgets of the instruments and
is left out. Densities carry ``sd(N) / area``.

Rows that could not be observed (no barcodes of that kind, or tissue lost within the
lost margin) have ``*_observed = False`` and NaN densities: unknown, never zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..biophysics import CHANNELS, RECEPTORS
from ..types import Circuit, Provenance
from ..types.circuit import GAP_BASE, empty_table
from ..types.scan import Scan
from .config import ReconstructConfig
from .morphology import cluster_cell_types
from .puncta import SignatureModel
from .shrinkage import shrink_densities
from .synapses import CONNEXIN, protein_kind


def type_lists(model: SignatureModel | None, config: ReconstructConfig) -> tuple[tuple[str, ...], tuple[str, ...], bool, bool]:
    """Channel and receptor columns, and whether each kind is observed by the scan."""
    barcoded = model is not None and model.scheme != "tag"
    seen_ch = tuple(p for p in model.proteins if protein_kind(p) == "channel") if barcoded else ()
    seen_rc = tuple(p for p in model.proteins if protein_kind(p) == "receptor") if barcoded else ()
    channels = config.channel_types if config.channel_types is not None else (seen_ch or tuple(CHANNELS))
    receptors = config.receptor_types if config.receptor_types is not None else (seen_rc or tuple(RECEPTORS))
    ch_obs = barcoded and bool(seen_ch) and set(channels) <= set(seen_ch)
    rc_obs = barcoded and bool(seen_rc) and set(receptors) <= set(seen_rc)
    return tuple(channels), tuple(receptors), ch_obs, rc_obs


def _sd(n: np.ndarray, unknown: np.ndarray, eff: float) -> np.ndarray:
    n = np.clip(np.asarray(n, dtype=np.float64), 0.0, None)
    return np.sqrt(n * (1.0 - eff) / eff ** 2 + (np.asarray(unknown, dtype=np.float64) / eff) ** 2)


def _um(vox: np.ndarray, axis: int, scan: Scan) -> np.ndarray:
    return (scan.origin_nm[axis] + (np.asarray(vox, dtype=np.float64) + 0.5) * scan.voxel_size_nm[axis]) / 1000.0


def neuron_table(scan: Scan, segments: pd.DataFrame, morph: pd.DataFrame, faces: pd.DataFrame, puncta: pd.DataFrame,
                 model: SignatureModel | None, config: ReconstructConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Neurons of the Circuit, the morphology table and the channel rows of the uncertainty table."""
    vs = np.asarray(scan.voxel_size_nm, dtype=np.float64)
    s2 = config.geometry_scale ** 2
    face_nm2 = np.array([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])
    ids = segments.index.to_numpy(dtype=np.int64)
    exposed = segments[["exposed_z", "exposed_y", "exposed_x"]].to_numpy() @ face_nm2
    contact = np.zeros(len(ids))
    if len(faces):
        area = face_nm2[faces["axis"].to_numpy()]
        per = pd.Series(np.concatenate([area, area]), index=np.concatenate([faces["a"], faces["b"]])).groupby(level=0).sum()
        contact = per.reindex(ids, fill_value=0.0).to_numpy()
    lost_nm2 = segments["lost_faces"].to_numpy() * float(face_nm2.mean())
    seen_nm2 = np.maximum(exposed + contact, float(face_nm2.min()))
    lost_frac = lost_nm2 / (seen_nm2 + lost_nm2)
    m = morph.set_index("id").reindex(ids)
    channels, _, ch_obs, _ = type_lists(model, config)
    eff = model.efficiency if model is not None else 1.0
    observed = np.full(len(ids), ch_obs) & (lost_frac <= config.max_lost_boundary_fraction)
    counts = np.zeros((len(ids), len(channels)))
    unknown = np.zeros(len(ids))
    if ch_obs and len(puncta):
        seg = puncta["segment"].to_numpy()
        pos = pd.Index(ids).get_indexer(seg)
        ok = pos >= 0
        for j, c in enumerate(channels):
            counts[:, j] = np.bincount(pos[ok], weights=puncta[c].to_numpy()[ok], minlength=len(ids))
        # Undecided puncta off the contacts could be any channel of this neuron.
        unknown = np.bincount(pos[ok], weights=puncta["unknown"].to_numpy()[ok], minlength=len(ids))
    area_um2 = seen_nm2 / 1e6
    # Undo the phantom's drawing conventions (instruments.specimen.representation): the
    # membrane is drawn as 1/factor of its area and channel molecules thinned per type.
    rep = (scan.provenance or {}).get("representation", {})
    factor = float(rep.get("membrane_area_factor", 1.0))
    sampled = rep.get("channel_sampling_fraction", {})
    frac = np.array([float(sampled.get(c, 1.0)) for c in channels]) if len(channels) else np.ones(0)
    dens = counts / eff / frac[None, :] / (factor * area_um2[:, None]) * s2
    dens[~observed] = np.nan
    morph_cols = morph.columns
    cell_type = cluster_cell_types(m.reset_index(), config.morphology.cell_type_clusters, config.morphology.cluster_seed) \
        if len(ids) else np.zeros(0, dtype=object)
    release = np.full(len(ids), "spike", dtype=object)
    if config.release == "na_density" and "na" in channels:
        na = dens[:, list(channels).index("na")]
        release[np.isfinite(na) & (na < config.graded_na_below_per_um2)] = "graded"
    neurons = {
        "id": ids, "name": np.array([f"seg{i:06d}" for i in ids], dtype=object), "cell_type": cell_type,
        "z_um": _um(m["soma_z_vox"], 0, scan), "y_um": _um(m["soma_y_vox"], 1, scan), "x_um": _um(m["soma_x_vox"], 2, scan),
        "area_um2": factor * area_um2 / s2, "release": release, "channels_observed": observed,
    }
    nrn = pd.DataFrame(neurons)
    morphology = pd.DataFrame({
        "id": ids, "name": nrn["name"], "cell_type": cell_type, "voxels": segments["voxels"].to_numpy(),
        "volume_um3": segments["voxels"].to_numpy() * float(np.prod(vs)) / 1e9 / config.geometry_scale ** 3,
        "area_um2": area_um2 / s2, "lost_area_um2": lost_nm2 / 1e6 / s2, "lost_boundary_fraction": lost_frac,
        "soma_z_um": nrn["z_um"], "soma_y_um": nrn["y_um"], "soma_x_um": nrn["x_um"],
        "soma_radius_um": m["soma_radius_um"].to_numpy() / config.geometry_scale,
        **{c: m[c].to_numpy() for c in morph_cols if c not in ("id", "soma_radius_um", "soma_z_vox", "soma_y_vox", "soma_x_vox")},
        **{f"bbox_{k}": segments[k].to_numpy() for k in ("z0", "y0", "x0", "z1", "y1", "x1")},
    })
    for c in ("cable_length_um", "mean_radius_um", "median_radius_um"):
        morphology[c] = morphology[c] / config.geometry_scale
    count_sd = _sd(counts, unknown[:, None], eff) / frac[None, :]
    count_sd[~observed] = np.nan
    sd = count_sd / (factor * area_um2[:, None]) * s2
    if config.channel_shrinkage:
        dens, sd = shrink_densities(dens, sd, factor * area_um2 / s2, min_neurons=config.shrinkage_min_neurons)
    rows = []
    for j, c in enumerate(channels):
        nrn[c] = dens[:, j]
        rows.append(pd.DataFrame({
            "kind": "channel", "synapse_id": -1, "neuron": ids, "protein": c,
            "count": np.where(observed, counts[:, j] / eff / frac[j], np.nan),
            "count_sd": count_sd[:, j], "density_per_um2": dens[:, j], "density_sd": sd[:, j],
            "area_um2": factor * area_um2 / s2, "unknown_molecules": unknown / eff, "observed": observed}))
    return nrn, morphology, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def synapse_table(scan: Scan, patches: pd.DataFrame, model: SignatureModel | None, config: ReconstructConfig
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Synapse partner rows, gap junctions and the receptor rows of the uncertainty table."""
    s2 = config.geometry_scale ** 2
    _, receptors, _, rc_obs = type_lists(model, config)
    eff = model.efficiency if model is not None else 1.0
    chem = patches[patches["kind"] == "chemical"]
    site_pos = chem.groupby("site")[["z_nm", "y_nm", "x_nm"]].mean()
    cols = {"area_nm2": "sum", "near_lost": "any", "unknown": "sum"}
    cols.update({r: "sum" for r in receptors if r in chem.columns})
    rows = chem.groupby(["site", "post"], sort=True).agg({"pre": "first", **cols}).reset_index()
    pos = site_pos.loc[rows["site"]].to_numpy() if len(rows) else np.zeros((0, 3))
    area_um2 = rows["area_nm2"].to_numpy() / 1e6
    observed = np.full(len(rows), rc_obs) & ~rows["near_lost"].to_numpy(dtype=bool)
    syn = pd.DataFrame({
        "synapse_id": rows["site"].to_numpy(dtype=np.int64) + 1, "pre": rows["pre"].to_numpy(dtype=np.int64),
        "post": rows["post"].to_numpy(dtype=np.int64),
        "x_um": (scan.origin_nm[2] + pos[:, 2]) / 1000.0, "y_um": (scan.origin_nm[1] + pos[:, 1]) / 1000.0,
        "z_um": (scan.origin_nm[0] + pos[:, 0]) / 1000.0, "contact_area_um2": area_um2 / s2, "receptors_observed": observed,
    })
    unc = []
    unknown = rows["unknown"].to_numpy()
    for r in receptors:
        n = rows[r].to_numpy() if r in rows.columns else np.zeros(len(rows))
        d = n / eff / area_um2 * s2
        syn[r] = np.where(observed, d, np.nan)
        unc.append(pd.DataFrame({
            "kind": "receptor", "synapse_id": syn["synapse_id"], "neuron": syn["post"], "protein": r,
            "count": np.where(observed, n / eff, np.nan), "count_sd": np.where(observed, _sd(n, unknown, eff), np.nan),
            "density_per_um2": syn[r], "density_sd": np.where(observed, _sd(n, unknown, eff) / area_um2 * s2, np.nan),
            "area_um2": area_um2 / s2, "unknown_molecules": unknown / eff, "observed": observed}))
    gaps = patches[patches["kind"] == "gap"]
    if len(gaps):
        g_area = gaps["area_nm2"].to_numpy() / 1e6 / s2
        if model is not None and CONNEXIN in getattr(model, "proteins", ()):
            count = 0.5 * (gaps["connexin_a"].to_numpy() + gaps["connexin_b"].to_numpy()) / eff
        else:
            count = g_area * config.synapses.gap_connexins_per_um2
        gj = pd.DataFrame({"a": gaps["seg_a"].to_numpy(np.int64), "b": gaps["seg_b"].to_numpy(np.int64),
                           "connexin_count": np.maximum(count, 1.0),
                           "x_um": (scan.origin_nm[2] + gaps["x_nm"].to_numpy()) / 1000.0,
                           "y_um": (scan.origin_nm[1] + gaps["y_nm"].to_numpy()) / 1000.0,
                           "z_um": (scan.origin_nm[0] + gaps["z_nm"].to_numpy()) / 1000.0})
    else:
        gj = empty_table(GAP_BASE)
    return syn, gj, pd.concat(unc, ignore_index=True) if unc else pd.DataFrame()


def build_circuit(scan: Scan, neurons: pd.DataFrame, synapses: pd.DataFrame, gaps: pd.DataFrame, model, config: ReconstructConfig,
                  metadata: dict) -> Circuit:
    channels, receptors, _, _ = type_lists(model, config)
    prov = Provenance(source="reconstruction", dataset=scan.instrument, seed=int(scan.seed),
                      config=config.model_dump(mode="json"), metadata=metadata)
    return Circuit(neurons=neurons, synapses=synapses, gap_junctions=gaps, channel_types=channels,
                   receptor_types=receptors, provenance=prov)
