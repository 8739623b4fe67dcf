"""Shared test configuration: float64 JAX, deterministic, no network."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

# One persistent XLA compilation cache for the whole test session (controller, xdist
# workers and the CLI subprocesses the tests start inherit it): most of a small world's
# stage time is compiling the same engine graphs again in another process (measured on
# the closed-loop test world: 71 of 122 s of ``emulate``, 115 of 145 s of ``ladder``).
# JAX keys entries by the compiled program, its options and the JAX/XLA version, so a
# hit is the same executable. Made here, before JAX is imported, and removed by the
# process that made it; a cache the user set is used as it is.
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _jax_cache = tempfile.mkdtemp(prefix="neurophantom-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jax_cache
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The headless-Chromium harness (tests/chromium_harness.py) serves the report tests of
# every stage; loaded by path because tests are not a package (--import-mode=importlib).
import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

_spec = importlib.util.spec_from_file_location("chromium_harness", Path(__file__).with_name("chromium_harness.py"))
chromium_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chromium_harness)
render_page = chromium_harness.render_page


# Property-based fuzzing (tests/fuzz, tests/contracts/test_fuzz_*): each example a fuzz test runs is counted (fixture
# ``fuzz`` there); the total is printed at the end of the run, summed over xdist workers.
def pytest_configure(config):
    config._neurophantom_fuzz_cases = 0


def pytest_sessionfinish(session, exitstatus):
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["neurophantom_fuzz_cases"] = session.config._neurophantom_fuzz_cases


def pytest_testnodedown(node, error):
    node.config._neurophantom_fuzz_cases += getattr(node, "workeroutput", {}).get("neurophantom_fuzz_cases", 0)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config._neurophantom_fuzz_cases
    if n:
        terminalreporter.write_line(f"fuzz: {n} generated cases, each a clean error or a valid result")


import resource  # noqa: E402

import pytest  # noqa: E402


class Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


@pytest.fixture
def fuzz(request, monkeypatch):
    monkeypatch.setenv("NEUROPHANTOM_MEMORY_BUDGET_GB", "1")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = Count()
    yield c
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"peak memory grew by {grown_mib:.0f} MiB while fuzzing"
    s = getattr(request.function, "_hypothesis_internal_use_settings", None)
    if s is not None:
        assert c.n >= s.max_examples, f"ran {c.n} of {s.max_examples} examples"
    request.config._neurophantom_fuzz_cases += c.n


#: Files whose tests take minutes (whole closed-loop runs): collected first, so that with
#: ``--dist loadfile`` they start at once on their own workers and the short files fill
#: the other worker around them, instead of one of them starting last and running alone.
_LONG_FIRST = ("pipeline/test_closed_loop.py", "pipeline/test_memory_modalities.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = str(item.path).replace("\\", "/")
        return next((k for k, name in enumerate(_LONG_FIRST) if path.endswith(name)), len(_LONG_FIRST))

    items.sort(key=rank)  # stable: the order within and among the other files is kept
