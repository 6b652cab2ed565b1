import sys, os, statistics, torch
import relu_ext, relu_ext.functional as F
sys.path.insert(0, '/work/main/benchmarks')
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2]); inner = int(sys.argv[3])
torch.set_num_threads(th)
x = torch.randn(n // (64 * inner), 64, inner) * 3; w = torch.rand(64) * 0.5; g = torch.randn_like(x)
y = x.relu()
S = [lambda: torch.ops.relu_ext.prelu_backward(g, x, w), lambda: torch.ops.relu_ext.relu_backward(g, y), lambda: F.prelu(x, w)]
res = bench.interleaved(S, th, 15, 0.02)
m = [statistics.median(v) * 1e6 for v in res]
r = statistics.median(a / b for a, b in zip(res[0], res[1]))
print(f"n={n} t={th} inner={inner} prelu_bwd {m[0]:.0f} relu_bwd {m[1]:.0f} prelu_fwd {m[2]:.0f} bwd ratio {r:.3f}")
