"""Contract: the reconstruction sees only the Scan. No module of ``reconstruct/`` may import
the tissue stage, validation, sources or the Phantom (its truth tables), statically or at
run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import neurophantom.reconstruct as pkg

FORBIDDEN = ("neurophantom.tissue", "neurophantom.validate", "neurophantom.sources", "neurophantom.types.phantom",
             "neurophantom.instruments")


def _imports(path: Path) -> list[str]:
    """Absolute names imported by a module of neurophantom.reconstruct (relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ["neurophantom", "reconstruct"][: max(0, 2 - (node.level - 1))] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return names


def test_no_module_imports_ground_truth():
    files = sorted(Path(pkg.__file__).parent.glob("*.py"))
    assert len(files) >= 8
    for f in files:
        for name in _imports(f):
            assert not name.startswith(FORBIDDEN), f"{f.name} imports {name}"
            assert not name.endswith((".Phantom", ".phantom")), f"{f.name} imports {name}"


def test_the_checker_would_catch_a_peek(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..tissue import grow_tissue\nfrom ..types.phantom import Phantom\nimport neurophantom.validate\n")
    got = _imports(bad)
    assert "neurophantom.tissue" in got and "neurophantom.types.phantom" in got and "neurophantom.validate" in got


def test_reconstructing_a_saved_scan_loads_no_truth_module(tmp_path):
    code = f"""
import sys, numpy as np
from neurophantom.types.scan import ChannelInfo, Scan
img = np.full((1, 24, 24, 24), 5.0, np.float32)
img[0, 4:20, 4:20, 4:20] = 205.0   # a cube of membrane with a lumen inside
img[0, 5:19, 5:19, 5:19] = 5.0
Scan(images=img, channels=(ChannelInfo("membrane", "membrane"),), voxel_size_nm=(40.0, 40.0, 40.0), instrument="em",
     config={{}}, instrument_seconds=1.0).save({str(tmp_path / 'scan')!r})
for m in [m for m in sys.modules if m.startswith("neurophantom")]:
    del sys.modules[m]  # start again from a clean import state: only what reconstructing needs
from neurophantom.reconstruct import reconstruct
from neurophantom.types.scan import Scan
r = reconstruct(Scan.load({str(tmp_path / 'scan')!r}))
assert r.circuit.n_neurons == 1, r.circuit
print(",".join(sorted(m for m in sys.modules if m.startswith("neurophantom."))))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    loaded = res.stdout.strip().split(",")
    assert "neurophantom.reconstruct.segment" in loaded
    assert not [m for m in loaded if m.startswith(FORBIDDEN)]
