"""The LEMS simulation file of a NeuroML export, and running it with jNeuroML.

:func:`lems_simulation` writes the ``<Simulation>`` (duration, step, target network) with
an event output file of every spiking neuron's spikes and, optionally, an output file of
every neuron's membrane potential (pyNeuroML's ``LEMSSimulation``). :func:`run_neuroml`
runs it with jNeuroML (pyNeuroML's bundled jar; Java needed) and returns a
:class:`~neurophantom.types.Recording` in the Circuit's neuron order.

References
----------
Vella M, Cannon RC, Crook S, et al. (2014) libNeuroML and PyLEMS: using Python combined
with the new XML-based NeuroML 2 standard. Front Neuroinform 8:38.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .._errors import NeurophantomError
from ..types.recording import Recording


def _pyneuroml():
    try:
        import pyneuroml.lems
        from pyneuroml import pynml
    except ImportError:  # pragma: no cover - installed with the test extra
        raise NeurophantomError("pyNeuroML is not installed: pip install 'neurophantom[neuroml]'") from None
    return pyneuroml.lems, pynml


def java_available() -> bool:
    """True when a ``java`` executable is on the PATH (jNeuroML needs one)."""
    return shutil.which("java") is not None


#: JVM options for jNeuroML's short runs: the serial collector and the client compiler only
#: halve the CPU time of a small simulation or a validation (measured: 7.6 s -> 3.7 s for
#: 1600 steps of six cells), as JVM start-up and JIT threads dominate it.
JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


@contextlib.contextmanager
def _jvm_options():
    old = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{old} {JVM_OPTIONS}" if old else JVM_OPTIONS
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JAVA_TOOL_OPTIONS", None)
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = old


def _path(pop_of, idx_in_pop, i: int) -> str:
    p = int(pop_of[i])
    return f"pop_{p}/{int(idx_in_pop[i])}/cell_{p}"


def lems_simulation(doc, nml_name: str, comp_name: str | None, placement, spiking: np.ndarray, *, duration_ms: float, dt_ms: float,
                    record_v: bool, stem: str) -> str:
    """The LEMS simulation file's text (outputs ``<stem>.spikes.dat`` and ``<stem>.v.dat``, SI units)."""
    LEMSSimulation = _pyneuroml()[0].LEMSSimulation
    pop_of, idx_in_pop = placement
    net_id = doc.networks[0].id
    sim = LEMSSimulation(stem, f"{duration_ms!r}ms", f"{dt_ms!r}ms", target=net_id,
                         comment=f"neurophantom export: run with  pynml {stem}.xml -nogui  (jNeuroML)")
    sim.include_neuroml2_file(nml_name, include_included=False)
    if comp_name is not None:
        sim.include_lems_file(comp_name, include_included=False)
    if np.any(spiking):
        sim.create_event_output_file("spikes", f"{stem}.spikes.dat", format="ID_TIME")
        for i in np.flatnonzero(spiking):
            sim.add_selection_to_event_output_file("spikes", int(i), _path(pop_of, idx_in_pop, int(i)), "spike")
    if record_v:
        sim.create_output_file("v", f"{stem}.v.dat")
        for i in range(len(pop_of)):
            sim.add_column_to_output_file("v", f"v{i}", f"{_path(pop_of, idx_in_pop, i)}/v")
    return sim.to_xml()


def run_neuroml(lems_path: str | Path, neuron_ids, *, max_memory: str = "1G") -> tuple[Recording, float]:
    """Run an exported ``LEMS_X.xml`` with jNeuroML; returns (Recording, wall seconds).

    ``neuron_ids``: the Circuit's neuron ids, in its order (the export's column and event
    ids are positions in that order). Traces: ``v`` (mV) when the export recorded it.
    """
    pynml = _pyneuroml()[1]
    if not java_available():
        raise NeurophantomError("jNeuroML needs Java: install a Java runtime (e.g. apt-get install default-jre-headless)")
    lems = Path(lems_path).resolve()
    stem = lems.stem
    t0 = time.perf_counter()
    with _jvm_options():
        ok = pynml.run_lems_with_jneuroml(lems.name, nogui=True, load_saved_data=False, exec_in_dir=str(lems.parent),
                                          max_memory=max_memory, verbose=False, exit_on_fail=False)
    wall = time.perf_counter() - t0
    if not ok:
        raise NeurophantomError(f"jNeuroML failed to run {lems}")
    ids = np.asarray(neuron_ids, np.int64)
    sid, st = np.zeros(0, np.int64), np.zeros(0)
    spk = lems.parent / f"{stem}.spikes.dat"
    if spk.exists() and spk.stat().st_size:
        ev = np.loadtxt(spk, ndmin=2)
        sid, st = ids[ev[:, 0].astype(np.int64)], ev[:, 1] * 1e3
    order = np.lexsort((sid, st))
    traces, units, t_ms = {}, {}, np.zeros(0)
    vf = lems.parent / f"{stem}.v.dat"
    if vf.exists():
        data = np.loadtxt(vf, ndmin=2)
        t_ms = data[:, 0] * 1e3
        traces["v"], units["v"] = data[:, 1:] * 1e3, "mV"
    dt = float(np.diff(t_ms[:2])[0]) if t_ms.size > 1 else 1.0
    rec = Recording(time_ms=t_ms, neuron_ids=ids, traces=traces, units=units, dt_ms=dt, spike_neuron_ids=sid[order],
                    spike_times_ms=st[order], metadata={"engine": "jNeuroML (pyNeuroML)", "wall_s": wall})
    return rec, wall


def validate_with_jnml(paths) -> str:
    """Validate NeuroML files with jNeuroML (``pynml -validate``: schema and NeuroML's own tests).

    One JVM for all files; returns jNeuroML's report, raises
    :class:`~neurophantom.NeurophantomError` with it when any file fails.
    """
    import shlex

    pynml = _pyneuroml()[1]
    if not java_available():
        raise NeurophantomError("jNeuroML needs Java: install a Java runtime (e.g. apt-get install default-jre-headless)")
    names = " ".join(shlex.quote(str(Path(p).resolve())) for p in paths)
    with _jvm_options():
        ok, out = pynml.validate_neuroml2(names, verbose_validate=False, return_string=True)
    if not ok or "failed" in out:
        lines = [s.strip() for s in out.splitlines() if s.strip()]
        raise NeurophantomError("jNeuroML validation failed: " + " | ".join(lines[-8:]))
    return out
