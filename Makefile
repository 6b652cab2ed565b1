# make test   set up (or reuse) .venv, build relu_ext, run the test suite
# make bench  same set-up, then the GPU-vs-CPU benchmark (benchmarks/bench.py)
#
# A new .venv gets torch only when none is importable: $(TORCH), by default the CPU build
# torch==2.13.0 (make TORCH=torch==2.14.1 for the CUDA 13.0 build). An existing torch is
# never replaced. Variables: PYTHON (to create the venv), VENV, TORCH, PYTEST_ARGS, BENCH_ARGS.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: test bench build deps clean

deps: $(VENV)/.deps

$(VENV)/.deps:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install --upgrade "setuptools>=64" ninja pytest numpy expecttest matplotlib
	touch $@

# Incremental (ninja); equivalent to: pip install --no-build-isolation -e .
build: deps
	MAX_JOBS=$${MAX_JOBS:-$$(nproc)} $(PY) setup.py -q build_ext --inplace

test: build
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: build
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf build relu_ext/*.so relu_ext/_build_info.py
