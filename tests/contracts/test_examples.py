"""The files a newcomer starts from work: the tutorial runs the loop from Python (at its
smallest size), the example run config and planner scenario validate and run, and the
README's relative links point at files of the repository (a clone has no ../shared/)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_tutorial_runs_the_loop_from_python(tmp_path):
    spec = importlib.util.spec_from_file_location("tutorial", ROOT / "examples" / "tutorial.py")
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    n = tutorial.main(["--neurons", "10", "--out", str(tmp_path / "t")])
    assert n["matched"] >= 8 and n["synapse_f1"] > 0.8 and n["type_accuracy"] > 0.9
    assert (tmp_path / "t/recon/segmentation.ome.zarr").is_dir() and (tmp_path / "t/numbers.json").is_file()
    # Calibrating the recovered membranes brings the emulated spike counts nearer the
    # truth's than the raw (sampled, partly detected) molecule counts do.
    truth = sum(n["true spikes"])
    assert abs(sum(n["emulation spikes"]) - truth) < abs(sum(n["naive spikes"]) - truth)


def test_example_run_config_and_scenario():
    from neurophantom.pipeline.config import load_run_config
    from neurophantom.plan.planner import plan
    from neurophantom.plan.scenario import load_scenario, make_scenario

    cfg = load_run_config(file=ROOT / "examples" / "run_small.yaml")
    assert cfg.world.n_neurons == 24 and cfg.scan.barcoded["membrane_photons"] == 3000.0
    assert cfg.scan.barcoded["barcode"]["kind"] == "parallel"  # the entries the file does not name keep their defaults
    fields = load_scenario(ROOT / "examples" / "plan_human_mixed.yaml")
    p = plan(make_scenario(**{**fields, "samples": 500, "engine_benchmark": "none"}))
    assert p.scenario.modality == "mixed" and p.point["instrument_years"] > 0


def test_readme_links_resolve_in_a_clone():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links and "../shared" not in text
    for link in links:
        if not re.match(r"[a-z]+://", link):
            assert (ROOT / link).exists(), link


@pytest.mark.parametrize("page", ["docs/index.md", "docs/tutorial.md"])
def test_docs_pages_link_to_existing_files(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not re.match(r"[a-z]+://", link):
            assert ((ROOT / page).parent / link).exists(), (page, link)


def test_api_reference_builds(tmp_path):
    """`mkdocs build --strict` (mkdocstrings over the numpydoc docstrings) succeeds and
    the reference documents the entry points of the stages."""
    import subprocess
    import sys

    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for page, name in (("engine", "simulate"), ("reconstruct", "reconstruct"), ("io", "write_ome_zarr"),
                       ("report", "headline"), ("plan", "plan")):
        assert name in (site / "api" / page / "index.html").read_text(), (page, name)
