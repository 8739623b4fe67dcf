"""The outside probe's 165 non-clean cases, rebuilt and rerun (issue 21).

An outside probe of a fresh clone (``shared/reliability/bad-input-probe.md``) ran 1,051
bad inputs over every command; 165 ended in a traceback, a silent success, a hang, extra
stderr lines or a false rejection. Each is rebuilt here from the small artifacts of
``probe_world`` (corrupted as the probe's setup line says; no stored binaries) and run
in-process with the probe's command line. Every case must end in a **clean error** (exit
2, exactly one stderr line starting with ``error:``, no output folder and no temporary
left behind) or, for the three cases whose input is valid, a **correct success** checked
by reading the result back.

Memory-bound refusals run under a fixed 4 GiB budget; ``run`` must fail before its
first stage (the pipeline is replaced by a tripwire).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.xdist_group("probe")

DEEP = "[" * 200_000 + "]" * 200_000
DEEP_KEY = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" * 5001
STIM = "step:on=pyramidal000,amp=300,start=10,stop=90"


# ----------------------------------------------------------------- corruptions
def _json(path: Path, fn) -> None:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def _raw_extra(path: Path, text: str) -> None:
    """Add ``"x": <text>`` (raw JSON text) to the object in ``path``."""
    body = path.read_text().rstrip()
    assert body.endswith("}")
    path.write_text(body[:-1] + f', "x": {text}}}')


def header_case(kind: str):
    def corrupt(folder: Path, header: str) -> None:
        p = folder / header
        if kind == "deep":
            p.write_text(DEEP)
        elif kind == "deepkey":
            _raw_extra(p, DEEP_KEY)
        elif kind == "hugeint":
            _raw_extra(p, HUGE_INT)
    return corrupt


def _arr(store: Path) -> Path:
    return store / "0"


def _chunks(store: Path) -> list[Path]:
    return sorted(p for p in (_arr(store) / "c").rglob("*") if p.is_file())


def _crc_trailer(data: bytes) -> bytes:
    import google_crc32c

    return data + google_crc32c.value(data).to_bytes(4, "little")


def _zstd_bomb(nbytes: int = 2**30) -> bytes:
    """A zstd frame of RLE blocks declaring ``nbytes`` zeros (32 KiB on disk)."""
    out = bytearray((0xFD2FB528).to_bytes(4, "little"))
    out.append(0b11100000)  # FCS 8 bytes, single segment, no checksum, no dictionary
    out += nbytes.to_bytes(8, "little")
    block = 1 << 17
    n = nbytes // block
    for k in range(n):
        last = 1 if k == n - 1 else 0
        out += (last | (1 << 1) | (block << 3)).to_bytes(3, "little") + b"\0"
    return _crc_trailer(bytes(out))


def zarr_case(kind: str, store_name: str):
    def corrupt(folder: Path) -> None:
        store = folder / store_name
        arr = _arr(store)
        chunks = _chunks(store)
        mid = chunks[len(chunks) // 2] if "middle" in kind else chunks[0]
        rng = np.random.default_rng(1)
        if kind == "manifest-deep":
            (arr / "manifest.json").write_text(DEEP)
        elif kind == "scale-str":
            _json(store / "zarr.json", lambda h: _set_scale(h, "x"))
        elif kind in ("big-shape", "absurd-shape"):
            n = 1600 if kind == "big-shape" else 100_000
            meta = json.loads((arr / "zarr.json").read_text())
            ndim = len(meta["shape"])
            shape = [meta["shape"][0]] * (ndim - 3) + [n] * 3
            meta["shape"] = shape
            meta["chunk_grid"]["configuration"]["chunk_shape"] = shape
            (arr / "zarr.json").write_text(json.dumps(meta))
            _json(arr / "manifest.json", lambda m: {**m, "shape": shape, "chunks": shape,
                                                    "crc32c": {"c/" + "/".join("0" * ndim): 1}})
        elif kind == "endian-big":
            _json(arr / "zarr.json", lambda m: {**m, "codecs": [{"name": "bytes", "configuration": {"endian": "big"}}] + m["codecs"][1:]})
        elif kind == "dtype-swap":
            _json(arr / "zarr.json", lambda m: {**m, "data_type": {"float32": "int32", "uint32": "float32"}[m["data_type"]]})
        elif kind in ("chunk-delete", "middle-delete"):
            mid.unlink()
        elif kind in ("chunk-flip", "middle-flipmid"):
            b = bytearray(mid.read_bytes())
            b[len(b) // 2] ^= 0xFF
            mid.write_bytes(bytes(b))
        elif kind == "chunk-lndevzero":
            mid.unlink()
            mid.symlink_to("/dev/zero")
        elif kind == "chunk-lnpasswd":
            mid.unlink()
            mid.symlink_to("/etc/passwd")
        elif kind in ("chunk-random", "middle-random"):
            mid.write_bytes(rng.integers(0, 256, mid.stat().st_size, dtype=np.uint8).tobytes())
        elif kind == "chunk-swap":
            a, b = chunks[0], chunks[-1]
            da, db = a.read_bytes(), b.read_bytes()
            a.write_bytes(db)
            b.write_bytes(da)
        elif kind in ("chunk-trunc0", "middle-trunc0"):
            mid.write_bytes(b"")
        elif kind in ("chunk-trunchalf", "middle-trunchalf"):
            mid.write_bytes(mid.read_bytes()[: mid.stat().st_size // 2])
        elif kind == "middle-asdir":
            mid.unlink()
            mid.mkdir()
        elif kind == "chunk-validcrc-junk":
            mid.write_bytes(_crc_trailer(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()))
        elif kind == "chunk-zstdbomb":
            mid.write_bytes(_zstd_bomb())
        elif kind == "manifest-badcrc":
            _json(arr / "manifest.json", lambda m: {**m, "crc32c": {k: (v + 1) % 2**32 if i == 0 else v
                                                                     for i, (k, v) in enumerate(m["crc32c"].items())}})
        elif kind == "manifest-crcstr":
            _json(arr / "manifest.json", lambda m: {**m, "crc32c": {k: str(v) for k, v in m["crc32c"].items()}})
        else:
            raise AssertionError(kind)
    return corrupt


def _set_scale(h: dict, value) -> dict:
    ds = h["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    ds["coordinateTransformations"][0]["scale"] = [value] * len(ds["coordinateTransformations"][0]["scale"])
    return h


def table_case(table: str, kind: str, header: str):
    def corrupt(folder: Path) -> None:
        f = folder / f"{table}.parquet"
        df = pd.read_parquet(f)
        num = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
        if kind == "huge-x":
            df["x_um"] = 1e300
        elif kind == "huge-na":
            df["na"] = 1e300
        elif kind == "huge-ampa":
            df["ampa"] = 1e300
        elif kind == "drop-col0":
            df = df.drop(columns=df.columns[0])
        elif kind == "nan-all":
            df = df.astype({c: float for c in num})
            df[num] = np.nan
        elif kind == "zero-rows":
            df = df.iloc[:0]
        elif kind == "neg":
            df = df.astype({c: float for c in num})
            df[num] = -1.0
        elif kind == "bad-protein":
            df["protein"] = df["protein"].astype(str)
            df.loc[df.index[0], "protein"] = "nope"
        else:
            raise AssertionError(kind)
        df.to_parquet(f, index=False)
        rehash(folder, header)
    return corrupt


def rehash(folder: Path, header: str) -> None:
    from neurophantom.io import file_checksums

    h = json.loads((folder / header).read_text())
    if isinstance(h, dict) and "files" in h:
        h["files"] = file_checksums(folder, list(h["files"]))
        (folder / header).write_text(json.dumps(h))


def flip_file_middle(name: str):
    def corrupt(folder: Path) -> None:
        f = folder / name
        b = bytearray(f.read_bytes())
        b[len(b) // 2] ^= 0x01
        f.write_bytes(bytes(b))
    return corrupt


def scan_header_case(kind: str):
    def corrupt(folder: Path) -> None:
        p = folder / "scan.json"
        if kind in ("deep", "deepkey", "hugeint"):
            header_case(kind)(folder, "scan.json")
            return
        h = json.loads(p.read_text())
        if kind == "liststr":
            h["voxel_size_nm"] = "abc"
        elif kind == "numstr":
            h["instrument_seconds"] = "x"
        elif kind == "config-str":
            h["config"] = "x"
        elif kind == "origin-nan":
            h["origin_nm"] = [float("nan"), 0.0, 0.0]
        elif kind == "shape-mismatch":
            h["shape"] = [h["shape"][0] + 1, *h["shape"][1:]]
        elif kind == "channel-round-neg":
            ch = next(c for c in h["channels"] if c["round"] is not None)
            ch["round"] = -1
        p.write_text(json.dumps(h))  # NaN written as the probe did (Python's json allows it)
    return corrupt


def phantom_header_case(kind: str):
    def corrupt(folder: Path) -> None:
        if kind in ("deep", "deepkey", "hugeint"):
            header_case(kind)(folder, "phantom.json")
            return
        h = json.loads((folder / "phantom.json").read_text())
        if kind == "delkey":
            del h["voxel_size_nm"]
        elif kind == "liststr":
            h["voxel_size_nm"] = "abc"
        (folder / "phantom.json").write_text(json.dumps(h))
    return corrupt


def record_case(kind: str):
    def corrupt(folder: Path) -> None:
        p = folder / "reconstruction.json"
        if kind in ("deep", "deepkey", "hugeint"):
            header_case(kind)(folder, "reconstruction.json")
            return
        h = json.loads(p.read_text())
        if kind == "listtop":
            h = [h]
        elif kind == "nulltop":
            h = None
        elif kind == "scan-origin-missing":
            del h["scan"]["origin_nm"]
        elif kind == "scan-origin-nan":
            h["scan"]["origin_nm"] = [float("nan"), 0, 0]
        elif kind == "scan-str":
            h["scan"] = "x"
        elif kind == "scan-voxel-str":
            h["scan"]["voxel_size_nm"] = ["a", "b", "c"]
        elif kind == "badversion":
            h["version"] = 999
        p.write_text(json.dumps(h))
    return corrupt


def nwb_case(kind: str):
    def corrupt(folder: Path) -> None:
        import h5py

        f = folder / "recording.nwb"
        with h5py.File(f, "r+") as h:
            ts = h["acquisition/membrane_voltage"]
            meta = h["processing/neurophantom/parameters"]
            if kind in ("bomb-800GB", "bomb-9GB"):
                shape = (1_000_000, 100_000) if kind == "bomb-800GB" else (60_000, 20_000)
                del ts["data"]
                ts.create_dataset("data", shape=shape, dtype="f8", chunks=(1000, 1000))
            elif kind == "ids-short":
                ids = h["processing/neurophantom/neurons/neuron_id"][:3]
                del h["processing/neurophantom/neurons/neuron_id"]
                h["processing/neurophantom/neurons"].create_dataset("neuron_id", data=ids)
            elif kind in ("meta-deep", "meta-dt-str", "meta-list", "meta-no-dt"):
                # The metadata is a parameters table: one (dotted name, JSON value) row per field.
                names = [x.decode() if isinstance(x, bytes) else str(x) for x in meta["parameter"][:]]
                i = names.index("dt_ms")
                if kind == "meta-dt-str":
                    meta["value"][i] = '"x"'
                elif kind == "meta-no-dt":
                    meta["parameter"][i] = "dt_ms_gone"
                elif kind == "meta-list":
                    meta["parameter"][i] = "[0]"
                else:
                    meta["parameter"][i] = ".".join(["a"] * 100_000)
            elif kind == "extlink-passwd":
                del h["processing/neurophantom"]
                h["processing/neurophantom"] = h5py.ExternalLink("/etc/passwd", "/")
            elif kind in ("rate-neg", "rate-zero"):
                ts["starting_time"].attrs["rate"] = -1000.0 if kind == "rate-neg" else 0.0
            elif kind in ("data-inf", "data-nan"):
                ts["data"][0, 0] = np.inf
                if kind == "data-nan":
                    ts["data"][...] = np.nan
            elif kind == "data-str":
                shape = ts["data"].shape
                del ts["data"]
                ts.create_dataset("data", data=np.full(shape, b"x"), dtype=h5py.string_dtype())
            elif kind == "ids-dup":
                h["processing/neurophantom/neurons/neuron_id"][...] = 0
            elif kind == "no-acquisition":
                for k in list(h["acquisition"]):
                    del h["acquisition"][k]
            elif kind == "spikes-nan":
                h["units/spike_times"][...] = np.nan
            else:
                raise AssertionError(kind)
    return corrupt


# ----------------------------------------------------------------- the cases
def C(name, base, setup, argv, expect="error"):
    return pytest.param(name, base, setup, argv, expect, id=name)


def _case_dir(name: str) -> str:
    return name.split("/")[0]


#: The probe's names of the zarr corruptions.
ZNAME = {"absurd-shape": "arr-absurd-shape", "big-shape": "arr-big-shape", "dtype-swap": "arr-dtype-swap",
         "endian-big": "arr-endian-big", "scale-str": "root-scale-str"}


CASES = []
for kind in ("deep", "deepkey", "hugeint"):
    n = f"circuit-header-{kind}"
    CASES += [C(f"{n}/info", "gt", lambda d, k=kind: header_case(k)(d, "circuit.json"), ["info", "CASE"]),
              C(f"{n}/simulate", "gt", lambda d, k=kind: header_case(k)(d, "circuit.json"),
                ["simulate", "CASE", "--duration-ms", "100", "--stimulus", STIM, "--out", "OUT/sim"])]
SIM = ["simulate", "CASE", "--duration-ms", "100", "--stimulus", STIM, "--out", "OUT/sim"]
CASES += [
    C("circuit-neurons-huge-x/record", "gt", table_case("neurons", "huge-x", "circuit.json"),
      ["record", "CASE", "--protocol", "spontaneous:duration=100,sigma=20", "--indicator", "voltage", "--out", "OUT/rec"]),
    C("circuit-synapses-huge-ampa/tissue", "gt", table_case("synapses", "huge-ampa", "circuit.json"), ["tissue", "CASE", "--out", "OUT/ph"]),
    C("circuit-cob-neurons-huge-x/export-neuroml", "cob", table_case("neurons", "huge-x", "circuit.json"),
      ["export", "CASE", "--to", "neuroml", "--out", "OUT/x.net.nml"]),
    C("circuit-neurons-huge-na/export-brian2", "gt", table_case("neurons", "huge-na", "circuit.json"),
      ["export", "CASE", "--to", "brian2", "--duration-ms", "50", "--out", "OUT/b2"]),
    C("circuit-neurons-huge-na/simulate", "gt", table_case("neurons", "huge-na", "circuit.json"), SIM),
    C("circuit-neurons-huge-na/tissue", "gt", table_case("neurons", "huge-na", "circuit.json"), ["tissue", "CASE", "--out", "OUT/ph"]),
    C("circuit-neurons-huge-x/export-brian2", "gt", table_case("neurons", "huge-x", "circuit.json"),
      ["export", "CASE", "--to", "brian2", "--duration-ms", "50", "--out", "OUT/b2"]),
    C("circuit-neurons-huge-x/simulate", "gt", table_case("neurons", "huge-x", "circuit.json"), SIM),
    C("circuit-neurons-huge-x/tissue", "gt", table_case("neurons", "huge-x", "circuit.json"), ["tissue", "CASE", "--out", "OUT/ph"]),
    C("circuit-synapses-huge-ampa/simulate", "gt", table_case("synapses", "huge-ampa", "circuit.json"), SIM),
]

# configs: written into CASE/<name>/ by the setup
_CONFIGS = {
    "bench-deep.json": DEEP, "bench-hugeint.json": '{"seconds_per_synapse_step": ' + HUGE_INT + ', "device": "h100"}',
    "bench-random.json": None, "scenario-deep.yaml": "a: " + "[" * 200_000, "scenario-huge.yaml": "set:\n  volume_cm3: 1.0e+300\n",
    "random.json": None, "utf16.yaml": "segmentation:\n  threshold: 0.4\n".encode("utf-16"), "deep.json": DEEP,
    "deep.yaml": "[" * 200_000, "hugeint.json": '{"seed": ' + HUGE_INT + "}", "run-deep.json": '{"world": ' + DEEP_KEY + "}",
    "run-hugeint.json": '{"world": {"n_neurons": ' + HUGE_INT + "}}",
    "run-laughs.yaml": "".join([f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(9)])
    + "world:\n  biophysics: *l8\n",
    "run-tissue-bad.json": '{"scan": {"tissue": {"voxel_size_nm": [0, 0, 0]}}}',
    "run-inf.json": '{"recording": {"frame_rate_hz": 1e999}}', "run-seeds-empty.json": '{"world": {"train_seeds": []}}',
    "run-bio-unknown.json": '{"world": {"biophysics": {"receptors.nope.g_unit_pS": 5}}}',
    "run-instrument-bad.json": '{"scan": {"barcoded": {"expansion": 2}}}',
    "run-nan.json": '{"recording": {"mapping_pA": NaN}}',
}


def config_case(fname: str):
    def setup(d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        content = _CONFIGS[fname]
        if content is None:
            content = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
            content = b"\x00\xb4" + content
        (d / fname).write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


for fname, argv in [
    ("bench-deep.json", ["plan", "--engine-benchmark", "CASE/bench-deep.json", "--json", "--samples", "1000"]),
    ("bench-hugeint.json", ["plan", "--engine-benchmark", "CASE/bench-hugeint.json", "--json", "--samples", "1000"]),
    ("bench-random.json", ["plan", "--engine-benchmark", "CASE/bench-random.json", "--json", "--samples", "1000"]),
    ("scenario-deep.yaml", ["plan", "--scenario", "CASE/scenario-deep.yaml", "--json", "--samples", "1000"]),
    ("scenario-huge.yaml", ["plan", "--scenario", "CASE/scenario-huge.yaml", "--json", "--samples", "1000"]),
    ("random.json", ["reconstruct", "syn", "--config", "CASE/random.json", "--out", "OUT/r"]),
    ("utf16.yaml", ["reconstruct", "syn", "--config", "CASE/utf16.yaml", "--out", "OUT/r"]),
]:
    tool = "plan-bench" if "bench" in fname else "plan-scenario" if "scenario" in fname else "reconstruct"
    CASES.append(C(f"config-{tool}-{fname.split('-', 1)[-1] if tool != 'reconstruct' else fname}", None, config_case(fname), argv))
for fname in ("deep.json", "deep.yaml", "hugeint.json", "random.json", "run-deep.json", "run-hugeint.json", "run-laughs.yaml",
              "run-tissue-bad.json", "run-inf.json", "run-seeds-empty.json", "run-bio-unknown.json", "run-instrument-bad.json",
              "run-nan.json"):
    CASES.append(C(f"config-run-{fname}", None, config_case(fname), ["run", "--config", f"CASE/{fname}", "--out", "OUT/run"]))

for kind in ("bomb-800GB", "bomb-9GB", "ids-short", "meta-deep", "meta-dt-str", "meta-list", "meta-no-dt", "extlink-passwd",
             "rate-neg", "rate-zero", "data-inf", "data-nan", "data-str", "ids-dup", "no-acquisition", "spikes-nan"):
    CASES.append(C(f"nwb-{kind}/info", "sim", nwb_case(kind), ["info", "CASE/recording.nwb"]))

_BIG = "1" + "0" * 5000
CASES += [
    C("param-circuit-set-n_neurons=100000000000", None, None, ["circuit", "--source", "organoid", "--set", f"n_neurons={_BIG}", "--out", "OUT/c"]),
    C("param-reconstruct---set_segmentation.threshold=100000000000000000000", None, None,
      ["reconstruct", "syn", "--set", f"segmentation.threshold={_BIG}", "--out", "OUT/r"]),
    C("param-reconstruct---set_segmentation.threshold=[[[[[[[[[[[[[[[[[[[[[", None, None,
      ["reconstruct", "syn", "--set", "segmentation.threshold=" + "[" * 5000, "--out", "OUT/r"]),
    C("param-record-protocol-spontaneous:duration=1e12", None, None,
      ["record", "gt", "--protocol", "spontaneous:duration=1e12", "--out", "OUT/rec"]),
    C("param-run---set_scan.tissue.voxel_size_nm=[0,0,0]", None, None, ["run", "--set", "scan.tissue.voxel_size_nm=[0,0,0]", "--out", "OUT/run"]),
    C("param-run---set_world.n_neurons=1000000000000000000000000000", None, None, ["run", "--set", f"world.n_neurons={_BIG}", "--out", "OUT/run"]),
    C("param-run---set_world.train_seeds=[]", None, None, ["run", "--set", "world.train_seeds=[]", "--out", "OUT/run"]),
    C("param-simulate---dt-ms_1e-9_--duration-ms_100", None, None, ["simulate", "gt", "--dt-ms", "1e-9", "--duration-ms", "100", "--out", "OUT/s"]),
    C("param-simulate---duration-ms_1e12", None, None, ["simulate", "gt", "--duration-ms", "1e12", "--out", "OUT/s"]),
    C("param-simulate---duration-ms_30", None, None, ["simulate", "gt", "--duration-ms", "30", "--out", "OUT/s"], "ok-nwb"),
    C("param-simulate---seed_-1_--duration-ms_50", None, None, ["simulate", "gt", "--seed", "-1", "--duration-ms", "50", "--out", "OUT/s"]),
    C("param-simulate---stimulus_;;;_--duration-ms_100", None, None, ["simulate", "gt", "--stimulus", ";;;", "--duration-ms", "100", "--out", "OUT/s"]),
    C("param-simulate---stimulus_step:on=all,amp=5,amp=6_--duration-ms_100", None, None,
      ["simulate", "gt", "--stimulus", "step:on=all,amp=5,amp=6", "--duration-ms", "100", "--out", "OUT/s"]),
    C("param-simulate---stimulus_step:on=all,amp=5,stop=1e308_--duration-ms_100", None, None,
      ["simulate", "gt", "--stimulus", "step:on=all,amp=5,stop=1e308", "--duration-ms", "100", "--out", "OUT/s"], "ok-nwb"),
    C("param-task-score---task_flipflop_--trials_10000000", None, None, ["task-score", "pp", "--task", "flipflop", "--trials", "10000000"]),
    C("param-tissue---voxel-size-nm_1", None, None, ["tissue", "gt", "--voxel-size-nm", "1", "--out", "OUT/ph"]),
    C("param-export---to_brian2_--seed_-1", None, None, ["export", "gt", "--to", "brian2", "--seed", "-1", "--out", "OUT/b2"]),
    C("param-record-protocol-empty", None, None, ["record", "gt", "--protocol", "", "--out", "OUT/rec"]),
    C("param-record---trials_100000000", None, None,
      ["record", "gt", "--protocol", "spontaneous:duration=100,sigma=20", "--trials", "100000000", "--out", "OUT/rec"]),
    C("param-plan---deadline-years_1e308", None, None, ["plan", "--deadline-years", "1e308", "--json", "--samples", "1000"]),
    C("param-run---set_world.biophysics.receptors.nope.g_unit_pS=5", None, None,
      ["run", "--set", "world.biophysics.receptors.nope.g_unit_pS=5", "--out", "OUT/run"]),
]

for kind in ("deep", "deepkey", "delkey", "hugeint", "liststr"):
    CASES.append(C(f"phantom-header-{kind}/scan", "ph", phantom_header_case(kind),
                   ["scan", "CASE", "--instrument", "synchrotron", "--out", "OUT/scan"]))
SCAN = ["scan", "CASE", "--instrument", "synchrotron", "--out", "OUT/scan"]
for kind, cmds in [("manifest-deep", ("info", "scan")), ("scale-str", ("info", "scan")), ("big-shape", ("scan",)),
                   ("absurd-shape", ("scan",)), ("endian-big", ("scan",)), ("chunk-delete", ("scan",)), ("chunk-flip", ("scan",)),
                   ("chunk-lndevzero", ("scan",)), ("chunk-lnpasswd", ("scan",)), ("chunk-random", ("scan",)),
                   ("chunk-swap", ("scan",)), ("chunk-trunc0", ("scan",)), ("chunk-trunchalf", ("scan",)),
                   ("chunk-validcrc-junk", ("scan",)), ("chunk-zstdbomb", ("scan",)), ("manifest-badcrc", ("scan",)),
                   ("manifest-crcstr", ("scan",))]:
    for cmd in cmds:
        CASES.append(C(f"phantom-zarr-{ZNAME.get(kind, kind)}/{cmd}", "ph", zarr_case(kind, "phantom.ome.zarr"), ["info", "CASE"] if cmd == "info" else SCAN))
CASES += [
    C("phantom-molecules-bad-protein/scan", "ph", table_case("molecules", "bad-protein", "phantom.json"), SCAN),
    C("phantom-molecules-flipmid/info", "ph", flip_file_middle("molecules.parquet"), ["info", "CASE"]),
]

SCORE = ["score", "CASE", "--truth", "ph", "--json", "--out", "OUT/score"]
for table, kind in [("morphology", "drop-col0"), ("morphology", "nan-all"), ("morphology", "zero-rows"), ("contacts", "drop-col0"),
                    ("uncertainty", "neg")]:
    CASES.append(C(f"recon-{table}-{kind}/score", "recon_syn", table_case(table, kind, "reconstruction.json"), SCORE))
for kind in ("deep", "deepkey", "hugeint", "listtop", "nulltop", "scan-origin-missing", "scan-str", "scan-voxel-str", "badversion",
             "scan-origin-nan"):
    CASES.append(C(f"recon-record-{kind}/score", "recon_syn", record_case(kind), SCORE))
for kind in ("manifest-deep", "scale-str", "dtype-swap"):
    CASES.append(C(f"recon-zarr-{ZNAME.get(kind, kind)}/score", "recon_syn", zarr_case(kind, "segmentation.ome.zarr"), SCORE))

RECON = ["reconstruct", "CASE", "--out", "OUT/recon"]
for kind, cmds in [("deep", ("info", "reconstruct")), ("deepkey", ("info", "reconstruct")), ("hugeint", ("info", "reconstruct")),
                   ("liststr", ("info", "reconstruct")), ("numstr", ("info", "reconstruct")), ("config-str", ("info", "reconstruct")),
                   ("origin-nan", ("info", "reconstruct")), ("shape-mismatch", ("info", "reconstruct"))]:
    for cmd in cmds:
        CASES.append(C(f"scan-header-{'syn-' if kind in ('config-str', 'origin-nan', 'shape-mismatch') else ''}{kind}/{cmd}", "syn",
                       scan_header_case(kind), ["info", "CASE"] if cmd == "info" else RECON))
for cmd in ("info", "reconstruct"):
    CASES.append(C(f"scan-header-exms-channel-round-neg/{cmd}", "exms", scan_header_case("channel-round-neg"),
                   ["info", "CASE"] if cmd == "info" else RECON))
for kind in ("middle-asdir", "middle-delete", "middle-flipmid", "middle-random", "middle-trunc0", "middle-trunchalf"):
    CASES.append(C(f"scan-exms-chunk-{kind.split('-')[1]}/reconstruct", "exms", zarr_case(kind, "scan.ome.zarr"), RECON))
for kind, cmds in [("absurd-shape", ("reconstruct",)), ("big-shape", ("reconstruct",)), ("manifest-deep", ("info", "reconstruct")),
                   ("scale-str", ("info", "reconstruct")), ("dtype-swap", ("reconstruct",)), ("endian-big", ("reconstruct",)),
                   ("chunk-delete", ("reconstruct",)), ("chunk-flip", ("reconstruct",)), ("chunk-lndevzero", ("reconstruct",)),
                   ("chunk-lnpasswd", ("reconstruct",)), ("chunk-random", ("reconstruct",)), ("chunk-trunc0", ("reconstruct",)),
                   ("chunk-trunchalf", ("reconstruct",)), ("chunk-validcrc-junk", ("reconstruct",)),
                   ("chunk-zstdbomb", ("reconstruct",)), ("manifest-badcrc", ("reconstruct",)), ("manifest-crcstr", ("reconstruct",))]:
    for cmd in cmds:
        CASES.append(C(f"scan-zarr-{ZNAME.get(kind, kind)}/{cmd}", "syn", zarr_case(kind, "scan.ome.zarr"), ["info", "CASE"] if cmd == "info" else RECON))


def _victim(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "victim_dir").mkdir()
    (d / "victim_dir" / "precious.txt").write_text("keep me")


def _a_file(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "circuit_is_a_file").write_text("keep me")


CASES += [
    C("out-existing-dir", None, _victim, ["circuit", "--source", "cobahh", "--set", "n_neurons=10", "--out", "CASE/victim_dir"], "error-keeps"),
    C("out-is-input-scan", "ph", None, ["scan", "CASE", "--instrument", "synchrotron", "--out", "CASE"], "error-keeps"),
    C("out-is-input-simulate", "gt", None,
      ["simulate", "CASE", "--duration-ms", "100", "--stimulus", STIM, "--out", "CASE"], "error-keeps"),
    C("param-circuit-out-is-file", None, _a_file, ["circuit", "--source", "cobahh", "--set", "n_neurons=10", "--out", "CASE/circuit_is_a_file"],
      "error-keeps"),
    C("nwb-record-output/info", None, None, ["info", "rec/recording.nwb"], "ok-imaging"),
]


def test_the_probe_lists_165_cases():
    assert len(CASES) == 165
    assert len({c.id for c in CASES}) == 165


def _path_arg(a: str, world: Path, case: Path, out: Path) -> str:
    """CASE/x -> the case's copy, OUT/x -> the case's output folder, gt|ph|syn|pp|rec -> the base."""
    if a == "CASE":
        return str(case)
    head, _, rest = a.partition("/")
    if head == "CASE":
        return str(case / rest)
    if head == "OUT":
        return str(out / rest)
    if head in ("gt", "ph", "syn", "pp", "rec"):
        return str(world / a)
    return a


@pytest.mark.parametrize("name,base,setup,argv,expect", CASES)
def test_probe_case(name, base, setup, argv, expect, probe_world, recorded, memory_budget, capfd, monkeypatch):
    import neurophantom.pipeline.main as pm
    from neurophantom.cli import main

    def tripwire(*a, **k):
        raise AssertionError("the run started although its config is bad")

    monkeypatch.setattr(pm, "run_main", tripwire)
    world = probe_world
    case = world / "CASE" / _case_dir(name)
    out = world / "OUT" / _case_dir(name)
    for p in (case, out):
        if p.exists():
            shutil.rmtree(p)
    if base is not None:
        shutil.copytree(world / base, case, symlinks=True)
    if setup is not None:
        setup(case)
    before = sorted(str(p.relative_to(case)) for p in case.rglob("*")) if case.exists() else []
    args = [_path_arg(a, world, case, out) for a in argv]
    capfd.readouterr()
    code = main(args)
    stdout, err = capfd.readouterr()
    if expect.startswith("error"):
        lines = err.strip().splitlines()
        assert code == 2, f"{name}: exit {code}; stderr: {err[-3000:]}"
        assert len(lines) == 1 and lines[0].startswith("error:"), f"{name}: not one error line: {err[-3000:]}"
        assert not out.exists() or not any(out.iterdir()), f"{name}: a failed command left output"
        if expect == "error-keeps":  # what the user had is untouched
            after = sorted(str(p.relative_to(case)) for p in case.rglob("*")) if case.exists() else []
            assert after == before, f"{name}: the input/victim changed"
    else:
        assert code == 0, f"{name}: exit {code}; stderr: {err[-3000:]}"
        if expect == "ok-nwb":
            from neurophantom.io.nwb import read_recording

            rec = read_recording(Path(args[args.index("--out") + 1]) / "recording.nwb")
            assert rec.traces["v"].shape[1] == 12 and np.isfinite(rec.traces["v"]).all()
            assert rec.spike_times_ms.size == 0  # none of these drives makes an organoid neuron spike
        elif expect == "ok-imaging":
            assert "imaging recording" in stdout and "neurons: 12" in stdout
    leftovers = [p for p in (world / "OUT", world / "CASE") for p in p.rglob(".tmp-*")]
    assert not leftovers, f"{name}: temporary files left: {leftovers}"
