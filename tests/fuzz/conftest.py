"""Fuzzing of the text parsers; the ``fuzz`` fixture (example counter, memory bound) is in
tests/conftest.py, shared with the artifact fuzzers of tests/contracts."""
