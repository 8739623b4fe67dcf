"""The report file: self-contained (figures as data URIs that decode to the given bytes, no
external URL, no script), every caller string escaped, every section present, numbers
shown, written atomically, and clear errors for bad input."""

from __future__ import annotations

import base64
import html
import html.parser
import json
import os

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.report import plots
from neurophantom.report.html import SECTIONS, human_duration, render_report, write_report

EVIL = '<script>alert("x")</script>&'


class _Collect(html.parser.HTMLParser):
    """Tags, attributes and text of a page, with the parser's own well-formedness view."""

    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.urls, self.text, self.stack = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a)
        for k in ("src", "href"):
            if k in a:
                self.urls.append(a[k])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def figures():
    rng = np.random.default_rng(0)
    t = np.arange(200) * 5.0
    rec = rng.normal(size=(200, 5)).cumsum(axis=0)
    return {
        "traces": plots.traces_figure(t, rec + rng.normal(size=rec.shape), rec, labels=[f"n{i}" for i in range(5)]),
        "traces/correlation": plots.correlation_histogram({"emulation": rng.uniform(0.3, 0.9, 50),
                                                           "shuffled": rng.uniform(-0.3, 0.4, 50)}),
        "memory_recall": plots.recall_bars({"truth": 0.18, "emulation": 0.12, "shuffled": float("nan")},
                                           per_pattern={"truth": [0.2, 0.1, 0.24]}),
        "identifiability": plots.identifiability_figure(
            [3e4, 2e2, 1.0, 1e-6, 0.0],
            {"ampa.g": {"value": 1.0, "ci95": [0.95, 1.05], "identifiable": True},
             "nmda.g": {"value": 0.5, "ci95": [-np.inf, np.inf], "identifiable": False},
             "E_gaba": {"value": -70.0, "ci95": [-72.0, -68.0], "identifiable": True}}),
        EVIL: plots.recall_bars({"a": 1.0}),
    }


@pytest.fixture(scope="module")
def scores():
    return {
        "reconstruction": {"edge_f1": 0.93, "segmentation": {"voi_split": np.float64(0.1), "voi_merge": 0.2}},
        "identification": {"unidentifiable": ["nmda.g"], "recovered_parameters": {"ampa.g": 1.01},
                           "eigenvalues": list(np.geomspace(1e4, 1e-3, 80))},
        "emulation": {"trace_correlation": 0.8123, "control_trace_correlation": 0.21,
                      "baseline_trace_correlation": 0.55, "per_protocol": [{"name": EVIL, "r": 0.8}, {"name": "b", "r": float("nan")}]},
        "function": {"truth": 0.18, "emulation": 0.12, "n_patterns": np.int64(3), "ok": True, EVIL: None},
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory, figures, scores):
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, title=f"run {EVIL}", scores=scores, config={"preset": "organoid", "seed": 0, "note": EVIL,
                                                                    "nested": {"dt_ms": 0.1}},
                 figures=figures, tables={"identifiability/parameters": [{"name": "ampa.g", "ci95": [0.95, 1.05]}],
                                          "extra": [{"a": 1, "b": EVIL}]},
                 runtime_seconds={"truth": 1.5, "scan": 10.25, "identify": np.float64(30.0)},
                 instrument_seconds={"exm": 4.0e7, "synchrotron": 90.0}, scores_link="scores.json")
    return path


