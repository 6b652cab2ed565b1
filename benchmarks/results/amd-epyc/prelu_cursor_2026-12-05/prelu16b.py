import sys, os, statistics, torch
import relu_ext, relu_ext.functional as F
sys.path.insert(0, '/work/main/benchmarks')
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2])
torch.set_num_threads(th)
TF = torch.nn.functional
x = torch.randn(n // 4096, 64, 64) * 3; w = torch.rand(64) * 0.5
S = [lambda: F.prelu(x, w), lambda: F.relu(x), lambda: TF.prelu(x, w)]
res = bench.interleaved(S, th, 21, 0.02)
r = [a / b for a, b in zip(res[0], res[1])]
m = [statistics.median(v) * 1e6 for v in res]
print(f"n={n} t={th} prelu {m[0]:.0f} relu {m[1]:.0f} aten prelu {m[2]:.0f}  prelu/relu per round median {statistics.median(r):.3f}")
