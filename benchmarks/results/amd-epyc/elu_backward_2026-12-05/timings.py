"""ELU's float32 backward from the input (the op itself): relu_ext at alpha 1 and 0.7, ATen's at
1, and bias_act's ELU backward on (N, 1024) rows; 64K elements on one thread, 1M on two (SIZES=all:
4M and 16M too). Calls alternated in blocks (bench.interleaved), the benchmark's heap settings.
Run with two builds alternated (PYTHONPATH), RELU_EXT_CPU_ISA=avx512_bf16 or avx2; prints µs.

    PYTHONPATH=<build> python benchmarks/results/amd-epyc/elu_backward_2026-12-05/timings.py
"""
import ctypes
import os
import sys

import torch

ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)
ctypes.CDLL("libc.so.6").mallopt(-4, 0)
import relu_ext  # noqa: E402,F401  (first: bench would put the repository's on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import bench  # noqa: E402

R, A = torch.ops.relu_ext, torch.ops.aten
out = []
SIZES = ((65536, 1), (1048576, 2))
if os.environ.get("SIZES") == "all":
    SIZES += ((4194304, 2), (16777216, 2))
for n, threads in SIZES:
    torch.set_num_threads(threads)
    x, g, b = torch.randn(n) * 3, torch.randn(n), torch.randn(1024)
    xs, gs = x.view(-1, 1024), g.view(-1, 1024)
    stmts = [lambda: R.elu_backward(g, x, 1.0, False), lambda: R.elu_backward(g, x, 0.7, False),
             lambda: A.elu_backward(g, 1.0, 1, 1, False, x),
             lambda: R.bias_act_backward(gs, xs, b, -1, "elu", 1.0)]
    rounds = 15 if n < 2**24 else 7
    r = bench.interleaved(stmts, threads, rounds, 0.02 if n < 2**24 else 0.1)
    out.append(f"{n}: " + " ".join(f"{sorted(v)[len(v) // 2] * 1e6:7.1f}" for v in r))
print(os.environ.get("PYTHONPATH"), relu_ext.backend_info()["cpu_isa"], " | ".join(out),
      flush=True)
