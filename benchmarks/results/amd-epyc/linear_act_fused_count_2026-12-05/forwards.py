"""What the dead-unit monitor costs on a watched LinearAct's bias + activation: act_stats with
the bias (bias_act's values, counted) against bias_act alone, forward, (rows, 1024) with the
bias along the last dim, in alternating blocks (bench.cost_of: the median of the rounds'
ratios), the benchmark's heap settings; and the way a watched LinearAct counted before
(bias_act, then product + bias and act_stats's ReLU count on it). Run from the repository
root: python <this file> > forwards.txt"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import bench  # noqa: E402
import relu_ext  # noqa: E402

bench.warm_allocations()
C = relu_ext._C
FORMS = [("relu", 0.0), ("leaky_relu", 0.01), ("prelu", 0.0), ("elu", 1.0), ("gelu", 0.0),
         ("gelu_tanh", 0.0)]
for threads, rows in ((2, 4096), (1, 256)):
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        x = torch.randn(rows, 1024, dtype=dtype)
        b = torch.randn(1024, dtype=dtype)
        w = torch.rand(1024, dtype=dtype)
        for act, p in FORMS:
            wt = w if act == "prelu" else None
            plain = ((lambda: C.bias_prelu(x, b, w, -1)) if act == "prelu" else
                     (lambda: C.bias_act(x, b, -1, act, p)))

            def old():
                plain()
                C.act_stats(x + b, None, -1, "relu", 0.0, None)

            fused = bench.cost_of(lambda: C.act_stats(x, wt, -1, act, p, b), plain, threads,
                                  40, 0.005)
            before = bench.cost_of(old, plain, threads, 10, 0.02)
            print(f"{threads} thread(s) ({rows}, 1024) {str(dtype)[6:]:8} {act:10} "
                  f"act_stats with the bias {fused:+.0%}   before (two passes more) {before:+.0%}",
                  flush=True)
