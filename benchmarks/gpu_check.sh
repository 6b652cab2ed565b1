#!/usr/bin/env bash
# One prepared run for a lent GPU, about 5 minutes: build with all cores for sm_90, the CUDA
# tests, compute-sanitizer memcheck and racecheck on a small run, and a short speed table
# against ATen. Everything is written under $OUT (default benchmarks/results/gpu-check);
# summary.txt says what passed. Run from the repository root: bash benchmarks/gpu_check.sh
# TESTS (default: tests) and BENCH_ARGS (default: --quick --device all) narrow the last two
# steps; SANITIZERS= leaves compute-sanitizer out.
# The whole run stays within BUDGET seconds (default 540, under the device tool's 600 per
# command): each step's time limit is its own or what is left, whichever is less, and a step
# with under 20 s left is recorded as skipped.
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu-check}
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-540}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # relu_ext from this tree for every script
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
START=$(date +%s)
# limit N: N seconds or what is left of the budget, whichever is less (0 when under 20 s)
limit() {
  local left=$(( BUDGET - ($(date +%s) - START) ))
  (( left < 20 )) && { echo 0; return; }
  echo $(( $1 < left ? $1 : left ))
}

{ nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"
  # the C++ compiler the build will run (a wrapper script is shown)
  for f in ${CXX:-} $(command -v c++) $(command -v g++); do
    echo "== $f"; if head -c2 "$f" | grep -q '#!'; then head -40 "$f"; else ls -l "$f"; fi
  done; } > "$OUT/env.txt" 2>&1

# Of the CPU libraries only the one this CPU loads (setup.py builds the libraries one after
# another, each ~40-70 s on the H200's host however many cores). CPU_ISAS=<isa>[,<isa>,...]
# builds these instead: the smoke run below then tries each in turn.
BEST_ISA=$($PY relu_ext/_library.py)
ISAS=${CPU_ISAS:-$BEST_ISA}
SECONDS=0
if TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=$(nproc) RELU_EXT_CUDA=1 RELU_EXT_CPU_ISAS="$ISAS" \
     timeout "$(limit 400)" $PY setup.py -q build_ext --inplace > "$OUT/build.log" 2>&1; then
  summary "build: ok (${SECONDS}s; CPU libraries: $ISAS; $(${CXX:-c++} --version | head -1))"
else
  summary "build: FAILED (${SECONDS}s), see build.log"; tail -40 "$OUT/build.log"; exit 1
fi

# Each library's C++ runtime is the shared libstdc++ (a static copy crashed; setup.py, NOTES
# §46): the suite's own check of it, which the CUDA tests' -k below leaves out.
$PY -m pytest tests/test_import.py -q -p no:cacheprovider -k shared_cxx_runtime \
  > "$OUT/cxx-runtime.log" 2>&1
summary "shared C++ runtime: rc=$? $(tail -1 "$OUT/cxx-runtime.log")"

# The CPU library's smoke run (every op, dtype and layout once) in each library built; a crash
# is recorded with cuda-gdb's backtrace and faulting instructions (no gdb there), and the tests
# and benchmark below then load the first library that ran cleanly.
{ lscpu; grep -H . /sys/devices/system/cpu/cpu0/cache/index*/{level,size} 2>/dev/null; } \
  > "$OUT/cpu.txt" 2>&1
WORKING=
for isa in ${ISAS//,/ }; do
  SECONDS=0
  RELU_EXT_CPU_ISA=$isa timeout "$(limit 60)" $PY -X faulthandler benchmarks/sanitize_run.py cpu \
    > "$OUT/smoke-$isa.log" 2>&1
  rc=$?
  summary "CPU smoke run ($isa): rc=$rc (${SECONDS}s) $(tail -1 "$OUT/smoke-$isa.log")"
  if (( rc == 0 )); then
    WORKING=${WORKING:-$isa}
  elif command -v cuda-gdb > /dev/null && (( $(limit 60) > 0 )); then
    RELU_EXT_CPU_ISA=$isa timeout "$(limit 60)" cuda-gdb -q -batch -ex run -ex bt \
      -ex "x/8i \$pc" -ex 'info registers rip rsp rdi rsi rdx rcx' \
      --args $PY benchmarks/sanitize_run.py cpu >> "$OUT/smoke-$isa.log" 2>&1
  fi
done
export RELU_EXT_CPU_ISA=${WORKING:-$BEST_ISA}
summary "CPU library for the tests and benchmark: $RELU_EXT_CPU_ISA"
# With none that runs, the tests leave out the module that calls CPU ops as it is collected,
# a worker's crash fails only its test, and the benchmark measures the GPU alone.
NO_CPU=(); BENCH_DEVICE=all
[[ -z $WORKING ]] && { NO_CPU=(--ignore=tests/test_opcheck.py --max-worker-restart=10000); BENCH_DEVICE=cuda; }

# The CUDA tests (about 2000) in up to 12 processes when pytest-xdist is there: one process
# would need most of the time limit for the small ones alone. Stopped at its limit with SIGINT,
# pytest still prints the failures it has seen and writes tests.xml.
SECONDS=0
WORKERS=$(( $(nproc) < 12 ? $(nproc) : 12 ))
XDIST=$($PY -c "import xdist" 2>/dev/null && echo "-n $WORKERS")
PER_TEST=$($PY -c "import pytest_timeout" 2>/dev/null && echo "--timeout 120")
T=$(limit 240)
if (( T > 0 )); then
  timeout -s INT -k 20 "$T" $PY -m pytest ${TESTS:-tests} -q -k "cuda" -p no:cacheprovider $XDIST $PER_TEST "${NO_CPU[@]}" \
    -rfE --tb=short --durations=25 --junitxml="$OUT/tests.xml" > "$OUT/tests.log" 2>&1
  summary "cuda tests: rc=$? (${SECONDS}s of ${T}s) $(grep -E '(passed|failed|error)' "$OUT/tests.log" | tail -1)"
else
  summary "cuda tests: skipped (out of time)"
fi

for tool in ${SANITIZERS-memcheck racecheck}; do
  SECONDS=0
  T=$(limit 75)
  if ! command -v compute-sanitizer > /dev/null; then
    summary "compute-sanitizer $tool: unavailable"
  elif (( T == 0 )); then
    summary "compute-sanitizer $tool: skipped (out of time)"
  else
    timeout "$T" compute-sanitizer --tool "$tool" --error-exitcode 1 \
      $PY benchmarks/sanitize_run.py > "$OUT/sanitizer-$tool.log" 2>&1
    summary "compute-sanitizer $tool: rc=$? (${SECONDS}s of ${T}s) $(grep -m1 -E '(ERROR|RACECHECK) SUMMARY' "$OUT/sanitizer-$tool.log")"
  fi
done

SECONDS=0
T=$(limit 150)
if (( T > 0 )); then
  timeout "$T" $PY benchmarks/bench.py ${BENCH_ARGS:---quick --device $BENCH_DEVICE} --out "$OUT" > "$OUT/bench.log" 2>&1
  summary "benchmark: rc=$? (${SECONDS}s of ${T}s)"
else
  summary "benchmark: skipped (out of time)"
fi
summary "total: $(( $(date +%s) - START ))s of ${BUDGET}s"
