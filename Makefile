# neurophantom: two commands set everything up on a fresh machine (python3 + make).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
OUT ?= runs/default
JOBS ?= 2

.PHONY: run test bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,celegans]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/neurophantom run --out $(OUT)

# --dist loadfile: a file's tests share one worker (its module and session fixtures are built
# once). xdist_group marks do not group under pytest 9 + xdist 3.8, and the closed-loop
# tests, split over two workers, left one waiting about 6 minutes on the other's run.
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile -q --durations=25

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
