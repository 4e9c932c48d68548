# `make demo` and `make test` set everything up themselves: a .venv with neuromorph installed (editable)
# plus its test and CUDA-compile extras. Python 3.11 gets brian2 2.8.0 + brian2cuda 1.0a7 (numpy<2);
# Python >= 3.12 gets brian2 2.10.1 + brian2cuda 1.0b1 (numpy 2): choose with `make PY=python3.12 ...`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neuromorph-installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast test-cuda test-gpu bench clean-venv

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,cuda]'
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
test: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m "not gpu" --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m "not slow and not standalone and not cuda_compile and not gpu" $(PYTEST_ARGS)

test-cuda: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m cuda_compile $(PYTEST_ARGS)

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m gpu $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/neuromorph bench twocomp --backends numpy cython cpp --json results/bench-twocomp.json

clean-venv:
	rm -rf $(VENV)
