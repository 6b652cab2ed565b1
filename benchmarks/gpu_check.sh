#!/usr/bin/env bash
# One prepared run for a lent GPU, about 5 minutes: build with all cores for sm_90, the CUDA
# tests, compute-sanitizer memcheck and racecheck on a small run, and a short speed table
# against ATen. Everything is written under $OUT (default benchmarks/results/gpu-check);
# summary.txt says what passed. Run from the repository root: bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

{ nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; } \
  > "$OUT/env.txt" 2>&1

# Of the CPU libraries only the one this CPU loads (setup.py builds the libraries one after
# another, each ~40 s however many cores: the other three would cost ~2 minutes here).
BEST_ISA=$($PY relu_ext/_library.py)
SECONDS=0
if TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=$(nproc) RELU_EXT_CUDA=1 RELU_EXT_CPU_ISAS="$BEST_ISA" \
     $PY setup.py -q build_ext --inplace > "$OUT/build.log" 2>&1; then
  summary "build: ok (${SECONDS}s; CPU library: $BEST_ISA)"
else
  summary "build: FAILED (${SECONDS}s), see build.log"; tail -40 "$OUT/build.log"; exit 1
fi

# The CUDA tests (about 1900) in up to 8 processes when pytest-xdist is there: one process
# would need most of the time limit for the small ones alone.
SECONDS=0
WORKERS=$(( $(nproc) < 8 ? $(nproc) : 8 ))
XDIST=$($PY -c "import xdist" 2>/dev/null && echo "-n $WORKERS")
timeout 170 $PY -m pytest tests -q -k "cuda" -p no:cacheprovider $XDIST > "$OUT/tests.log" 2>&1
summary "cuda tests: rc=$? (${SECONDS}s) $(tail -1 "$OUT/tests.log")"

for tool in memcheck racecheck; do
  SECONDS=0
  if command -v compute-sanitizer > /dev/null; then
    timeout 60 compute-sanitizer --tool "$tool" --error-exitcode 1 \
      $PY benchmarks/sanitize_run.py > "$OUT/sanitizer-$tool.log" 2>&1
    summary "compute-sanitizer $tool: rc=$? (${SECONDS}s) $(grep -m1 'ERROR SUMMARY' "$OUT/sanitizer-$tool.log")"
  else
    summary "compute-sanitizer $tool: unavailable"
  fi
done

SECONDS=0
timeout 150 $PY benchmarks/bench.py --quick --device all --out "$OUT" > "$OUT/bench.log" 2>&1
summary "benchmark: rc=$? (${SECONDS}s)"
