import sys, os, statistics, torch
import relu_ext, relu_ext.functional as F
sys.path.insert(0, '/work/main/benchmarks')
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2])
torch.set_num_threads(th)
TF = torch.nn.functional
x = torch.randn(max(1, n // 4096), 64, 64) * 3; w = torch.rand(64) * 0.5
xr = torch.randn(n // 1024, 1024) * 3; wr = torch.rand(1024) * 0.5
S = [lambda: F.prelu(x, w), lambda: TF.prelu(x, w), lambda: F.prelu(xr, wr), lambda: TF.prelu(xr, wr)]
res = bench.interleaved(S, th, 15, 0.02)
m = [statistics.median(v) * 1e6 for v in res]
print(f"split={os.environ.get('RELU_EXT_SPLIT_LOADS')} n={n} t={th} nchw {m[0]:.1f}/{m[1]:.1f}={m[1]/m[0]:.3f}x rows {m[2]:.1f}/{m[3]:.1f}={m[3]/m[2]:.3f}x", flush=True)
