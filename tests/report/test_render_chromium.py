"""The report opens in a real browser (headless Chromium, no server): every figure decodes
(naturalWidth > 0), no console error, no exception, no request beyond the file itself.
The harness is first shown to catch a broken image, a blocked external URL and a script
error, so that a clean pass means something."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from neurophantom.report import plots
from neurophantom.report.html import write_report



@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rng = np.random.default_rng(1)
    t = np.arange(120) * 10.0
    rec = rng.normal(size=(120, 4)).cumsum(axis=0)
    figures = {
        "traces": plots.traces_figure(t, rec * 0.9 + 0.5, rec),
        "traces/correlation": plots.correlation_histogram({"emulation": rng.uniform(0, 1, 30), "shuffled": rng.uniform(-1, 0.5, 30)}),
        "memory_recall": plots.recall_bars({"truth": 0.2, "emulation": 0.1, "shuffled": 0.0}),
        "identifiability": plots.identifiability_figure([10.0, 1.0, 0.0],
                                                        {"g": {"value": 1.0, "ci95": [0.9, 1.1], "identifiable": True}}),
    }
    path = tmp_path_factory.mktemp("chromium") / "report.html"
    write_report(path, title='run <"organoid">', scores={"emulation": {"trace_correlation": 0.8}}, config={"seed": 0},
                 figures=figures, tables={"extra": [{"a": 1}]}, runtime_seconds={"all": 1.0},
                 instrument_seconds={"exm": 100.0})
    return path, len(figures)


def test_report_renders_in_headless_chromium(render_page, report):
    path, n_figures = report
    out = render_page(path)
    assert out["errors"] == [] and out["foreign_requests"] == [], out
    assert len(out["images"]) == n_figures
    assert all(i["complete"] and i["naturalWidth"] > 0 and i["naturalHeight"] > 0 for i in out["images"]), out["images"]


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
