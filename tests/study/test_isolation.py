"""A stage's own dask work runs inside its task, never on the study's cluster.

Inside a dask.distributed task, ``dask.compute`` would by default submit to the cluster
that runs the task; two stages rendering volumes side by side then share one scheduler,
and graphs with equal keys (two phantoms of one shape) are merged: a phantom came back
with a chunk missing. A probe kind records which scheduler its stage sees.
"""

from __future__ import annotations

import json
import sys
import types

from neurophantom.pipeline import Stage
from neurophantom.pipeline.runner import MARKER
from neurophantom.study import kinds, parse_study, run_study


def _probe_stage(out, inputs, cfg):
    import dask
    import dask.array as da

    sched = dask.base.get_scheduler()
    owner = getattr(sched, "__self__", None)
    total = int(da.ones(1000, chunks=100).sum().compute())
    return {"local": int(type(owner).__name__ != "Client"), "total": total}


def _module():
    mod = types.ModuleType("np_probe_kind")
    mod.KIND = kinds.PointKind(
        name="probe", description="which dask scheduler a stage sees",
        check_options=lambda o: {}, check_settings=lambda s, o: None,
        stages=lambda s, seed, o: [Stage(name="probe", fn=_probe_stage, config={"x": s["x"], "seed": seed})],
        targets=lambda o: ["probe"],
        metrics=lambda s, seed, o, f: json.loads((f["probe"] / MARKER).read_text())["result"],
        metric_names=lambda o: ["local", "total"])
    return mod


def test_stage_dask_work_stays_in_its_task(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "np_probe_kind", _module())
    monkeypatch.setitem(kinds._MODULES, "probe", "np_probe_kind")
    spec = parse_study({"name": "probe", "kind": "probe", "grid": {"x": [1, 2, 3]}}, "test")
    res = run_study(spec, tmp_path, workers=2, processes=False)
    assert not res.failures and len(res.rows) == 3
    assert all(r["metrics"] == {"local": 1, "total": 1000} for r in res.rows)
