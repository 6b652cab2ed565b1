"""float32 LeakyReLU and PReLU forwards and LeakyReLU's backward (the op, from the input),
relu_ext against ATen in one process: calls alternated in blocks (bench.interleaved), the
benchmark's heap settings; 64K elements on one thread, the rest on two. Prints µs (relu_ext /
ATen) and ATen's time over relu_ext's. Run with two builds alternated (PYTHONPATH),
optionally RELU_EXT_CPU_ISA=avx2:

    PYTHONPATH=<build> python benchmarks/results/amd-epyc/vec_loops_2026-12-05/timings.py
"""
import ctypes
import os
import statistics
import sys

import torch

ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: keep freed memory
ctypes.CDLL("libc.so.6").mallopt(-4, 0)  # M_MMAP_MAX: no fresh mappings for large outputs
import relu_ext  # noqa: E402  (first: bench would put the repository's on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import bench  # noqa: E402

F, TF, R, A = relu_ext.functional, torch.nn.functional, torch.ops.relu_ext, torch.ops.aten
CASES = [  # (label, shape, PReLU's channels)
    ("64K", (16, 64, 64), 64), ("1M", (256, 64, 64), 64), ("4M", (1024, 64, 64), 64),
    ("16M", (4096, 64, 64), 64), ("rows 1M", (1024, 1024), 1024),
    ("rows 4M", (4096, 1024), 1024)]
line = []
for label, shape, channels in CASES:
    x, g, w = torch.randn(shape), torch.randn(shape), torch.rand(channels)
    threads = 1 if x.numel() <= 65536 else 2
    torch.set_num_threads(threads)
    big = x.numel() >= 2**24
    pairs = {"leaky": (lambda: F.leaky_relu(x, 0.01), lambda: TF.leaky_relu(x, 0.01)),
             "prelu": (lambda: F.prelu(x, w), lambda: TF.prelu(x, w)),
             "leaky bwd": (lambda: R.leaky_relu_backward(g, x, 0.01, False),
                           lambda: A.leaky_relu_backward(g, x, 0.01, False))}
    stmts = [f for pair in pairs.values() for f in pair]
    med = [statistics.median(v) * 1e6
           for v in bench.interleaved(stmts, threads, 5 if big else 11, 0.1 if big else 0.02)]
    cols = [f"{name} {med[2 * k]:.1f}/{med[2 * k + 1]:.1f} ({med[2 * k + 1] / med[2 * k]:.2f}x)"
            for k, name in enumerate(pairs)]
    line.append(f"{label}: " + ", ".join(cols))
print(os.environ.get("PYTHONPATH"), relu_ext.backend_info()["cpu_isa"], " | ".join(line),
      flush=True)
