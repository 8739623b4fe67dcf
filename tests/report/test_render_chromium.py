"""The report opens in a real browser (headless Chromium, no server): every figure decodes
(naturalWidth > 0), no console error, no exception, no request beyond the file itself;
and in a full-page screenshot the headline table and every figure are on screen (shown,
not collapsed, a non-empty box, and pixels inside it that are not one flat colour). The
harness is first shown to catch a broken image, a blocked external URL, a script error,
a collapsed table and a hidden figure, so that a clean pass means something."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from neurophantom.report import plots
from neurophantom.report.html import write_report



PROBES = ("table.headline", "figure img")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from neurophantom.report.headline import LADDER_STEPS, headline

    rng = np.random.default_rng(1)
    t = np.arange(120) * 10.0
    rec = rng.normal(size=(120, 4)).cumsum(axis=0)
    ladder = [{"step": s, "trace_correlation": 0.9 - 0.1 * k, "spike_coincidence_gamma": 0.5} for k, s in enumerate(LADDER_STEPS)]
    figures = {
        "traces": plots.traces_figure(t, rec * 0.9 + 0.5, rec, columns=[0, 2], smooth_sigma_ms=20.0, tags=["median", "75th"]),
        "traces/correlation": plots.correlation_histogram({"emulation": rng.uniform(0, 1, 30), "shuffled": rng.uniform(-1, 0.5, 30)}),
        "memory_recall": plots.recall_bars({"truth": 0.2, "emulation": 0.1, "shuffled": 0.0},
                                           per_pattern={"truth": [0.1, 0.3], "emulation": [0.05, 0.15]}),
        "identifiability": plots.identifiability_figure(
            [10.0, 1.0, 0.0], {"g": {"value": 1.0, "ci95": [0.9, 1.1], "identifiable": True},
                               "h": {"value": 2.0, "ci95": [0.1, 50.0], "identifiable": False},
                               "f": {"value": 3.0, "ci95": [3.0, 3.0], "status": "fixed"}}),
        "ladder": plots.ladder_figure({"barcoded ExM": ladder, "synchrotron + Rosetta": ladder[:3]}, LADDER_STEPS),
    }
    scores = {"emulation": {"trace_correlation": 0.8, "control_trace_correlation": 0.3, "rosetta_trace_correlation": 0.6},
              "function": {"truth": 0.2, "emulation": 0.1, "rosetta_emulation": 0.05},
              "instrument_seconds": {"heldout_barcoded": 100.0, "heldout_blind": 1.0}, "ladder": ladder}
    path = tmp_path_factory.mktemp("chromium") / "report.html"
    write_report(path, title='run <"organoid">', scores=scores, config={"seed": 0},
                 figures=figures, tables={"extra": [{"a": 1}]}, runtime_seconds={"all": 1.0},
                 instrument_seconds={"exm": 100.0}, answer=headline(scores), scores_link="scores.json")
    return path, len(figures)


def _painted(shot: bytes, box: dict) -> float:
    """Standard deviation of the screenshot's grey levels inside ``box`` (0: one flat colour)."""
    img = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float64)
    y0, x0 = int(box["y"]), int(box["x"])
    crop = img[y0:y0 + int(box["height"]), x0:x0 + int(box["width"])]
    return float(crop.std()) if crop.size else 0.0


def test_report_renders_in_headless_chromium(render_page, report):
    path, n_figures = report
    out = render_page(path, PROBES)
    assert out["errors"] == [] and out["foreign_requests"] == [], out
    assert len(out["images"]) == n_figures
    assert all(i["complete"] and i["naturalWidth"] > 0 and i["naturalHeight"] > 0 for i in out["images"]), out["images"]
    # The screenshot shows the headline table first and every figure, each painted.
    tables, figs = out["boxes"]["table.headline"], out["boxes"]["figure img"]
    assert len(tables) == 1 and tables[0]["visible"] and "synchrotron + Rosetta" in tables[0]["text"]
    assert len(figs) == n_figures and all(f["visible"] for f in figs), figs
    assert tables[0]["y"] < min(f["y"] for f in figs)  # the answer comes before the figures
    assert tables[0]["y"] + tables[0]["height"] < Image.open(io.BytesIO(out["screenshot"])).size[1]
    for box in [tables[0], *figs]:
        assert _painted(out["screenshot"], box) > 5.0, box
    ys = sorted((f["y"], f["y"] + f["height"]) for f in figs)
    assert all(a[1] <= b[0] for a, b in zip(ys, ys[1:]))  # figures do not overlap one another


def test_visibility_check_catches_hidden_parts(render_page, tmp_path):
    """A headline table inside a closed <details> and a figure with display:none are
    reported as not visible; the same figure shown is."""
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buf, format="PNG")
    png = base64.b64encode(buf.getvalue()).decode()
    page = tmp_path / "hidden.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        '<details><summary>open me</summary><table class="headline"><tr><td>x</td></tr></table></details>'
        f'<figure><img alt="a" src="data:image/png;base64,{png}"></figure>'
        f'<figure style="display:none"><img alt="b" src="data:image/png;base64,{png}"></figure></body></html>')
    out = render_page(page, PROBES)
    assert [b["visible"] for b in out["boxes"]["table.headline"]] == [False]
    assert [b["visible"] for b in out["boxes"]["figure img"]] == [True, False]
    assert _painted(out["screenshot"], out["boxes"]["figure img"][0]) == 0.0  # one flat red: not "painted" content


def test_harness_catches_broken_pages(render_page, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    good = buf.getvalue()
    ok, bad = (base64.b64encode(x).decode() for x in (good, good[:40]))  # truncated PNG: header only
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; script-src 'unsafe-inline'\">"
        f'</head><body><img alt="ok" src="data:image/png;base64,{ok}"><img alt="bad" src="data:image/png;base64,{bad}">'
        '<img alt="far" src="https://example.invalid/x.png"><script>undefinedFunction()</script></body></html>')
    out = render_page(page)
    widths = {i["alt"]: i["naturalWidth"] for i in out["images"]}
    assert widths == {"ok": 8, "bad": 0, "far": 0}
    text = " ".join(out["errors"])
    assert "undefinedFunction" in text  # the script error
    assert "Content Security Policy" in text or "example.invalid" in text  # the blocked external image
