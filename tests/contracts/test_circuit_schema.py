"""Circuit contracts: lossless round trip and one-line errors naming table, column, row."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurophantom import Circuit, CorruptDataError, NeurophantomError, ValidationError
from neurophantom.sources.minimal import hh_cells
from neurophantom.types import weight_matrix, to_networkx


def _circuit():
    return hh_cells(
        4,
        edges=[(0, 1, "ampa", 100.0), (0, 2, "ampa", 50.0), (3, 1, "gaba_a", 80.0)],
        gap_junctions=[(1, 2, 5.0)],
    )


def _assert_equal(a: Circuit, b: Circuit):
    for t in ("neurons", "synapses", "gap_junctions"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True)
    assert a.channel_types == b.channel_types and a.receptor_types == b.receptor_types
    assert a.header() == b.header()


def test_round_trip_is_lossless(tmp_path):
    c = _circuit()
    c.save(tmp_path / "c")
    _assert_equal(c, Circuit.load(tmp_path / "c"))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    dens=st.lists(st.floats(0, 1e4, allow_nan=False, allow_infinity=False), min_size=1, max_size=6),
    x=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
def test_round_trip_property(tmp_path_factory, n, dens, x):
    edges = [(i % n, (i + 1) % n, "ampa", d) for i, d in enumerate(dens) if n > 1]
    c = hh_cells(n, edges=edges or None)
    nrn = c.neurons.copy()
    nrn["x_um"] = x
    c = c.replace(neurons=nrn)
    p = tmp_path_factory.mktemp("rt") / "c"
    c.save(p)
    _assert_equal(c, Circuit.load(p))


@pytest.mark.parametrize(
    "table,col,row,value,needle",
    [
        ("synapses", "post", 1, 99, "unknown neuron id 99"),
        ("synapses", "ampa", 2, -1.0, "negative density"),
        ("neurons", "na", 3, np.nan, "NaN density on a row marked observed"),
        ("neurons", "area_um2", 0, np.nan, "non-finite"),
        ("neurons", "release", 1, "burst", "unknown release mode"),
        ("gap_junctions", "b", 0, 1, "two different neurons"),
    ],
)
def test_bad_content_names_table_column_row(table, col, row, value, needle):
    c = _circuit()
    df = getattr(c, table).copy()
    if df[col].dtype == object or isinstance(value, str):
        df[col] = df[col].astype(object)
    df.loc[row, col] = value
    with pytest.raises(ValidationError) as e:
        c.replace(**{table: df})
    msg = str(e.value)
    assert "\n" not in msg
    assert f"table {table!r}" in msg and f"column {col!r}" in msg and f"row {row}" in msg and needle in msg


def test_missing_column_and_wrong_dtype():
    c = _circuit()
    with pytest.raises(ValidationError, match=r"table 'synapses', column 'contact_area_um2': missing column"):
        c.replace(synapses=c.synapses.drop(columns=["contact_area_um2"]))
    with pytest.raises(ValidationError, match=r"table 'neurons', column 'id': wrong dtype"):
        c.replace(neurons=c.neurons.assign(id=c.neurons["id"].astype(float)))


def test_unobserved_rows_may_be_nan_but_models_refuse_them():
    from neurophantom.biophysics import build_model

    c = _circuit()
    syn = c.synapses.copy()
    syn["receptors_observed"] = False
    syn["ampa"] = np.nan
    blind = c.replace(synapses=syn)
    with pytest.raises(NeurophantomError, match="unobserved"):
        build_model(blind)


def test_corrupt_files_are_clear_errors(tmp_path):
    c = _circuit()
    p = c.save(tmp_path / "c")
    (p / "synapses.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorruptDataError, match="synapses"):
        Circuit.load(p)
    (p / "circuit.json").write_text("{")
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        Circuit.load(p)
    with pytest.raises(NeurophantomError, match="not found"):
        Circuit.load(tmp_path / "nope")


def test_views_weight_matrix_and_graph():
    c = _circuit()
    w = weight_matrix(c, "ampa", dense=True)
    area = 0.5
    assert w[0, 1] == pytest.approx(100.0 * area) and w[0, 2] == pytest.approx(50.0 * area)
    assert w.sum() == pytest.approx(150.0 * area)
    g = weight_matrix(c, "gap", dense=True)
    assert g[1, 2] == g[2, 1] == 5.0
    assert weight_matrix(c, "contacts").sum() == 3
    G = to_networkx(c)
    assert G.number_of_nodes() == 4
    assert sum(1 for *_, d in G.edges(data=True) if d["kind"] == "chemical") == 3
    with pytest.raises(NeurophantomError, match="unknown synapse class"):
        weight_matrix(c, "nmda_x")


def test_polyadic_rows_must_share_release_site():
    c = _circuit()
    syn = c.synapses.copy()
    syn.loc[1, "synapse_id"] = 0  # row 1 (pre 0 -> post 2) joins synapse 0 (pre 0 -> post 1): fine
    ok = c.replace(synapses=syn)
    assert ok.n_synapses == 2 and ok.n_synapse_partners == 3
    syn.loc[2, "synapse_id"] = 0  # pre 3 cannot share a release site of pre 0
    with pytest.raises(ValidationError, match="share pre"):
        c.replace(synapses=syn)
