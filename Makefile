# make test        set up (or reuse) .venv, build relu_ext, run the test suite
# make bench       same set-up, then the GPU-vs-CPU benchmark (benchmarks/bench.py)
# make cuda-test   build the CPU+CUDA libraries against the CUDA torch build in .venv-cuda
#                  (compiles without a GPU; kept apart in build-cuda/) and run the suite on it
# make sanitize-test  the CPU libraries with AddressSanitizer + UBSan, and the suite on them
# make cuda-emu-test  the CUDA kernels (csrc/cuda/) compiled for a CPU emulation of CUDA
#                  (tests/cuda_emu/, build-emu/; with AddressSanitizer) and the suite run on
#                  them in place of the CPU kernels: their launches, index math, bit masks,
#                  per-channel sums and memory accesses checked on a machine without a GPU
# make compat-test the oldest torch relu_ext supports (torch==2.11.0, CUDA 13.0) on Python 3.12
#                  where pyenv has it: the lent GPU machines' torch and Python (.venv-compat,
#                  build-compat/): build (CUDA too), run the suite
#
# A new .venv gets torch only when none is importable: $(TORCH), by default the CPU build
# torch==2.13.0 (make TORCH=torch==2.14.1 for the CUDA 13.0 build). An existing torch is
# never replaced. Variables: PYTHON (to create the venv), VENV, TORCH, PYTEST_ARGS, BENCH_ARGS,
# CUDA_VENV, CUDA_TORCH, COMPAT_VENV, COMPAT_TORCH, COMPAT_PYTHON, TEST_WORKERS (test processes,
# pytest-xdist; 0: the tests in one).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
CUDA_VENV ?= .venv-cuda
CUDA_TORCH ?= torch==2.14.1
CUDA_PY := $(CUDA_VENV)/bin/python
CUDA_LIB := build-cuda/lib
COMPAT_VENV ?= .venv-compat
COMPAT_TORCH ?= torch==2.11.0
COMPAT_PY := $(COMPAT_VENV)/bin/python
# The compat venv's Python: 3.12, the lent GPU machines' (pyenv's, where this machine has
# it), else $(PYTHON).
COMPAT_PYTHON ?= $(or $(shell p="$$(pyenv root 2>/dev/null)/versions/$$(pyenv latest 3.12 \
	2>/dev/null)/bin/python3.12"; test -x "$$p" && echo "$$p"),$(PYTHON))
COMPAT_LIB := build-compat/lib
JOBS := $${MAX_JOBS:-$$(nproc)}
# Two test processes: the suite is mostly small tensors and Python, so a second process on a
# 2-core machine takes 15-30% off its time.
TEST_WORKERS ?= 2

.PHONY: test bench build deps clean cuda-build cuda-test sanitize-build sanitize-test \
	compat-build compat-test cuda-emu-test

deps: $(VENV)/.deps

# A venv ($(1)) with the build and test tools, and torch: $(3) unless the Python check $(2)
# passes on the torch already there (no commas in either: they are call arguments); made by
# the Python $(4) (default: $(PYTHON)).
define make_venv
	test -x $(1)/bin/python || $(or $(4),$(PYTHON)) -m venv $(1)
	$(1)/bin/python -c "$(2)" 2>/dev/null || $(1)/bin/python -m pip install "$(3)"
	$(1)/bin/python -m pip install --upgrade "setuptools>=64" ninja pytest pytest-xdist \
		hypothesis numpy matplotlib
	touch $@
endef

