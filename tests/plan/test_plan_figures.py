"""Oracle: the plan's own Fermi estimates (mission.md, "Numbers stated in the plan").

Each figure is reproduced from the plan's inputs by the planner's point estimate, within
the rounding the plan used (it quotes one or two significant figures).
"""

import math

import numpy as np
import pytest

from neurophantom.instruments import specs
from neurophantom.plan import build_inputs, evaluate, make_scenario
from neurophantom.plan.uncertainty import central_values

YEAR = 365.25 * 24 * 3600


def point(**fields):
    inputs, layout, *_ = build_inputs(make_scenario(engine_benchmark="none", **fields))
    return {k: float(v[0]) for k, v in evaluate(central_values(inputs), layout).items()}


@pytest.fixture(scope="module")
def exm():
    return point(modality="exm")


@pytest.fixture(scope="module")
def sync():
    return point()  # the default scenario is the plan's synchrotron one


def test_expanded_volume_about_1_9_m3(exm, sync):
    # 1400 cm^3 x 11^3 = 1.8634e6 cm^3 = 1.8634 m^3 ("about 1.9 m^3")
    assert exm["expanded_volume_m3"] == pytest.approx(1400e-6 * 11**3, rel=1e-12)
    assert exm["expanded_volume_m3"] == pytest.approx(1.9, rel=0.03)
    assert sync["expanded_volume_m3"] == pytest.approx(exm["expanded_volume_m3"], rel=1e-12)


def test_microscope_seconds_about_1_9e14(exm):
    # 1.8634 m^3 / 1e-14 m^3/s
    assert exm["instrument_seconds"] == pytest.approx(1.8634e14, rel=1e-9)
    assert exm["instrument_seconds"] == pytest.approx(1.9e14, rel=0.03)
    assert specs.lightsheet_seconds(1400 * specs.UM3_PER_CM3, 11.0) == pytest.approx(1.8634e14, rel=1e-12)


def test_microscopes_cost_and_floor(exm):
    assert exm["instruments"] == math.ceil(1.8634e14 / (10 * YEAR))  # 590,476
    assert exm["instruments"] == pytest.approx(6e5, rel=0.03)
    assert exm["capex_usd"] == pytest.approx(exm["instruments"] * 2e5, rel=1e-12)  # progress ratio 1.0
    assert exm["capex_usd"] == pytest.approx(120e9, rel=0.03)
    assert exm["floor_m2"] == exm["instruments"]  # 1 m^2 each
    assert exm["floor_side_m"] == pytest.approx(780, rel=0.025)


def test_synchrotron_beamlines_and_cost(sync):
    # 1.8634e9 mm^3 x 600 s/mm^3 / 10 = 1.118e11 s = 3543 beamline-years
    assert sync["instrument_years"] == pytest.approx(1.8634e9 * 60 / YEAR, rel=1e-9)
    assert 3000 <= sync["instrument_years"] <= 3600
    assert 300 <= sync["instruments"] <= 360
    assert 3.0e9 <= sync["capex_usd"] <= 3.6e9
    assert sync["capex_usd"] == pytest.approx(sync["instruments"] * 1e7, rel=1e-12)


def test_synchrotron_today_needs_ten_times_more():
    today = point(set={"synchrotron.speedup": 1})
    assert today["instrument_years"] == pytest.approx(35_428, rel=1e-3)
    assert 3000 <= today["instruments"] <= 3600


def test_em_hundred_thousand_instruments_for_six_years():
    em = point(modality="em", deadline_years=6)
    assert em["instrument_years"] == pytest.approx(6e5, rel=1e-9)
    assert em["instruments"] == 100_000
    assert em["capex_usd"] == pytest.approx(100e9, rel=1e-9)


def test_experience_curve_last_unit_about_1_4_percent(exm):
    assert exm["doublings"] == pytest.approx(19, abs=0.5)
    assert exm["last_unit_cost_fraction"] == pytest.approx(0.8 ** np.log2(590_476), rel=1e-12)
    assert exm["last_unit_cost_fraction"] == pytest.approx(0.014, abs=0.001)
    # the curve is reported beside capex_usd, and is far cheaper than it
    assert exm["capex_learning_usd"] < 0.05 * exm["capex_usd"]


def test_synchrotron_expansion_gives_27_nm_voxels():
    assert specs.SYNCHROTRON_VOXEL_NM / specs.EXM_DEFAULT_EXPANSION == pytest.approx(27, abs=0.5)


def test_sites_and_staff_follow_stated_ratios(exm):
    assert 10 <= exm["sites"] <= 100  # the plan: 10 to 100 sites
    assert exm["sites"] == math.ceil(exm["instruments"] / 1e4)
    assert exm["staff"] == math.ceil(exm["instruments"] / 10)


def test_mixed_strategy_splits_the_volume():
    f = 0.1
    mixed = point(modality="mixed", set={"rosetta_fraction": f, "exm.rounds": 1})
    exm, sync = point(modality="exm"), point()
    assert mixed["exm.instrument_years"] == pytest.approx(f * exm["instrument_years"], rel=1e-9)
    assert mixed["synchrotron.instrument_years"] == pytest.approx((1 - f) * sync["instrument_years"], rel=1e-9)
    assert mixed["expanded_volume_m3"] == pytest.approx(exm["expanded_volume_m3"], rel=1e-12)
    barcoded = point(modality="mixed")  # default: 4 serial-barcode rounds on the ExM share
    assert barcoded["exm.instrument_years"] == pytest.approx(4 * mixed["exm.instrument_years"], rel=1e-9)
