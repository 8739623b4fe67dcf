"""``neurophantom run``: bad configuration is one line on stderr and exit code 2, before
any stage runs (nothing is written to the run folder)."""

import pytest

from neurophantom.cli import main


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--preset", "mouse"], "unknown preset 'mouse'"),
        (["--set", "world.n_neurons=5"], "run config world.n_neurons"),
        (["--set", "world.receptor_predictability=1.5"], "run config world.receptor_predictability"),
        (["--set", "world.no_such_field=1"], "run config world.no_such_field"),
        (["--config", "/no/such/file.yaml"], "config file not found"),
        (["--preset", "pretty-printer", "--set", "world.task=sudoku"], "run config world.task"),
        (["--preset", "pretty-printer", "--set", "recording.heldout_cells=100"], "100 cells of a 77-neuron world"),
    ],
)
def test_bad_run_config_exits_2_with_one_line(capsys, tmp_path, args, needle):
    out = tmp_path / "run"
    code = main(["run", "--out", str(out), *args])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not (out / "stages").exists()


def test_corrupt_config_file_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("world: [unclosed\n")
    code = main(["run", "--out", str(tmp_path / "run"), "--config", str(bad)])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error:") and "not valid YAML" in err and len(err.strip().splitlines()) == 1


def test_set_one_entry_of_a_mapping_keeps_its_siblings(tmp_path):
    """``--set scan.tissue.x=v`` (or a config file naming one entry) changes that entry
    only: the other defaults of the mapping stay, including dotted biophysics keys."""
    from neurophantom.pipeline.config import RunConfig, load_run_config

    default = RunConfig()
    cfg = load_run_config(sets={"scan.tissue.neuropil_fill": 0.3, "world.biophysics.receptors.ampa.g_unit_pS": 20.0})
    assert cfg.scan.tissue["neuropil_fill"] == 0.3
    assert {k: v for k, v in cfg.scan.tissue.items() if k != "neuropil_fill"} == {
        k: v for k, v in default.scan.tissue.items() if k != "neuropil_fill"
    }
    assert cfg.world.biophysics["receptors.ampa.g_unit_pS"] == 20.0
    assert cfg.world.biophysics["channels.leak.g_unit_pS"] == default.world.biophysics["channels.leak.g_unit_pS"]
    f = tmp_path / "c.yaml"
    f.write_text("scan:\n  barcoded:\n    barcode:\n      fluorophores: 8\n")
    cfg = load_run_config(file=f)
    assert cfg.scan.barcoded["barcode"] == {**default.scan.barcoded["barcode"], "fluorophores": 8}
    assert cfg.scan.barcoded["membrane_photons"] == default.scan.barcoded["membrane_photons"]
