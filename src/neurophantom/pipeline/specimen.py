"""Stages that make and measure a specimen: ground truth, tissue, live imaging, scans.

Each function is a pipeline stage: ``fn(out_dir, inputs, config) -> small results``; the
config is the JSON of the parts of :class:`~.config.RunConfig` it depends on, so the
runner's cache key changes exactly when something it uses changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..biophysics import biophysics_for
from ..types import Circuit, Provenance


def truth_circuit(world: Mapping[str, Any], seed: int, atlas: Mapping[str, Any] | None = None) -> Circuit:
    """The specimen's ground-truth Circuit, carrying the world's hidden biophysics (the
    organoid drawn from ``seed``, the task world's compiled circuit, or the atlas-fitted
    worm); ``world`` is the JSON of a :class:`~.config.WorldConfig` (and ``atlas`` of the
    worm world's atlas section)."""
    from ..sources import build_source

    w = world
    if w["source"] == "organoid":
        opts = {k: w[k] for k in ("n_neurons", "n_patterns", "pattern_size", "memory_strength", "receptor_predictability",
                                  "assembly_connection_probability")}
        c = build_source(w["source"], seed=int(seed), options=opts)
    elif w["source"] == "celegans":
        # The atlas-fitted worm; the specimen's seed draws its layout jitter only.
        from .judge_worm import worm_truth

        if atlas is None:
            raise NeurophantomError("the worm world needs its atlas section")
        c = worm_truth(int(seed), atlas)
    else:
        # A task world: the packaged compiled circuit (seed 0; another seed retrains for
        # minutes). Specimens differ in how the same circuit is folded and scanned.
        c = build_source(w["source"], seed=0, options={"task": w["task"]})
    library = biophysics_for(c)
    hidden = library.override(w["biophysics"])
    if w["source"] == "pretty-printer":
        c = keep_conductances(c, library, hidden)
    meta = dict(c.provenance.metadata)
    meta["biophysics"] = hidden.to_dict()
    meta["transmission"] = w["transmission"]
    p = c.provenance
    return c.replace(provenance=Provenance(source=p.source, dataset=p.dataset, seed=p.seed, config=p.config, metadata=meta))


def truth_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """The specimen's ground-truth Circuit (:func:`truth_circuit`)."""
    c = truth_circuit(cfg["world"], int(cfg["seed"]), cfg.get("atlas"))
    c.save(out / "circuit")
    return {"neurons": c.n_neurons, "synapse_partners": c.n_synapse_partners}


def keep_conductances(circuit: Circuit, library, world) -> Circuit:
    """``circuit`` with its molecule counts rescaled so that, under the ``world``'s unitary
    conductances, every synapse and membrane conducts what it did under the ``library``'s.

    A task world is compiled under the library's biophysics; its hidden constants must not
    change what it computes, only what a scan counts: a receptor whose unitary conductance
    is 1.4x the library's is present in 1/1.4 the number. The identification, which starts
    from the library, then has to learn the constants from recordings. Other overrides
    (time constants, reversal potentials) are applied as they are and do change dynamics.
    """
    nrn, syn = circuit.neurons.copy(), circuit.synapses.copy()
    for r in circuit.receptor_types:
        syn[r] = syn[r] * (library.receptor(r).g_unit_pS / world.receptor(r).g_unit_pS)
    for ch in circuit.channel_types:
        nrn[ch] = nrn[ch] * (library.channel(ch).g_unit_pS / world.channel(ch).g_unit_pS)
    return circuit.replace(neurons=nrn, synapses=syn)


def tissue_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Fold the specimen into 3D; the living specimen's somata sit where the phantom's do."""
    from ..tissue import grow_tissue, specimen_circuit
    from ..tissue.config import TissueConfig

    truth = Circuit.load(inputs["truth"] / "circuit")
    tissue = dict(cfg["tissue"])
    if cfg.get("glia"):
        # The truth's astrocytes (same seed: same places and domains as its recordings').
        from ..sources.hidden import GliaConfig
        from ..tissue.config import TissueGliaConfig

        tissue["glia"] = TissueGliaConfig(astrocytes=GliaConfig(**cfg["glia"]), seed=int(cfg["seed"]))
    phantom = grow_tissue(truth, TissueConfig(seed=int(cfg["seed"]), **tissue))
    phantom.save(out / "phantom")
    # The same specimen, alive: the membranes the phantom draws and soma positions in its
    # frame (um), so that the microscope's ROIs and the scan share one coordinate frame.
    specimen_circuit(truth, phantom).save(out / "specimen")
    shape = tuple(int(s) for s in phantom.labels.shape)
    return {"shape_zyx": list(shape), "voxel_size_nm": list(phantom.voxel_size_nm), "voxels": int(np.prod(shape))}


def _imaging(cfg: Mapping[str, Any]):
    from ..instruments.dynamic import imaging_config

    r = cfg["recording"]
    return imaging_config(
        r["indicator"], frame_rate_hz=r["frame_rate_hz"], transmission=cfg["world"]["transmission"], dt_ms=r["truth_dt_ms"],
        sample_dt_ms=r["sample_dt_ms"], brightness_cv=r["brightness_cv"], calcium_source="voltage",
        photons_rest=r["photons_rest"],
    )


def hidden_pools(truth: Circuit | None, world: Mapping[str, Any], seed: int):
    """The slow pools of the world's hidden glia and modulator (None when it has neither).

    Astrocyte domains are drawn from the truth circuit's positions with the specimen's
    seed, as the tissue draws them (:func:`~neurophantom.sources.hidden.astrocytes`), so
    the astrocytes a scan can see are the ones acting in the recordings."""
    from ..sources.hidden import GliaConfig, ModulatorConfig, glia_pools, modulator_pools

    parts = [(glia_pools, GliaConfig, world.get("glia")), (modulator_pools, ModulatorConfig, world.get("modulator"))]
    parts = [(fn, kind, cfg) for fn, kind, cfg in parts if cfg]
    if parts and truth is None:
        raise NeurophantomError("a world with glia or a modulator records from its truth circuit (domains, release)")
    pools = None
    for fn, kind, cfg in parts:  # glia first, then the modulator; neuron order is the truth's (the specimen's)
        p = fn(truth, kind(**cfg), seed)
        pools = p if pools is None else pools.concat(p)
    return pools


def record_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Live imaging: mapping trials (a new random subset each) and held-out protocols."""
    from ..instruments.dynamic import parse_protocol, record, write_imaging

    specimen = Circuit.load(inputs["tissue"] / "specimen")
    r = cfg["recording"]
    icfg = _imaging(cfg)
    seed = int(cfg["seed"])
    pools = hidden_pools(Circuit.load(inputs["truth"] / "circuit") if "truth" in inputs else None, cfg["world"], seed)
    n = 0
    kinds = [f"pulses:on=random:{r['mapping_cells']},amp={r['mapping_pA']},width=3,period=30,start=5,stop={r['mapping_ms'] - 10}",
             f"step:on=random:{2 * r['mapping_cells']},amp={r['mapping_step_pA']},start=10,stop={r['mapping_ms'] - 20}"]
    kinds += [f"step:on=random:{4 * r['mapping_cells']},amp={a},start=10,stop={r['mapping_ms'] - 20}" for a in r["mapping_wide_pA"]]
    for k in range(r["mapping_protocols"]):
        drive = kinds[k % len(kinds)]
        prot = parse_protocol(f"spontaneous:duration={r['mapping_ms']};{drive}", trials=r["mapping_repeats"])
        rec, truth = record(specimen, prot, icfg, seed=seed * 1000 + k, pools=pools)
        write_imaging(out / f"mapping_{k:02d}.nwb", rec, truth)
        n += 1
    for k in range(r["heldout_protocols"]):
        # Held-out protocol: longer sustained steps on a different set of cells.
        prot = parse_protocol(
            f"spontaneous:duration={r['heldout_ms']};step:on=random:{r['heldout_cells']},amp={r['heldout_pA']},"
            f"start=20,stop={r['heldout_ms'] - 40}",
            trials=r["heldout_repeats"],
        )
        rec, truth = record(specimen, prot, icfg, seed=seed * 1000 + 500 + k, pools=pools)
        write_imaging(out / f"heldout_{k:02d}.nwb", rec, truth)
        n += 1
    return {"sessions": n}


def scan_stage(out: Path, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """One static scan of the phantom with the configured instrument."""
    from ..instruments.static import instrument_config, scan
    from ..types.phantom import Phantom

    phantom = Phantom.load(inputs["tissue"] / "phantom")
    s = scan(phantom, instrument_config(dict(cfg["instrument"])), seed=int(cfg["seed"]))
    s.save(out / "scan")
    return {"instrument": cfg["instrument"]["instrument"], "instrument_seconds": float(s.instrument_seconds)}
