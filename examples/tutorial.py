"""neurophantom from Python: one small upload loop, end to end, with known ground truth.

Run it from the repository root (after ``make install``)::

    .venv/bin/python examples/tutorial.py            # 14 neurons, about a minute
    .venv/bin/python examples/tutorial.py --neurons 40 --out tutorial_out/

Each step is one entry point of a stage, with a small validated config:

1. ``build_source``: a ground-truth circuit (a synthetic brain organoid);
2. ``build_model`` + ``simulate``: its conductance-based dynamics under a current step;
3. ``grow_tissue``: the same specimen folded into 3D, with molecules on its membranes;
4. ``scan``: imaged by expansion light-sheet microscopy with spectral barcodes;
5. ``reconstruct``: the scan turned back into an annotated circuit (never reading the truth);
6. ``score``: the reconstruction against the truth (segmentation, synapses, molecules);
7. emulation: the recovered circuit simulated under the same step, neuron by neuron
   against the truth (matched by voxel overlap): voltage-trace correlation and spike
   counts. Molecule counts in a scan are a detected, sampled fraction of the true ones,
   and a scaled phantom holds only part of each cell's membrane, so the recovered
   channel densities are first calibrated (``calibrate_membrane``: areas from a marker
   channel's counts, anchored on a typical neuron); the uncalibrated ("naive") circuit
   and a control (the same synapses between other neurons) run beside it.

In a circuit this small most undriven cells stay near rest, so the comparison mostly
shows the driven cells and their few partners; ``neurophantom run`` is the validation
proper (held-out protocols, controls, memory recall).

This script uses the library's biophysics for the recovered circuit; the closed loop
(``neurophantom run``) learns the map from scans to parameters from recordings instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def upload_loop(n_neurons: int = 14, seed: int = 0, out: Path | None = None) -> dict:
    """Run the loop on an ``n_neurons`` organoid; return its numbers (and, with ``out``,
    write the phantom, scan and reconstruction there)."""
    import jax

    from neurophantom.biophysics import build_model
    from neurophantom.engine import simulate
    from neurophantom.identify.calibrate import calibrate_membrane
    from neurophantom.pipeline.config import IdentifyConfig
    from neurophantom.instruments.static import instrument_config, scan
    from neurophantom.reconstruct import ReconstructConfig, reconstruct
    from neurophantom.sources import build_source
    from neurophantom.tissue import TissueConfig, grow_tissue
    from neurophantom.types.stimulus import Step, Stimulus
    from neurophantom.validate.activity import trace_correlation
    from neurophantom.validate.scores import score

    # 1. Ground truth: an organoid without stored memories (n_patterns=0).
    truth = build_source("organoid", seed=seed, options={"n_neurons": n_neurons, "n_patterns": 0})
    print(f"1. circuit: {truth.n_neurons} neurons, {truth.n_synapse_partners} synapse partners")

    # 2. Simulate: a 300 ms current step on the first three neurons (pA, ms).
    driven = tuple(int(i) for i in truth.neuron_ids[:3])
    stim = Stimulus(duration_ms=300.0, components=(Step(targets=driven, amplitude_pA=800.0, start_ms=50.0, stop_ms=250.0),))
    true_rec = simulate(build_model(truth), stim, dt_ms=0.05, sample_dt_ms=1.0, key=jax.random.key(seed), progress=False)
    print(f"2. simulated: {true_rec.spike_times_ms.size} spikes in {stim.duration_ms:g} ms")

    # 3. Tissue: 40 nm voxels, 0.35 of real length (the defaults), thick axons so a 40 nm voxel resolves them.
    phantom = grow_tissue(truth, TissueConfig(seed=seed, axon_radius_um=0.25))
    print(f"3. tissue: {'x'.join(map(str, phantom.shape))} voxels of {phantom.voxel_size_nm[0]:g} nm")

    # 4. Scan: 11x expansion, a camera voxel of 440 nm (40 nm in the specimen), parallel
    #    barcodes, and a bright membrane stain (at the default 200 photons the thin neurites
    #    of this scaled phantom break into fragments).
    config = instrument_config({"instrument": "exm", "expansion": 11.0, "camera_voxel_nm": [440.0, 440.0, 440.0],
                                "membrane_photons": 3000.0,
                                "barcode": {"kind": "parallel", "fluorophores": 6, "per_tag": 2}})
    imaged = scan(phantom, config, seed=seed)
    print(f"4. scan: {len(imaged.channels)} channels; the real instrument would take {imaged.instrument_seconds:.3g} s")

    # 5. Reconstruct (from the scan alone) and 6. score against the truth.
    recon = reconstruct(imaged, ReconstructConfig(geometry_scale=0.35))
    result = score(recon, phantom)
    seg, syn = result.segmentation, result.synapses
    print(f"5. reconstruction: {recon.circuit.n_neurons} segments; "
          f"6. VI split {seg['voi_split']:.3f} + merge {seg['voi_merge']:.3f} nats, synapse F1 {syn['f1']:.3f}, "
          f"protein types {result.molecules.get('type_accuracy') or float('nan'):.3f}")

    # 7. Emulate: the recovered circuit under the same step, on the recovered neurons
    #    that are the driven true ones; compare each matched neuron's voltage trace.
    to_truth = result.neuron_map  # recovered id -> true id, one to one
    to_recovered = {t: r for r, t in to_truth.items()}
    targets = tuple(to_recovered[i] for i in driven if i in to_recovered)
    if not targets:
        raise RuntimeError("none of the driven neurons was recovered")
    emu_stim = Stimulus(duration_ms=300.0, components=(Step(targets=targets, amplitude_pA=800.0, start_ms=50.0, stop_ms=250.0),))
    rng = np.random.default_rng(seed)

    def run(circuit):
        rec = simulate(build_model(circuit), emu_stim, dt_ms=0.05, sample_dt_ms=1.0, key=jax.random.key(seed), progress=False)
        col = {int(i): k for k, i in enumerate(rec.neuron_ids)}
        return rec.traces["v"], col, np.bincount([col[int(i)] for i in rec.spike_neuron_ids], minlength=len(col))

    prior = IdentifyConfig()  # the method's prior: a typical cortical neuron's area and channel densities
    calibrated = calibrate_membrane(recon.circuit, prior.typical_area_um2, prior.typical_density_per_um2)
    # Control: the same synapses between other neurons (pre and post relabelled by two
    # random permutations of the neuron ids; a release site keeps its one presynaptic cell).
    ids = np.asarray(recon.circuit.neuron_ids)
    relabel_pre = dict(zip(ids.tolist(), rng.permutation(ids).tolist()))
    relabel_post = dict(zip(ids.tolist(), rng.permutation(ids).tolist()))
    syn_tab = recon.circuit.synapses.assign(pre=lambda d: d["pre"].map(relabel_pre), post=lambda d: d["post"].map(relabel_post))
    syn_tab = syn_tab[syn_tab["pre"] != syn_tab["post"]].reset_index(drop=True)
    shuffled = calibrated.replace(synapses=syn_tab)
    true_col = {int(i): k for k, i in enumerate(true_rec.neuron_ids)}
    pairs = sorted(to_truth.items())
    true_spikes = np.bincount([true_col[int(i)] for i in true_rec.spike_neuron_ids], minlength=len(true_col))
    numbers = {"neurons": n_neurons, "segments": int(recon.circuit.n_neurons), "matched": len(to_truth),
           "voi_split": seg["voi_split"], "voi_merge": seg["voi_merge"], "synapse_f1": syn["f1"],
           "type_accuracy": result.molecules.get("type_accuracy"), "instrument_seconds": imaged.instrument_seconds}
    for name, circuit in (("emulation", calibrated), ("naive", recon.circuit), ("shuffled synapses", shuffled)):
        v, col, spikes = run(circuit)
        r = trace_correlation(v[:, [col[p] for p, _ in pairs]], true_rec.traces["v"][:, [true_col[t] for _, t in pairs]])
        numbers[f"{name} median r"] = float(np.nanmedian(r)) if len(r) else float("nan")
        numbers[f"{name} spikes"] = [int(spikes[col[p]]) for p, _ in pairs]
    numbers["true spikes"] = [int(true_spikes[true_col[t]]) for _, t in pairs]
    print(f"7. emulation of the {len(pairs)} matched neurons: median voltage-trace r {numbers['emulation median r']:.2f} "
          f"(naive {numbers['naive median r']:.2f}, shuffled synapses {numbers['shuffled synapses median r']:.2f}); "
          f"spikes per neuron: truth {numbers['true spikes']}, emulation {numbers['emulation spikes']}, "
          f"naive {numbers['naive spikes']}")
    if out is not None:
        phantom.save(out / "phantom")
        imaged.save(out / "scan")
        recon.save(out / "recon")
        (out / "numbers.json").write_text(json.dumps(numbers, indent=2))
        print(f"-> {out}/phantom, scan, recon, numbers.json (open them with `neurophantom info`)")
    return numbers


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=14, help="organoid size (>= 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for the phantom, scan and reconstruction")
    args = parser.parse_args(argv)
    return upload_loop(args.neurons, args.seed, args.out)


if __name__ == "__main__":
    main()
