"""Property-based fuzzing of every text parser (Hypothesis, in-process).

Each generated input must end either in a valid result or in one
:class:`~neurophantom.NeurophantomError` (the CLI's exit 2): never another exception, a
hang (a per-example deadline) or unbounded memory (the ``fuzz`` fixture). Inputs are
mutations of valid texts (deep nesting, huge and non-finite numbers, alias bombs, broken
encodings, truncation) as well as free text.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import neurophantom.cli._common  # noqa: F401 - imported once here, not inside a timed example
import neurophantom.instruments.dynamic  # noqa: F401
import neurophantom.instruments.parse  # noqa: F401
import neurophantom.pipeline.config  # noqa: F401
import neurophantom.plan  # noqa: F401
from neurophantom import NeurophantomError

pytestmark = pytest.mark.xdist_group("fuzz-parsers")

_spec = importlib.util.spec_from_file_location("fuzz_gen", Path(__file__).with_name("_gen.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)
SEED = st.integers(0, 2**63 - 1)


def fuzz_settings(n: int):
    """``n`` examples, each under a 10 s deadline (a hang fails the test; load on a shared
    CI machine does not), reproducible (derandomized, no example database)."""
    return settings(max_examples=n, deadline=10_000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def _finite_tree(v) -> None:
    """A parsed value holds only finite numbers (what the bounded parsers promise)."""
    stack = [v]
    while stack:
        o = stack.pop()
        if isinstance(o, float):
            assert math.isfinite(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)


def _bomb(r: random.Random) -> str:
    k, w = r.randrange(2, 12), r.randrange(2, 10)
    return "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else "x"] * w) + "]\n" for i in range(k))


@fuzz_settings(1500)
@given(SEED)
def test_json(fuzz, seed):
    from neurophantom.io import loads_json

    fuzz()
    r = random.Random(seed)
    text = gen.mutate_text(r, gen.dumps(gen.value(r)))
    data = text.encode("utf-8", "surrogatepass") if r.random() < 0.3 else text
    if r.random() < 0.1:
        data = bytes(r.randrange(256) for _ in range(r.randrange(64)))
    note(repr(data)[:2000])
    try:
        v = loads_json(data, "fuzzed JSON")
    except NeurophantomError:
        return
    _finite_tree(v)
    json.dumps(v, allow_nan=False)


@fuzz_settings(1200)
@given(SEED)
def test_yaml(fuzz, seed):
    from neurophantom.io import loads_yaml

    fuzz()
    r = random.Random(seed)
    base = _bomb(r) if r.random() < 0.25 else yaml.safe_dump(json.loads(json.dumps(gen.value(r), allow_nan=True)),
                                                              default_flow_style=r.random() < 0.3)
    text = gen.mutate_text(r, base)
    note(repr(text)[:2000])
    try:
        v = loads_yaml(text, "fuzzed YAML")
    except NeurophantomError:
        return
    _finite_tree(v)


@fuzz_settings(600)
@given(SEED)
def test_set_options(fuzz, seed):
    from neurophantom.cli._common import parse_sets

    fuzz()
    r = random.Random(seed)
    items = [gen.mutate_text(r, r.choice(["n=1", "a.b=[1,2]", 'x={"k": 2}', "s=text", "t=1e5", "u=nan", "=", "v"]))
             for _ in range(r.randrange(4))]
    note(repr(items)[:2000])
    try:
        out = parse_sets(items)
    except NeurophantomError:
        return
    assert isinstance(out, dict)
    _finite_tree(list(out.values()))


NAMES = {"n0": 0, "n1": 1, "n2": 2}


def _resolve(names):
    import numpy as np

    try:
        return np.asarray([NAMES[n] for n in names], dtype=np.int64)
    except KeyError as exc:
        raise NeurophantomError(f"unknown neuron name {exc.args[0]!r}") from None


NUMS = ["0", "5", "-3", "1e308", "1e999", "nan", "1" * 70, "2.5", ".5", "1e-9", "300", "x", "", "inf", "-0", "1e5"]
KEYS = ["on", "amp", "start", "stop", "width", "period", "kind", "E", "sigma", "tau", "duration", "drive", "zz"]
ONS = ["all", "n0", "n0+n1", "NOPE", "", "random:2", "random:x", "random:999", "n0+n0", "7", "-1", "random:0"]


def _spec(r: random.Random, kinds) -> str:
    parts = []
    for _ in range(r.randrange(4)):
        fields = [f"on={r.choice(ONS)}"] if r.random() < 0.8 else []
        fields += [f"{r.choice(KEYS)}={r.choice(NUMS) if r.random() < 0.8 else repr(r.uniform(-1e3, 1e4))}"
                   for _ in range(r.randrange(6))]
        parts.append(f"{r.choice(kinds)}:{','.join(fields)}")
    text = ";".join(parts)
    return gen.mutate_text(r, text) if r.random() < 0.3 else text


@fuzz_settings(900)
@given(SEED)
def test_stimulus(fuzz, seed):
    from neurophantom.types.stimulus import Stimulus, parse_stimulus

    fuzz()
    r = random.Random(seed)
    text, duration = _spec(r, ["step", "pulses", "noise", "zap", "step "]), r.choice([100.0, 0.0, -5.0, float("nan"), 1e300])
    note(repr((text, duration)))
    try:
        s = parse_stimulus(text, duration, _resolve)
    except NeurophantomError:
        return
    assert isinstance(s, Stimulus) and s.duration_ms > 0


@fuzz_settings(900)
@given(SEED)
def test_protocol(fuzz, seed):
    from neurophantom.instruments.dynamic import parse_protocol

    fuzz()
    r = random.Random(seed)
    text, trials = _spec(r, ["spontaneous", "step", "pulses", "noise"]), r.choice([1, 3, 0, -2, 10**9])
    note(repr((text, trials)))
    try:
        p = parse_protocol(text, trials=trials)
    except NeurophantomError:
        return
    assert p.trials >= 1 and math.isfinite(p.duration_ms) and p.duration_ms > 0


BARCODE_KEYS = ["rounds", "colors", "min_distance", "fluorophores", "per_tag", "signal_loss", "crosstalk", "radius_nm",
                "section_nm", "fraction", "sigma_nm", "kind", "zz"]


@fuzz_settings(700)
@given(SEED)
def test_barcode_and_damage(fuzz, seed):
    from neurophantom.instruments.parse import parse_barcode, parse_damage

    fuzz()
    r = random.Random(seed)
    fields = [r.choice(NUMS) if r.random() < 0.3 else f"{r.choice(BARCODE_KEYS)}={r.choice(NUMS + ['4', '2', '0.1'])}"
              for _ in range(r.randrange(6))]
    text = f"{r.choice(['serial', 'parallel', 'sparse', 'slabs', 'misalign', 'nope', ''])}:{','.join(fields)}"
    text = gen.mutate_text(r, text) if r.random() < 0.2 else text
    note(repr(text))
    for fn in (parse_barcode, parse_damage):
        try:
            fn(text)
        except NeurophantomError:
            pass


DISTS = ["lognormal:1,2", "lognormal:2,1", "uniform:0,1", "fixed:3", "uniform:x,1", "lognormal:-1,5", "gamma:1,2",
         "lognormal:1e308,1e309", "3", "-1", "nan", "1e999"]
SCENARIO_KEYS = ["organism", "modality", "fast", "deadline_years", "level", "accelerator", "samples", "seed", "set", "custom",
                 "tornado_output", "label", "x"]


@fuzz_settings(600)
@given(SEED)
def test_planner_inputs(fuzz, seed):
    from neurophantom.plan import build_inputs, make_scenario
    from neurophantom.plan.distributions import parse_dist

    fuzz()
    r = random.Random(seed)
    dist = r.choice(DISTS) if r.random() < 0.6 else gen.value(r)
    fields = {k: r.choice(["human", "mouse", "exm", "mixed", "h100", "none", 10, -1, {"a": 1}]) if r.random() < 0.5 else
              gen.value(r) for k in r.sample(SCENARIO_KEYS, r.randrange(4))}
    if r.random() < 0.5:
        fields["set"] = {r.choice(["volume_cm3", "expansion", "exm.rounds", "zz", "rosetta_fraction"]): r.choice(DISTS + [gen.value(r)])}
    fields.update(engine_benchmark="none", samples=16)
    note(repr((dist, fields))[:2000])
    try:
        parse_dist(dist, "fuzzed")
    except NeurophantomError:
        pass
    try:
        build_inputs(make_scenario(**fields))
    except NeurophantomError:
        return


def _paths(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out.append(f"{prefix}{k}")
        if isinstance(v, dict):
            out.extend(_paths(v, f"{prefix}{k}."))
    return out


@pytest.fixture(scope="module")
def run_keys():
    from neurophantom.pipeline.config import RunConfig

    return _paths(RunConfig().model_dump(mode="json")) + ["world.zz", "world.biophysics.receptors.ampa.g_unit_pS", "a.b.c"]


@fuzz_settings(250)
@given(SEED)
def test_run_config_sets(fuzz, run_keys, seed):
    from neurophantom.pipeline.config import RunConfig, load_run_config

    fuzz()
    r = random.Random(seed)
    sets = {r.choice(run_keys): (r.choice(NUMS) if r.random() < 0.3 else gen.value(r)) for _ in range(r.randrange(1, 4))}
    note(repr(sets)[:2000])
    try:
        cfg = load_run_config(sets=sets)
    except NeurophantomError:
        return
    assert isinstance(cfg, RunConfig)
