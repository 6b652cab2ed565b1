"""16M-element timings of the library on PYTHONPATH (NOTES §61: compute_piece against the
commit before it, processes alternated). `--compute`: the three computed ops alone, 9 rounds
of 0.1 s blocks (else all seven, 5 rounds of 0.15 s)."""
import os
import statistics
import sys

import torch

sys.path.insert(0, "/work/main/benchmarks")
import relu_ext  # noqa: E402
import relu_ext.functional as F  # noqa: E402
import bench  # noqa: E402

bench.warm_allocations()
torch.manual_seed(0)
n = 16 * 2**20
x32 = torch.randn(n); xb = x32.bfloat16(); g32 = torch.randn(n); gb = g32.bfloat16()
x2 = x32.view(-1, 1024); b = torch.randn(1024); xb2 = xb.view(-1, 1024)
ops = torch.ops.relu_ext
stmts = {
    "relu f32 fwd": lambda: F.relu(x32),
    "gelu f32 fwd": lambda: F.gelu(x32),
    "gelu bf16 bwd": lambda: ops.gelu_backward(gb, xb, "none"),
    "elu f32 bwd": lambda: ops.elu_backward(g32, x32, 1.0, False),
    "act_stats bf16 relu": lambda: ops.act_stats(xb2, None, 1, "relu", 0.0),
    "act_stats f32 elu": lambda: ops.act_stats(x2, None, 1, "elu", 1.0),
    "bias_act f32 gelu": lambda: F.bias_act(x2, b, "gelu"),
}
compute = "--compute" in sys.argv
names = ([k for k in stmts if k in ("gelu f32 fwd", "act_stats f32 elu", "bias_act f32 gelu")]
         if compute else list(stmts))
rounds, block = (9, 0.1) if compute else (5, 0.15)
samples = bench.interleaved([stmts[k] for k in names], 2, rounds, block)
print(relu_ext.backend_info()["cpu_isa"], os.environ.get("PYTHONPATH"))
for k, s in zip(names, samples):
    print(f"{k:22s} {statistics.median(s)*1e3:8.3f} ms")
