"""What every NWB file neurophantom writes has in common, in the form the NWB best
practices (and nwbinspector with the DANDI configuration) ask for:

- a unique ``identifier`` (UUID4) and the real ``session_start_time`` (when the file's
  simulation ran, UTC); the data themselves stay reproducible from config and seed;
- a :class:`pynwb.file.Subject`: the in-silico specimen, with its species (``Homo
  sapiens`` for the human brain organoid, ``Caenorhabditis elegans`` for the worm, the
  NCBI taxon "synthetic construct" for networks of no species), sex unknown, born when
  the session started (it was generated then) and an id naming its source and seed;
- metadata as fields, not JSON text: :func:`parameters_table` stores a nested mapping as
  one row per leaf (``parameter`` a dotted path with ``[i]`` for list items and
  ``["key"]`` for keys holding dots, ``value`` the
  leaf as JSON: a number, a string, a boolean, null or a list of those; an empty
  mapping leaves no row);
- the stimulus: :func:`add_stimulus` writes every component of a
  :class:`~neurophantom.types.stimulus.Stimulus` as a row of the ``stimulation``
  TimeIntervals table (window, kind, amplitude and unit, targets) and any sampled
  waveform as a TimeSeries under ``/stimulus``.

References
----------
Rübel O et al. (2022) The Neurodata Without Borders ecosystem for neurophysiological data
science. eLife 11:e78362. NWB best practices, https://nwbinspector.readthedocs.io/
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from typing import Any, Mapping, Sequence

import numpy as np

#: Source name -> species (Latin binomial or NCBI taxonomy IRI), for the NWB Subject.
SPECIES = {"organoid": "Homo sapiens", "celegans": "Caenorhabditis elegans"}
#: NCBI taxon 32630, "synthetic construct": a network that belongs to no species.
SYNTHETIC = "http://purl.obolibrary.org/obo/NCBITaxon_32630"
KEYWORDS = ["in silico", "ground truth", "conductance-based model", "neurophantom"]


def session_fields(description: str) -> dict[str, Any]:
    """NWBFile keyword arguments: a fresh UUID4, now as start and creation time."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return {"session_description": description, "identifier": str(uuid.uuid4()), "session_start_time": now,
            "file_create_date": now, "source_script": "neurophantom", "source_script_file_name": "neurophantom",
            "keywords": list(KEYWORDS),
            "experiment_description": "In-silico experiment with known ground truth, simulated by neurophantom."}


def subject(source: str | None, seed: int | None, born: _dt.datetime, *, dataset: str | None = None):
    """The in-silico specimen as an NWB Subject (see the module docstring)."""
    from pynwb.file import Subject

    name = source or "unknown-source"
    sid = f"{name}-seed{seed}" if seed is not None else name
    what = f"in-silico specimen drawn by neurophantom's {name!r} source" + (f" (dataset {dataset})" if dataset else "")
    return Subject(subject_id=re.sub(r"[^A-Za-z0-9_.-]", "-", sid), species=SPECIES.get(name, SYNTHETIC), sex="U",
                   date_of_birth=born, description=f"{what}, seed {seed}; generated when the session started")


def _flatten(obj: Any, prefix: str, out: list[tuple[str, str]]) -> None:
    if isinstance(obj, Mapping):  # an empty mapping leaves no row (readers default to {})
        for k, v in obj.items():
            k = str(k)
            if re.fullmatch(r"[^.\[\]\"]+", k):
                _flatten(v, f"{prefix}.{k}" if prefix else k, out)
            else:  # a key with '.', '[', ']' or '"' is written as ["the key"]
                _flatten(v, f"{prefix}[{json.dumps(k)}]", out)
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in obj):
        if not obj:
            out.append((prefix, "[]"))
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        if isinstance(obj, np.generic):
            obj = obj.item()
        out.append((prefix, json.dumps(list(obj) if isinstance(obj, tuple) else obj, allow_nan=False)))


def flatten(obj: Mapping) -> list[tuple[str, str]]:
    """Leaves of a nested mapping as ``(dotted path, JSON value)`` rows (see module docstring)."""
    out: list[tuple[str, str]] = []
    _flatten(obj, "", out)
    return out


