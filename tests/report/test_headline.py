"""The run's answer (report/headline.py) and the report's rules, on a fabricated scores
dict with every key of the scores.json contract (issue 16's ladder, effective truths,
coverage, function ratio with intervals, the synchrotron reconstruction's score), and
with those keys missing (an older run): cells say n/a, nothing fails."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from neurophantom.pipeline.report import parameter_table
from neurophantom.report import plots
from neurophantom.report.headline import LADDER_STEPS, headline, paired_difference
from neurophantom.report.html import render_report

RECON = {"segmentation": {"voi_split": 0.25, "voi_merge": 0.26}, "synapses": {"f1": 0.998},
         "connectome": {"edge_f1": 1.0}, "molecules": {"type_accuracy": 0.9965}}
LADDER = [{"step": s, "trace_correlation": r, "spike_coincidence_gamma": g}
          for s, r, g in zip(LADDER_STEPS, (0.95, 0.90, 0.85, 0.80, 0.70, 0.51), (0.9, 0.8, 0.6, 0.5, 0.3, 0.1))]


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    em = rng.uniform(0.3, 0.9, 60)
    return {
        "reconstruction": RECON,
        "reconstruction_blind": {"segmentation": {"voi_split": 0.4, "voi_merge": 0.3}, "synapses": {"f1": 0.9},
                                 "connectome": {"edge_f1": 0.85}, "molecules": {"type_accuracy": None}},
        "identification": {
            "reduced_chi_square": 1.3,
            "parameter_recovery": {
                "g_receptor_pS[ampa]": {"true": 14.0, "effective_truth": 28.0, "start": 10.0, "recovered": 28.3,
                                        "ci95": [28.1, 28.5], "covered": False, "identifiable": True,
                                        "status": "constrained by the data"},
                "g_receptor_pS[nmda]": {"true": 50.0, "start": 50.0, "recovered": 50.0, "ci95": [50.0, 50.0],
                                        "identifiable": False, "status": "fixed"},
            },
            "identifiability": {"eigenvalues": [1e6, 1e4], "parameters": {}},
        },
        "emulation": {"trace_correlation": 0.51, "control_trace_correlation": 0.20, "baseline_trace_correlation": 0.32,
                      "rosetta_trace_correlation": 0.58, "spike_coincidence_gamma": 0.10,
                      "rosetta_spike_coincidence_gamma": 0.09, "trace_sigma_ms": 10.0,
                      "per_neuron": {"emulation": list(em), "shuffled": list(em - 0.3 + rng.normal(0, 0.05, 60))}},
        "function": {"truth": 0.11, "emulation": 0.25, "rosetta_emulation": 0.07, "ratio": 2.2, "ratio_ci95": [1.1, 3.5],
                     "truth_ci95": [0.05, 0.17]},
        "ladder": LADDER, "ladder_rosetta": LADDER[:3],
        "instrument_seconds": {"train0_barcoded": 222.0, "heldout_barcoded": 250.0, "heldout_blind": 0.82},
        "runtime_seconds": {"a": 1.0},
    }


PLANS = {"barcoded ExM": {"instrument_years": {"point": 5.9e6, "p05": 2.9e6, "p95": 1.2e7},
                          "instruments": {"point": 590476.0}, "deadline_years": 10.0}}


def _cells(h, label):
    return dict(zip(h.columns, next(r for r in h.rows if r.label == label).cells))


def test_headline_answers_per_modality(scores):
    h = headline(scores, PLANS)
    assert h.columns == ("barcoded ExM", "synchrotron + Rosetta")
    assert "r = 0.51" in h.sentence and "above its shuffled-connectome control" in h.sentence  # +0.3 per neuron
    assert "220% [110%, 350%]" in h.sentence and "r = 0.58" in h.sentence and h.sentence.count(".") >= 1
    assert _cells(h, "this specimen (held-out)") == {"barcoded ExM": "4.17 min", "synchrotron + Rosetta": "0.82 s"}
    assert _cells(h, "a human brain (planner)")["barcoded ExM"].startswith("5.9e+06 instrument-years (90%: 2.9e+06 to 1.2e+07)")
    assert "590,476 instruments for 10 years" in _cells(h, "a human brain (planner)")["barcoded ExM"]
    assert _cells(h, "a human brain (planner)")["synchrotron + Rosetta"] == "n/a"
    assert _cells(h, "synapse F1") == {"barcoded ExM": "1.00", "synchrotron + Rosetta": "0.90"}
    assert _cells(h, "protein types read correctly")["synchrotron + Rosetta"] == "not read (receptor-blind)"
    assert _cells(h, "memory recall kept") == {"barcoded ExM": "220% [110%, 350%]", "synchrotron + Rosetta": "64% (no interval)"}
    ladder = [r for r in h.rows if r.group == "blame ladder"]
    assert [r.label for r in ladder] == list(LADDER_STEPS.values())
    assert ladder[0].cells == ("0.95 (0.90)", "0.95 (0.90)") and ladder[-1].cells == ("0.51 (0.10)", "n/a")
    # The blame note names the step that loses most (0.70 -> 0.51 for ExM).
    assert any("barcoded ExM: the largest loss of trace correlation (0.19)" in n and "the fitted map" in n for n in h.notes)
    assert all(r.unit and r.better in ("higher", "lower") for r in h.rows)
    assert not any("did not score the synchrotron" in n for n in h.notes)


def test_headline_degrades_on_an_older_run(scores):
    old = copy.deepcopy(scores)
    for k in ("ladder", "ladder_rosetta", "reconstruction_blind"):
        del old[k]
    for k in ("ratio", "ratio_ci95", "truth_ci95"):
        del old["function"][k]
    old["emulation"]["per_neuron"] = {}
    h = headline(old)
    assert _cells(h, "memory recall kept")["barcoded ExM"] == "227% (no interval)"  # 0.25 / 0.11
    assert _cells(h, "synapse F1")["synchrotron + Rosetta"] == "n/a"
    assert [r.label for r in h.rows if r.group == "blame ladder"] == ["not computed in this run"]
    assert "against 0.20 for its shuffled-connectome control" in h.sentence
    assert any("did not score the synchrotron" in n for n in h.notes)
    # No emulation at all: a sentence that says so; truth without recall: kept is undefined.
    assert "no emulation score" in headline({"reconstruction": RECON}).sentence
    old["function"]["truth"] = 0.0
    assert _cells(headline(old), "memory recall kept")["barcoded ExM"].startswith("undefined")


def test_paired_difference_is_a_two_sided_interval():
    rng = np.random.default_rng(1)
    a = rng.normal(0.5, 0.1, 200)
    d, lo, hi = paired_difference(a, a - 0.1)  # a constant shift: the interval is that shift
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    d, lo, hi = paired_difference(a, rng.permutation(a))  # no difference in truth: interval holds 0
    assert lo < 0 < hi and hi - lo < 0.1
    assert paired_difference([1.0, np.nan], [0.0, 1.0]) is None and paired_difference([1, 2], [1, 2, 3]) is None


def test_parameter_table_says_fixed_not_identifiable(scores):
    rows = {r["parameter"]: r for r in parameter_table(scores)}
    fixed, learned = rows["g_receptor_pS[nmda]"], rows["g_receptor_pS[ampa]"]
    assert fixed["role"] == "fixed (library)" and fixed["identifiability"] == "n/a (fixed)" and fixed["95% interval"] is None
    assert learned["role"] == "learned" and learned["effective true value"] == 28.0
    assert learned["interval covers the effective value"] is False and learned["95% interval"] == [28.1, 28.5]


def test_representative_neurons_by_quantile():
    r = [0.9, np.nan, 0.1, 0.5, 0.3, 0.7]
    assert plots.representative_columns(r) == [4, 3, 5]  # nearest the 25th (0.3), 50th (0.5), 75th (0.7)
    assert plots.representative_columns([0.2, 0.2], (0.25, 0.5, 0.75)) == [0, 1]  # each neuron once
    assert plots.representative_columns([np.nan]) == []


def test_mean_interval_covers_the_mean():
    m, lo, hi = plots.mean_interval([0.1, 0.2, 0.3, 0.4])
    assert m == pytest.approx(0.25) and lo < m < hi and 0.1 <= lo and hi <= 0.4
    assert plots.mean_interval([0.3]) == (0.3, 0.3, 0.3)


def test_answer_section_leads_the_page(scores):
    h = headline(scores, PLANS)
    page = render_report(title="t", scores=scores, config={}, figures={}, runtime_seconds={"a": 1.0}, answer=h,
                         scores_link="scores.json")
    first = page.index('id="answer"')
    assert first < page.index('id="traces"') < page.index('id="scores"')
    assert page.count('<table class="headline">') == 1 and "synchrotron + Rosetta" in page[first:page.index('id="traces"')]
    assert "220% [110%, 350%]" in page and "nats (lower)" in page


def test_raw_scores_never_call_a_fixed_parameter_identifiable(scores):
    from neurophantom.pipeline.report import _summary

    raw = _summary(scores)
    assert raw["identification"]["parameter_recovery"]["g_receptor_pS[nmda]"]["identifiable"] == "n/a (fixed)"
    assert raw["identification"]["parameter_recovery"]["g_receptor_pS[ampa]"]["identifiable"] is True
    assert "per_neuron" not in raw["emulation"]
