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