_PART = re.compile(r'([^.\[\]"]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def unflatten(rows: Sequence[tuple[str, str]], what: str = "parameters table") -> dict:
    """Inverse of :func:`flatten`, bounded for files from elsewhere: every value is parsed
    by the project's bounded JSON reader, a path is at most 64 parts deep, and a list index
    can be no larger than the number of rows (so a forged index cannot allocate)."""
    from .._errors import CorruptDataError
    from ._parse import loads_json

    root: dict = {}
    limit = len(rows)
    for name, value in rows:
        keys: list = [int(m.group(2)) if m.group(2) is not None else loads_json(m.group(3), what) if m.group(3) else m.group(1)
                      for m in _PART.finditer(name[:4096])]
        if not keys or len(keys) > 64 or any(isinstance(k, int) and k > limit for k in keys):
            raise CorruptDataError(f"{what}: malformed parameter name {name[:80]!r}")
        value = loads_json(value, f"{what} {name[:60]}")
        node: Any = root
        for k, nxt in zip(keys[:-1], keys[1:]):
            empty: Any = [] if isinstance(nxt, int) else {}
            if isinstance(k, int):
                while len(node) <= k:
                    node.append(None)
                if node[k] is None:
                    node[k] = empty
                node = node[k]
            else:
                node = node.setdefault(k, empty)
        last = keys[-1]
        val = value
        if isinstance(last, int):
            while len(node) <= last:
                node.append(None)
            node[last] = val
        else:
            node[last] = val
    return root


def parameters_table(name: str, description: str, obj: Mapping):
    """A DynamicTable with one row per leaf of ``obj`` (columns ``parameter``, ``value``)."""
    from hdmf.common import DynamicTable, VectorData

    rows = flatten(obj)
    return DynamicTable(name=name, description=description, columns=[
        VectorData(name="parameter", description="dotted path of the parameter ([i]: list item)", data=[r[0] for r in rows]),
        VectorData(name="value", description="the parameter's value as JSON (number, text, boolean, null or a list)",
                   data=[r[1] for r in rows]),
    ])


def read_parameters(table, what: str = "parameters table") -> dict:
    """The mapping stored by :func:`parameters_table` (at most 100 000 rows)."""
    from .._errors import CorruptDataError

    n = len(table["parameter"].data)
    if n > 100_000 or len(table["value"].data) != n:
        raise CorruptDataError(f"{what}: {n} parameter rows (at most 100000, one value each)")
    dec = lambda x: x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)  # noqa: E731
    return unflatten(list(zip((dec(x) for x in table["parameter"].data[:]), (dec(x) for x in table["value"].data[:]))), what)


def _targets(c, all_ids: Sequence[int]) -> list[int]:
    return [int(i) for i in all_ids] if c.targets == "all" else [int(i) for i in c.targets]


def add_stimulus(nwb, stimulus, *, neuron_ids: Sequence[int], trial_starts_s: Sequence[float] = (0.0,)) -> None:
    """Every component of ``stimulus`` (applied in each trial) as a row of the
    ``stimulation`` TimeIntervals table, and sampled waveforms under ``/stimulus``."""
    from pynwb import TimeSeries
    from pynwb.epoch import TimeIntervals

    from ..types.stimulus import Noise, Pulses, Step, Waveform

    cols = {"trial": "trial index", "kind": "step | pulses | noise | waveform", "drive": "current | conductance",
            "amplitude": "amplitude (pA for current, nS for conductance; noise: its sigma in pA)",
            "amplitude_unit": "pA or nS", "reversal_mV": "reversal potential of a conductance drive (mV)",
            "width_ms": "pulse width (ms)", "period_ms": "pulse period (ms)", "tau_ms": "noise correlation time (ms)",
            "waveform": "name of the sampled drive under /stimulus"}
    optional = ("reversal_mV", "width_ms", "period_ms", "tau_ms", "waveform")
    duration_s = stimulus.duration_ms / 1000.0
    rows = []
    for k, t0 in enumerate(trial_starts_s):
        for j, c in enumerate(stimulus.components):
            stop_ms = getattr(c, "stop_ms", None)
            row: dict = {"trial": k, "drive": "current", "amplitude_unit": "pA"}
            if isinstance(c, Step):
                row.update(kind="step", amplitude=float(c.amplitude_pA))
            elif isinstance(c, Pulses):
                row.update(kind="pulses", amplitude=float(c.amplitude), drive=c.kind, width_ms=float(c.width_ms),
                           period_ms=float(c.period_ms))
            elif isinstance(c, Noise):
                row.update(kind="noise", amplitude=float(c.sigma_pA), tau_ms=float(c.tau_ms))
            elif isinstance(c, Waveform):
                name = f"waveform_{j:02d}"
                row.update(kind="waveform", amplitude=float(np.max(np.abs(c.values))), drive=c.kind, waveform=name)
                stop_ms = c.start_ms + c.values.shape[0] * c.sample_dt_ms
                if k == 0:
                    nwb.add_stimulus(TimeSeries(name=name, data=np.asarray(c.values), unit="pA" if c.kind == "current" else "nS",
                                                rate=1000.0 / c.sample_dt_ms, starting_time=c.start_ms / 1000.0,
                                                description=f"sampled {c.kind} drive, one column per target of "
                                                            f"component {j} in intervals/stimulation (the same every trial)"))
            if row["drive"] == "conductance":
                row.update(amplitude_unit="nS", reversal_mV=float(c.E_mV))
            stop = min(stop_ms if stop_ms is not None else stimulus.duration_ms, stimulus.duration_ms) / 1000.0
            row.update(start_time=t0 + c.start_ms / 1000.0, stop_time=t0 + min(stop, duration_s), targets=_targets(c, neuron_ids))
            rows.append(row)
    if not rows:
        return
    table = TimeIntervals(name="stimulation", description="what was done to which neurons: one row per stimulus "
                          "component and trial, in order of start time")
    used = [c for c in cols if c not in optional or any(c in r for r in rows)]
    for c in used:
        table.add_column(c, cols[c])
    table.add_column("targets", "stimulated neuron ids", index=True)
    fill = {"waveform": ""}
    for r in sorted(rows, key=lambda r: (r["start_time"], r["trial"])):
        table.add_interval(**{c: r.get(c, fill.get(c, float("nan"))) for c in used},
                           start_time=r["start_time"], stop_time=r["stop_time"], targets=r["targets"])
    nwb.add_time_intervals(table)
