"""Issue 21's contracts beyond the probe's cases: ``--out`` never destroys, artifacts never
point outside themselves, dtypes and checksums are checked, absurd sizes are refused
before allocation, one run per run folder, cached stages are reused only if they verify,
Ctrl-C and SIGTERM always end in one line and exit 130/143, and no temporary is left.
Commands run in-process; the artifacts come from ``probe_world`` (built once).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.cli import main

pytestmark = pytest.mark.xdist_group("probe")

COB = ["circuit", "--source", "cobahh", "--set", "n_neurons=10"]


def _run(capfd, *args):
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def _error(code, err, needle=""):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ --out safety
def test_out_refuses_nonempty_and_overwrite_replaces_only_own_output(tmp_path, capfd):
    out = tmp_path / "c"
    assert _run(capfd, *COB, "--seed", "1", "--out", out)[0] == 0
    _error(*_run(capfd, *COB, "--seed", "2", "--out", out)[::2], "use --overwrite")
    assert json.loads((out / "circuit.json").read_text())["seed"] == 1
    code, _, err = _run(capfd, *COB, "--seed", "2", "--out", out, "--overwrite")
    assert code == 0, err
    assert json.loads((out / "circuit.json").read_text())["seed"] == 2
    assert not list(tmp_path.glob(".tmp-*")) and not list(tmp_path.glob(".old-*"))
    (out / "notes.txt").write_text("mine")  # the folder is no longer only the command's output
    _error(*_run(capfd, *COB, "--out", out, "--overwrite")[::2], "'notes.txt'")
    assert (out / "notes.txt").read_text() == "mine"
    # --overwrite of another command's output is refused too
    _error(*_run(capfd, "simulate", out, "--duration-ms", "10", "--out", out, "--overwrite")[::2], "is the input")
    other = tmp_path / "sim_like"
    other.mkdir()
    (other / "recording.nwb").write_bytes(b"x")
    _error(*_run(capfd, *COB, "--out", other, "--overwrite")[::2], "'recording.nwb'")


def test_out_never_a_file_nor_an_input(tmp_path, capfd, probe_world):
    f = tmp_path / "a_file"
    f.write_text("keep")
    _error(*_run(capfd, *COB, "--out", f)[::2], "existing file")
    assert f.read_text() == "keep"
    ph = tmp_path / "ph"
    shutil.copytree(probe_world / "ph", ph)
    _error(*_run(capfd, "scan", ph, "--instrument", "synchrotron", "--out", tmp_path)[::2], "contains the input")
    _error(*_run(capfd, "reconstruct", probe_world / "syn", "--config", tmp_path / "a_file", "--out", tmp_path, "--overwrite")[::2],
           "contains the input")
    assert f.read_text() == "keep" and (ph / "phantom.json").is_file()


def test_overwrite_swaps_the_folder_in_one_step(tmp_path):
    """``atomic_dir`` over an existing folder: the old content stays readable until the
    new one is complete, and no sibling is left behind."""
    from neurophantom.io import atomic_dir

    out = tmp_path / "x"
    out.mkdir()
    (out / "v").write_text("old")
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("new")
        assert (out / "v").read_text() == "old"
    assert (out / "v").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "v").write_text("half")
            raise RuntimeError("killed")
    assert (out / "v").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["x"]


# ------------------------------------------------------------------ containment, dtype, checksums
def test_ome_zarr_dataset_path_outside_the_store_is_refused(tmp_path, probe_world, capfd):
    """The probe's case: a scan whose dataset ``path`` is ``../../../other/scan.ome.zarr/0``
    exited 0 having read another scan's bytes."""
    for rel in ("../../../other/scan.ome.zarr/0", "/etc", "0/../../syn2/scan.ome.zarr/0"):
        case = tmp_path / "case"
        shutil.rmtree(case, ignore_errors=True)
        shutil.copytree(probe_world / "syn", case / "syn")
        shutil.copytree(probe_world / "syn", tmp_path / "other")
        meta = case / "syn" / "scan.ome.zarr" / "zarr.json"
        h = json.loads(meta.read_text())
        h["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = rel
        meta.write_text(json.dumps(h))
        _error(*_run(capfd, "info", case / "syn")[::2], "outside the artifact")
        _error(*_run(capfd, "reconstruct", case / "syn", "--out", tmp_path / "r")[::2], "outside the artifact")
        shutil.rmtree(tmp_path / "other")
    # a chunk that is a link to another store's chunk is refused the same way
    case = tmp_path / "case2"
    shutil.copytree(probe_world / "syn", case)
    shutil.copytree(probe_world / "syn", tmp_path / "other2")
    chunk = next(p for p in (case / "scan.ome.zarr" / "0" / "c").rglob("*") if p.is_file())
    chunk.unlink()
    chunk.symlink_to(tmp_path / "other2" / chunk.relative_to(case))
    _error(*_run(capfd, "reconstruct", case, "--out", tmp_path / "r")[::2], "outside the artifact")


def test_dtype_is_checked_against_manifest_and_header(tmp_path, probe_world):
    from neurophantom.types.scan import Scan

    case = tmp_path / "syn"
    shutil.copytree(probe_world / "syn", case)
    arr = case / "scan.ome.zarr" / "0"
    meta, man = json.loads((arr / "zarr.json").read_text()), json.loads((arr / "manifest.json").read_text())
    (arr / "zarr.json").write_text(json.dumps({**meta, "data_type": "int32"}))
    with pytest.raises(NeurophantomError, match="data type was changed"):
        Scan.load(case)
    (arr / "manifest.json").write_text(json.dumps({**man, "dtype": "<i4"}))  # consistent, but not what a scan holds
    with pytest.raises(NeurophantomError, match="expected float32"):
        Scan.load(case)


@pytest.mark.parametrize("folder,table,header", [("gt", "neurons.parquet", "circuit.json"),
                                                 ("ph", "synapses.parquet", "phantom.json"),
                                                 ("recon_syn", "morphology.parquet", "reconstruction.json")])
def test_a_flipped_byte_in_a_parquet_table_is_caught(tmp_path, probe_world, capfd, folder, table, header):
    case = tmp_path / folder
    shutil.copytree(probe_world / folder, case)
    f = case / table
    b = bytearray(f.read_bytes())
    b[len(b) // 3] ^= 0x04
    f.write_bytes(bytes(b))
    _error(*_run(capfd, "info", case)[::2], "checksum differs")
    f.write_bytes(bytes(b[:-10]))
    _error(*_run(capfd, "info", case)[::2], "truncated or altered")


def test_decoded_chunk_size_is_bounded_by_the_declared_shape(tmp_path, probe_world):
    """A chunk holding two zstd frames (the first of the right size, then 10 MB more) is
    refused before decoding; numcodecs would decode both."""
    import google_crc32c
    import numcodecs

    from neurophantom.io.omezarr import verify_ome_zarr

    case = tmp_path / "syn"
    shutil.copytree(probe_world / "syn", case)
    chunk = next(p for p in (case / "scan.ome.zarr" / "0" / "c").rglob("*") if p.is_file())
    frame = chunk.read_bytes()[:-4]
    extra = numcodecs.Zstd().encode(np.zeros(10_000_000, np.uint8))
    data = frame + extra
    chunk.write_bytes(data + google_crc32c.value(data).to_bytes(4, "little"))
    with pytest.raises(NeurophantomError, match="refused before decoding"):
        verify_ome_zarr(case / "scan.ome.zarr")


# ------------------------------------------------------------------ resource limits
def test_size_refusals_name_the_size_and_the_budget(memory_budget, probe_world, capfd, tmp_path):
    line = _error(*_run(capfd, "simulate", probe_world / "gt", "--duration-ms", "5e7", "--dt-ms", "0.05",
                        "--out", tmp_path / "s")[::2], "memory budget")
    assert "GiB" in line and "4 GiB" in line
    from neurophantom.io import check_memory

    with pytest.raises(NeurophantomError, match=r"needs 1\.5 GiB, more than the memory budget of 1 GiB"):
        check_memory(3 * 2**29, "a thing", budget=2**30)


# ------------------------------------------------------------------ the run folder: lock and cache
def _stages(calls: list):
    from neurophantom.pipeline.runner import Stage

    def make(out, inputs, cfg):
        calls.append("a")
        (out / "data.txt").write_text("0123456789" * 100)
        (out / "sub").mkdir()
        (out / "sub" / "x.json").write_text('{"v": 1}')
        return {"n": 1}

    def use(out, inputs, cfg):
        calls.append("b")
        (out / "sum.txt").write_text(str(len((inputs["a"] / "data.txt").read_text())))
        return {}

    return [Stage(name="a", fn=make), Stage(name="b", fn=use, deps=("a",))]


def test_a_cached_stage_is_reused_only_if_its_files_verify(tmp_path):
    from neurophantom.pipeline.runner import read_cache_log, run_pipeline

    calls, notices = [], []
    res = run_pipeline(_stages(calls), tmp_path, on_notice=notices.append)
    assert calls == ["a", "b"] and not notices
    run_pipeline(_stages(calls), tmp_path, on_notice=notices.append)
    assert calls == ["a", "b"], "a verified stage is reused"
    data = res["a"].path / "data.txt"
    data.write_text(data.read_text()[:-1])  # truncated
    run_pipeline(_stages(calls), tmp_path, on_notice=notices.append)
    assert calls == ["a", "b", "a"] and len(notices) == 1 and "cached stage a does not verify" in notices[0]
    (res["a"].path / "_stage.json").write_text('{"stage": "a", "ke')  # a torn marker
    (res["a"].path / "sub" / "x.json").write_text('{"v": 2}')
    run_pipeline(_stages(calls), tmp_path, on_notice=notices.append)
    assert calls == ["a", "b", "a", "a"] and len(notices) == 2
    (res["a"].path / "stray.bin").write_bytes(b"\0")  # a file the stage never wrote
    run_pipeline(_stages(calls), tmp_path, on_notice=notices.append)
    assert calls[-1] == "a" and len(notices) == 3
    events = [e["event"] for e in read_cache_log(tmp_path) if e["stage"] == "a"]
    assert events == ["computed", "cached", "invalid", "computed", "invalid", "computed", "invalid", "computed"]
    assert not [p for p in (tmp_path / "stages").iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, capfd):
    from neurophantom.pipeline.runner import run_pipeline

    (tmp_path / "stages").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(tmp_path / '.lock')!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.write('4242'); f.flush()\n"
        "print('held', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(NeurophantomError, match="in use by another neurophantom run"):
            run_pipeline(_stages([]), tmp_path)
        (tmp_path / "config.json").write_text("{}")
        _error(*_run(capfd, "run", "--out", tmp_path)[::2], "in use by another neurophantom run")
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "config.json", "stages"], "the held run is untouched"
    finally:
        holder.kill()
        holder.wait()
    res = run_pipeline(_stages([]), tmp_path)  # the kernel released the lock with the process
    assert res["b"].path.is_dir()


# ------------------------------------------------------------------ signals and leftovers
def _install_detector(monkeypatch, fn):
    import neurophantom.cli.info as info

    monkeypatch.setattr(info, "DETECTORS", [(lambda p: True, fn)] + list(info.DETECTORS))


def _kill_later(sig, delay=0.3):
    threading.Timer(delay, lambda: os.kill(os.getpid(), sig)).start()


def test_ctrl_c_prints_interrupted_and_exits_130(tmp_path, monkeypatch, capfd):
    from neurophantom.io import atomic_dir

    def slow(p):
        with atomic_dir(tmp_path / "artifact") as tmp:
            (tmp / "part").write_text("half")
            for _ in range(200):
                time.sleep(0.05)
        raise AssertionError("not interrupted")

    _install_detector(monkeypatch, slow)
    # The handler in place before (Python's default, or SIG_IGN when the test session was
    # started in the background by a shell without job control) is the one to restore.
    before = signal.getsignal(signal.SIGINT)
    _kill_later(signal.SIGINT)
    code, out, err = _run(capfd, "info", tmp_path)
    assert code == 130 and err.strip().splitlines() == [err.strip()] and err.startswith("error: interrupted"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no temporary and no half artifact"
    assert signal.getsignal(signal.SIGINT) is before, "the handler is restored"


def test_ctrl_c_inside_a_jax_callback_still_exits_130(tmp_path, monkeypatch, capfd):
    """The probe saw an interrupt swallowed inside a JAX host callback (traceback, exit 0)."""
    import jax
    import jax.numpy as jnp

    def host(x):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        return np.asarray(x)

    def detector(p):
        f = jax.jit(lambda x: jax.pure_callback(host, jax.ShapeDtypeStruct((3,), jnp.float64), x) + 1.0)
        try:
            f(jnp.zeros(3)).block_until_ready()
        except Exception:  # noqa: BLE001 - as library code that catches too broadly would
            pass
        return {"kind": "done"}

    _install_detector(monkeypatch, detector)
    code, out, err = _run(capfd, "info", tmp_path)
    assert code == 130 and err.startswith("error: interrupted") and len(err.strip().splitlines()) == 1, err


def test_sigterm_exits_143_and_cleans_up(tmp_path, monkeypatch, capfd):
    from neurophantom.io import atomic_write_bytes

    def slow(p):
        for k in range(400):
            atomic_write_bytes(tmp_path / "f.bin", b"x" * 10_000)
            time.sleep(0.01)
        raise AssertionError("not terminated")

    _install_detector(monkeypatch, slow)
    _kill_later(signal.SIGTERM)
    code, out, err = _run(capfd, "info", tmp_path)
    assert code == 143 and err.startswith("error: terminated"), err
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["f.bin"])


def test_leftovers_of_a_killed_command_are_removed_by_the_next(tmp_path, capfd):
    """``kill -9`` cannot be caught: its temporary folder is removed by the next write
    beside it (its owner process is gone); a live owner's is kept."""
    from neurophantom.io._atomic import tmp_prefix

    dead = tmp_path / ".tmp-c.p999999999-12345.abcd1234"
    dead.mkdir()
    (dead / "half.parquet").write_bytes(b"x")
    live = tmp_path / f"{tmp_prefix('c')}zzzz9999"
    live.mkdir()
    assert _run(capfd, *COB, "--out", tmp_path / "c")[0] == 0
    assert not dead.exists() and live.exists()


# ------------------------------------------------------------------ no spikes; info reads everything
def test_record_without_spikes_writes_valid_nwb(recorded):
    """The NWB writers crashed when no neuron spiked (``spike_step_times``); the simulate
    case is the probe's ``simulate gt --duration-ms 30``, this is ``record``."""
    from neurophantom.io.nwb_ophys import read_ground_truth, read_imaging

    truth = read_ground_truth(recorded / "recording.nwb")
    assert sum(a.spike_times_ms.size for a in truth.activity) == 0
    rec = read_imaging(recorded / "recording.nwb")
    assert np.isfinite(rec.trials[0].traces["dff"]).all() and rec.trials[0].traces["dff"].shape[1] == 12


def test_info_reads_every_artifact_the_project_writes(probe_world, recorded, tmp_path, capfd):
    from neurophantom.io import atomic_write_json
    from neurophantom.pipeline.runner import run_pipeline

    w = probe_world
    assert _run(capfd, "export", w / "gt", "--to", "brian2", "--duration-ms", "10", "--out", tmp_path / "b2")[0] == 0
    assert _run(capfd, "export", w / "cob", "--to", "neuroml", "--out", tmp_path / "gt.net.nml")[0] == 0
    assert _run(capfd, "score", w / "recon_syn", "--truth", w / "ph", "--json", "--out", tmp_path / "score")[0] == 0
    run = tmp_path / "run"
    res = run_pipeline(_stages([]), run)
    atomic_write_json(run / "config.json", {"preset": "organoid"})
    expect = {
        w / "gt": "circuit", w / "recon_syn": "reconstruction", w / "ph": "phantom", w / "syn": "scan", w / "exms": "scan",
        w / "ph" / "phantom.ome.zarr": "ome-zarr image", w / "syn" / "scan.ome.zarr": "ome-zarr image",
        w / "recon_syn" / "segmentation.ome.zarr": "ome-zarr image", w / "sim": "recording",
        w / "sim" / "recording.nwb": "recording", recorded / "recording.nwb": "imaging recording", recorded: "imaging recording",
        tmp_path / "b2": "brian2 export", tmp_path / "gt.net.nml": "neuroml export", tmp_path / "score": "score",
        run: "run", res["a"].path: "run stage", w / "pp": "circuit",
    }
    for path, kind in expect.items():
        code, out, err = _run(capfd, "info", path, "--json")
        assert code == 0, f"{path}: {err}"
        assert json.loads(out)["kind"] == kind, (path, out)
