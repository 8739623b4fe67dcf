"""Shared test configuration: float64 JAX, deterministic, no network."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

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