def _parse(path):
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_self_contained_and_figures_are_the_given_pngs(page, figures):
    p = _parse(page)
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    # Figures are data URIs; the only other links are in-page and the scores.json beside the page.
    assert all(u.startswith(("data:image/png;base64,", "#")) or u == "scores.json" for u in p.urls), p.urls
    assert "scores.json" in p.urls
    assert len(p.imgs) == len(figures)
    decoded = {img["alt"]: base64.b64decode(img["src"].split(",", 1)[1]) for img in p.imgs}
    assert decoded == figures  # alt text is the (unescaped) key, bytes are exact
    for img in p.imgs:  # declared size = the PNG's own
        data = decoded[img["alt"]]
        assert (int(img["width"]), int(img["height"])) == (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
    assert "http://" not in page.read_text() and "https://" not in page.read_text()


def test_every_caller_string_is_escaped(page):
    raw = page.read_text()
    assert "<script>" not in raw and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in raw
    assert EVIL in "".join(_parse(page).text)  # and reads back as the original text


def test_sections_and_numbers(page):
    raw = page.read_text()
    text = " ".join(_parse(page).text)
    for heading in ("Summary", "Raw scores", *SECTIONS.values(), "Other figures and tables", "Real-instrument time",
                    "Runtime per stage", "Configuration"):
        assert heading in text, heading
    summary = raw[raw.index('id="summary"'):raw.index('id="traces"')]
    for key, shown in (("emulation.trace_correlation", "0.8123"), ("emulation.control_trace_correlation", "0.21"),
                       ("function.truth", "0.18"), ("identification.unidentifiable", "nmda.g"),
                       ("total runtime (s)", "41.75")):
        assert key in summary and shown in summary, key
    assert "voi_split" in raw and "n/a" in raw and "yes" in raw and "(80 values)" in raw
    instr = raw[raw.index('id="instrument-time"'):raw.index('id="runtime"')]
    assert "1.27 years" in instr and "1.5 min" in instr  # 4e7 s and 90 s
    runtime = raw[raw.index('id="runtime"'):raw.index('id="scores"')]
    # The raw scores sit in a collapsed <details> after the figures, not at the top.
    assert raw.index('id="scores"') > raw.index('id="identifiability"')
    rawsec = raw[raw.index('id="scores"'):raw.index('id="config"')]
    assert "<details>" in rawsec and "voi_split" in rawsec
    assert "24.6%" in runtime and "71.9%" in runtime and "41.750" in runtime
    # The identifiability table is in its section, the unknown-key table under "other".
    ident = raw[raw.index('id="identifiability"'):]
    assert raw.index('id="identifiability"') < raw.index(">parameters<") < raw.index('id="other"')
    assert "0.95" in ident
    # Config: the JSON text, unescaped, is the config.
    cfg = raw[raw.index('id="config"'):]
    cfg = html.unescape(cfg[cfg.index("<pre>") + 5:cfg.index("</pre>")])
    assert json.loads(cfg) == {"preset": "organoid", "seed": 0, "note": EVIL, "nested": {"dt_ms": 0.1}}


def test_written_atomically_and_replaces_old(tmp_path, figures):
    path = tmp_path / "report.html"
    path.write_text("old")
    write_report(path, title="t", scores={"a": 1}, config={}, figures={"traces": figures["traces"]},
                 runtime_seconds={"a": 1.0})
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary file left behind


def test_missing_sections_say_so(tmp_path):
    out = render_report(title="empty", scores={"x": 2.5}, config={}, figures={}, runtime_seconds={})
    assert out.count("(not produced in this run)") == len(SECTIONS)
    assert "(no scan in this run)" in out and "Other figures" not in out
    assert ">x<" in out and "2.5" in out  # no headline key present: the top-level scalars are shown


def test_human_duration():
    assert human_duration(30) == "30 s" and human_duration(7200) == "2 h"
    assert human_duration(86400 * 3) == "3 days" and human_duration(365.25 * 86400 * 2) == "2 years"


@pytest.mark.parametrize("kwargs, match", [
    ({"title": ""}, "title"),
    ({"figures": {"f": b"GIF89a...."}}, "not a PNG"),
    ({"figures": {"f": "/nonexistent/figure.png"}}, "cannot read"),
    ({"figures": {"f": 3}}, "PNG bytes or a path"),
    ({"runtime_seconds": {"a": -1.0}}, "runtime_seconds"),
    ({"runtime_seconds": {"a": "fast"}}, "runtime_seconds"),
    ({"instrument_seconds": {"exm": float("nan")}}, "instrument_seconds"),
    ({"tables": {"t": [1, 2]}}, "list of records"),
    ({"scores": [1, 2]}, "scores must be a mapping"),
])
def test_bad_input_raises(kwargs, match):
    base = dict(title="t", scores={}, config={}, figures={}, runtime_seconds={})
    with pytest.raises(NeurophantomError, match=match):
        render_report(**{**base, **kwargs})


def test_plot_helpers_reject_bad_input():
    with pytest.raises(NeurophantomError, match="time, neuron"):
        plots.traces_figure(np.arange(3), np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(NeurophantomError, match="labels"):
        plots.traces_figure(np.arange(3), np.zeros((3, 2)), np.zeros((3, 2)), labels=["a"])
    with pytest.raises(NeurophantomError, match="finite eigenvalues"):
        plots.identifiability_figure([1.0, np.nan])
    with pytest.raises(NeurophantomError, match="at least one"):
        plots.recall_bars({})
