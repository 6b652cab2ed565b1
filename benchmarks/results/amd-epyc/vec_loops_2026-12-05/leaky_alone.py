"""float32 LeakyReLU's forward alone (and ReLU's, the control), relu_ext / ATen in one process,
64K on one thread and 1M-16M on two, calls alternated in blocks (bench.interleaved), the
benchmark's heap settings; µs and ATen's time over relu_ext's. Run with two builds alternated:

    PYTHONPATH=<build> python benchmarks/results/amd-epyc/vec_loops_2026-12-05/leaky_alone.py
"""
import ctypes
import os
import statistics
import sys

import torch
ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)
ctypes.CDLL("libc.so.6").mallopt(-4, 0)
import relu_ext
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import bench
F = relu_ext.functional
out = []
for n, th in ((65536, 1), (1048576, 2), (4194304, 2), (16777216, 2)):
    torch.set_num_threads(th)
    x = torch.randn(n)
    r = bench.interleaved([lambda: F.leaky_relu(x, 0.01), lambda: torch.nn.functional.leaky_relu(x, 0.01),
                           lambda: F.relu(x), lambda: torch.relu(x)], th, 11 if n < 2**24 else 5, 0.02 if n < 2**24 else 0.1)
    m = [statistics.median(v) * 1e6 for v in r]
    out.append(f"{n}: leaky {m[0]:.1f}/{m[1]:.1f} ({m[1]/m[0]:.2f}x) relu {m[2]:.1f}/{m[3]:.1f} ({m[3]/m[2]:.2f}x)")
print(os.environ["PYTHONPATH"], " | ".join(out), flush=True)
