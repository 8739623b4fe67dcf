"""Run every registered benchmark in order (``make bench``).

Append new benchmarks to ``BENCHMARKS`` (path relative to this folder, extra arguments).
COBAHH stays last: the final line of ``make bench`` is its
``cobahh speedup_vs_brian2_standalone=<float>``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (script, arguments) in run order; keep cobahh.py last.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("tissue.py", []),
    ("instruments.py", []),
    ("reconstruct.py", []),
    ("study.py", []),
    ("cobahh.py", []),
]


def main() -> int:
    failed = []
    for k, (script, extra) in enumerate(BENCHMARKS):
        print(f"=== {script} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / script), *extra])
        if rc:
            failed.append(script)
        if k < len(BENCHMARKS) - 1:  # nothing after the last one: its last line is the contract line
            print(f"=== {script}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
