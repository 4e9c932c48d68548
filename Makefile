# `make demo` and `make test` set everything up themselves: a .venv with neuromorph installed (editable)
# plus its test and CUDA-compile extras. Python 3.11 gets brian2 2.8.0 + brian2cuda 1.0a7 (numpy<2);
# Python >= 3.12 gets brian2 2.10.1 + brian2cuda 1.0b1 (numpy 2): choose with `make PY=python3.12 ...`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neuromorph-installed
PYTEST_ARGS ?=
# The Python 3.12 set (brian2 2.10.1 + brian2cuda 1.0b1 + numpy 2) in its own venv: `make test` runs the
# unit tests and every circuit's equivalence on the numpy and cython targets there too (no standalone or
# nvcc builds; those run in the 3.11 set). Without a python3.12 it says so and skips, except under CI=true.
# (a pyenv shim answers `command -v` but may refuse to run, so each candidate must run and be 3.12)
PY312 ?= $(shell for p in python3.12 $(HOME)/.pyenv/versions/3.12.*/bin/python3.12; do \
  $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
VENV312 := .venv312
STAMP312 := $(VENV312)/.neuromorph-installed
# on 3.12: every circuit on numpy (contract) and twocomp on cython, the Brian2 monitor-view regression (numpy and
# cython), the unit tests; every circuit on cython in the 3.12 set: `make test312 PYTEST312_ARGS="-m 'not gpu'
# tests/test_contract.py"` (each circuit's cython compile costs minutes on 2 cores)
PYTEST312_ARGS ?= -m "not (slow or standalone or cuda_compile or gpu)" -k "not cython or twocomp or regression" tests/test_contract.py \
  tests/test_brian_numpy_regression.py tests/test_phases.py tests/test_blocks.py tests/test_config.py \
  tests/test_data.py tests/test_twocomp_equivalence.py

.PHONY: demo test test-fast test-cuda test-gpu test312 bench clean-venv

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,cuda,deploy]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuromorph info
	rm -rf results/demo-twocomp-digits results/demo-corinfomax-digits
	$(BIN)/neuromorph run experiments/demo/twocomp_digits.toml --out results/demo-twocomp-digits
	@if [ -f experiments/demo/corinfomax_digits.toml ]; then \
	  $(BIN)/neuromorph run experiments/demo/corinfomax_digits.toml --out results/demo-corinfomax-digits; fi
	@echo "reports: results/demo-*/report.md (figures in results/demo-*/figures/)"

# Test tiers (markers in setup.cfg; README "Tests"). `make test` is what CI runs (.ci/run): every circuit on
# numpy, cython and cpp_standalone, and one nvcc build per circuit (tests/conftest.py cuda_builds) shared by
# every test that needs it. GPU runs are their own tier (they skip without a GPU).
# -n auto: one pytest-xdist worker per core (compiles dominate and each is single-threaded); loadgroup keeps the
# tests that share a CUDA build on one worker.
XDIST := -n auto --dist loadgroup
test: $(STAMP)
	$(BIN)/python -m pytest -q -rs $(XDIST) -m "not gpu" --durations=25 $(PYTEST_ARGS)
	$(MAKE) test312

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m "not slow and not standalone and not cuda_compile and not gpu" $(PYTEST_ARGS)

test-cuda: $(STAMP)
	NEUROMORPH_NVCC=all $(BIN)/python -m pytest -q -rs -m cuda_compile $(PYTEST_ARGS)

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m gpu $(PYTEST_ARGS)

$(STAMP312): setup.cfg pyproject.toml
	test -x $(VENV312)/bin/python || $(PY312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --upgrade pip
	$(VENV312)/bin/python -m pip install -q -e '.[test]'
	touch $(STAMP312)

test312:
	@if [ -z "$(PY312)" ]; then \
	  if [ "$$CI" = true ]; then \
	    echo "error: python3.12 not found, so CI cannot test the Python 3.12 set; install it or set PY312=/path/to/python3.12" >&2; \
	    exit 1; \
	  fi; \
	  echo "*** WARNING: python3.12 not found: the Python 3.12 set (brian2 2.10.1 + numpy 2) was NOT tested."; \
	  echo "*** Install python3.12 or run: make test312 PY312=/path/to/python3.12"; \
	else \
	  $(MAKE) $(STAMP312) && $(VENV312)/bin/python -m pytest -q -rs $(XDIST) --durations=10 $(PYTEST312_ARGS); \
	fi

bench: $(STAMP)
	$(BIN)/neuromorph bench twocomp --backends numpy cython cpp --json results/bench-twocomp.json

clean-venv:
	rm -rf $(VENV) $(VENV312)