# The package's Python files, into the lib folder $(1) of a build kept apart from the
# in-place one.
define copy_python
	mkdir -p $(1)/relu_ext
	cp $(filter-out relu_ext/_build_info.py,$(wildcard relu_ext/*.py)) $(1)/relu_ext/
endef

$(VENV)/.deps: Makefile
	$(call make_venv,$(VENV),import torch,$(TORCH))

# Incremental (ninja); equivalent to: pip install --no-build-isolation -e .
build: deps
	MAX_JOBS=$(JOBS) $(PY) setup.py -q build_ext --inplace

test: build
	$(PY) -m pytest tests -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: build
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

$(CUDA_VENV)/.deps: Makefile
	$(call make_venv,$(CUDA_VENV),import torch; assert torch.version.cuda,$(CUDA_TORCH))

$(COMPAT_VENV)/.deps: Makefile
	$(call make_venv,$(COMPAT_VENV),import torch; assert torch.__version__.startswith('2.11.') \
		and torch.version.cuda,$(COMPAT_TORCH),$(COMPAT_PYTHON))

# The CPU library this machine loads (relu_ext/_library.py's choice).
BEST_ISA = $$($(1) relu_ext/_library.py)

# The package's Python files plus the CUDA library and one CPU library, built by the Python
# $(1) into the lib folder $(2) (temporary files in $(3); the in-place CPU build stays as it
# is). Of the CPU libraries only the baseline (default): the suite run on this build is then
# the whole suite on it, as `make test` runs it on the one this CPU loads. RELU_EXT_CUDA=1: a
# CUDA library that cannot be built fails.
define cuda_side_build
	$(call copy_python,$(2))
	rm -f $(2)/relu_ext/_C_cpu_avx*.so
	RELU_EXT_CUDA=1 MAX_JOBS=$(JOBS) RELU_EXT_CPU_ISAS=default \
		$(1) setup.py -q build_ext --build-lib $(2) --build-temp $(3)
endef

# The suite on such a build ($(1): the Python, $(2): the lib folder). RELU_EXT_EXPECT_CUDA=1:
# the tests also fail if the CUDA kernels are not registered.
define cuda_side_test
	cd tests && RELU_EXT_EXPECT_CUDA=1 PYTHONPATH=$(CURDIR)/$(2) \
		$(CURDIR)/$(1) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)
endef

# Against the CUDA 13.0 torch build (2.14.1).
cuda-build: $(CUDA_VENV)/.deps
	$(call cuda_side_build,$(CUDA_PY),$(CUDA_LIB),build-cuda/temp)

# Against torch 2.11 (its CUDA 13.0 build), the oldest relu_ext supports and the one the lent
# GPU machines have: its internal autograd and Python APIs differ from later releases', and
# its nvcc flags ask for C++17 where 2.14's ask for C++20. For sm_90 only (the lent GPUs'
# H200; `make cuda-build` checks the default architectures), unless TORCH_CUDA_ARCH_LIST
# says otherwise.
# Linked as by the lent GPU machines' g++ wrapper (.ci/static-cxx-g++), unless CXX is set.
compat-build: $(COMPAT_VENV)/.deps
	$(call cuda_side_build,CXX=$${CXX:-$(CURDIR)/.ci/static-cxx-g++} TORCH_CUDA_ARCH_LIST=$${TORCH_CUDA_ARCH_LIST:-9.0} $(COMPAT_PY),$(COMPAT_LIB),build-compat/temp)

# AddressSanitizer + UndefinedBehaviorSanitizer: the CPU libraries built with them in
# build-asan/lib (the in-place build stays as it is; only the instruction set this CPU
# loads), and the CPU suite run on them with
# libasan preloaded (torch itself is not instrumented; leak checks off: the interpreter's own
# allocations would drown them). SANITIZE_TESTS: which tests (default: all but the slow ones
# and the resident-memory test, which ASan's quarantine of freed memory defeats).
ASAN_LIB := build-asan/lib
# A process's environment for libraries built with the sanitizers (the interpreter is not).
SANITIZER_ENV := LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SANITIZE_TESTS ?= -m "not slow" --deselect tests/test_reliability.py::test_no_leak_over_thousands_of_steps
sanitize-build: deps
	$(call copy_python,$(ASAN_LIB))
	RELU_EXT_SANITIZE=1 RELU_EXT_CUDA=0 MAX_JOBS=$(JOBS) \
		RELU_EXT_CPU_ISAS=$(call BEST_ISA,$(PY)) \
		$(PY) setup.py -q build_ext --build-lib $(ASAN_LIB) --build-temp build-asan/temp

sanitize-test: sanitize-build
	cd tests && PYTHONPATH=$(CURDIR)/$(ASAN_LIB) $(SANITIZER_ENV) \
		$(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(SANITIZE_TESTS) \
		$(PYTEST_ARGS)

cuda-test: cuda-build
	$(call cuda_side_test,$(CUDA_PY),$(CUDA_LIB))

# The tests whose outcome can depend on torch's version (its dispatcher, autograd, compile,
# export, distributed and Python APIs); left out: those of the kernels' values alone, which
# `make cuda-test` runs on the same baseline CPU library (test_values, test_accuracy,
# test_random, test_properties, test_streaming, test_isa, test_large, test_bench; and the
# half types' pattern loops taken both ways, in child processes).
COMPAT_TESTS ?= test_import.py test_autograd.py test_opcheck.py test_compile.py \
	test_distributed.py test_integration.py test_patch.py test_modules.py test_monitor.py \
	test_memory.py test_bias_act.py test_errors.py test_reliability.py test_readme.py \
	--deselect tests/test_monitor.py::test_act_stats_pattern_rows_both_ways
compat-test: compat-build
	$(call cuda_side_test,$(COMPAT_PY),$(COMPAT_LIB)) $(COMPAT_TESTS)

# The kernel-facing tests on the emulated CUDA kernels, but for those that test the CPU
# library's own ways (its thread counts, its tolerance the CPU's summation order's; its half
# types' pattern loops taken both ways, in child processes: 32 s a run here). Left
# out: what runs no kernel or only the CPU library's own (the benchmark, processes, resident
# memory, the README, library files, streaming stores) and the 10^7-input accuracy test (the
# host's math library is not the device's; ELU's backward bounds run: their fma and ldexp
# round alike on both).
EMU_LIB := build-emu
EMU_TESTS := test_values.py test_autograd.py test_bias_act.py test_monitor.py test_memory.py \
	test_errors.py test_opcheck.py test_random.py test_properties.py test_modules.py \
	test_integration.py test_compile.py test_reliability.py \
	test_accuracy.py::test_float32_elu_backward_bound \
	test_accuracy.py::test_half_elu_backward_keeps_float_accuracy
EMU_SKIP := --deselect tests/test_values.py::test_prelu_weight_grad_deterministic_across_threads \
	--deselect tests/test_monitor.py::test_act_stats_pattern_rows_both_ways \
	--deselect tests/test_reliability.py::test_no_leak_over_thousands_of_steps
# Then the tests of the kernels with barriers (the per-channel sums of PReLU's and bias_act's
# backwards and of act_stats) again with the threads and blocks in reverse order: a missing
# barrier shows in one order or the other (tests/cuda_emu/emu.h).
EMU_BARRIER_TESTS := test_values.py test_autograd.py test_bias_act.py test_monitor.py \
	test_opcheck.py -k "prelu or bias or stats or monitor"
emu_run = cd tests && RELU_EXT_EMU_ORDER=$(1) PYTHONPATH=$(CURDIR)/$(EMU_LIB) $(SANITIZER_ENV) \
	$(CURDIR)/$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) -m "not slow" $(EMU_SKIP)
cuda-emu-test: build
	MAX_JOBS=$(JOBS) $(PY) tests/cuda_emu/build.py $(EMU_LIB)
	$(call emu_run,forward) $(EMU_TESTS) $(PYTEST_ARGS)
	$(call emu_run,reverse) $(EMU_BARRIER_TESTS) $(PYTEST_ARGS)

clean:
	rm -rf build build-cuda build-asan build-compat build-emu relu_ext/*.so relu_ext/_build_info.py
