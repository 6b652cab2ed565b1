"""ELU's forward at alpha = 1 and 0.7 (the latter by the compensated path, NOTES §59), act_stats'
ELU and bias_act's ELU at both alphas, float32, 64K elements on one thread and 1M on two; calls
alternated in blocks (bench.interleaved), the benchmark's heap settings. Run with two builds
alternated (PYTHONPATH), optionally RELU_EXT_CPU_ISA=avx2. Outputs: timings.md.

    PYTHONPATH=. python benchmarks/results/amd-epyc/elu_alpha_2026-12-05/timings.py
"""
import ctypes
import os
import sys

import torch

ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: keep freed memory
ctypes.CDLL("libc.so.6").mallopt(-4, 0)  # M_MMAP_MAX: no fresh mappings for large outputs
import relu_ext  # noqa: E402  (first: bench would put the repository's on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import bench  # noqa: E402

F, C = relu_ext.functional, relu_ext._C
out = []
for n, threads in ((65536, 1), (1048576, 2)):
    torch.set_num_threads(threads)
    x, b = torch.randn(n) * 2, torch.randn(1024)
    stmts = [lambda: F.elu(x), lambda: F.elu(x, 0.7),
             lambda: C.act_stats(x.view(-1, 1024), None, 1, "elu", 1.0),
             lambda: F.bias_act(x.view(-1, 1024), b, "elu"),
             lambda: F.bias_act(x.view(-1, 1024), b, "elu", alpha=0.7)]
    r = bench.interleaved(stmts, threads, 15, 0.02)
    out.append(f"{n}: " + " ".join(f"{sorted(v)[len(v) // 2] * 1e6:7.1f}" for v in r))
print(" | ".join(out), flush=True)
