"""Truth recall of the default memory world over circuit draws (issue 16, item 7).

Runs :func:`neurophantom.study.recall.truth_recall_study` on the run config (defaults, or
``--set key=value`` overrides as ``neurophantom run`` takes them) for each seed, prints
one line per draw and the summary (mean, min, 95% bootstrap interval over draws), and
optionally writes the JSON. Truth simulation only (with each draw's grown tissue
membranes, about 10 s, unless ``--source-membranes``): about 20 s a draw on one core.

Usage: ``python benchmarks/memory_recall.py [--seeds 12 13 14 15 16] [--control none|shuffled|no_memory]
[--source-membranes] [--set world.memory_strength=20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from neurophantom.io import atomic_write_json  # noqa: E402
from neurophantom.pipeline.config import load_run_config  # noqa: E402
from neurophantom.study.recall import truth_recall_study  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[12, 13, 14, 15, 16])
    ap.add_argument("--control", choices=["none", "shuffled", "no_memory"], default="none")
    ap.add_argument("--source-membranes", action="store_true", help="simulate the source's membranes, not the grown tissue's")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    sets = dict(s.split("=", 1) for s in a.set)
    cfg = load_run_config(sets=sets)
    res = truth_recall_study(cfg, a.seeds, grown=not a.source_membranes, control=a.control)
    for d in res["draws"]:
        print(f"seed {d['seed']}: recall {d['score']:.3f} [{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}] patterns {d['patterns']} "
              f"completion {d['completion']} crosstalk {d['crosstalk']} spontaneous_hz {d['spontaneous_hz']}")
    print(f"truth recall ({a.control}, {'grown' if res['grown'] else 'source'} membranes) mean {res['mean']:.3f} "
          f"[{res['ci95'][0]:.3f}, {res['ci95'][1]:.3f}] min {res['min']:.3f} over {len(res['draws'])} draws")
    if a.json:
        atomic_write_json(a.json, {"sets": sets, **res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
