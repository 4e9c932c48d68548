# `make demo` and `make test` set everything up themselves: a .venv with neuromorph installed (editable)
# plus its test and CUDA-compile extras. Python 3.11 gets brian2 2.8.0 + brian2cuda 1.0a7 (numpy<2);
# Python >= 3.12 gets brian2 2.10.1 + brian2cuda 1.0b1 (numpy 2): choose with `make PY=python3.12 ...`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neuromorph-installed
PYTEST_ARGS ?=

.PHONY: demo test bench clean-venv

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

test: $(STAMP)
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/neuromorph bench twocomp --backends numpy cython cpp --json results/bench-twocomp.json

clean-venv:
	rm -rf $(VENV)
