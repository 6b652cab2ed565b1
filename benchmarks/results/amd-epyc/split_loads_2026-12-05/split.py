import sys, os, statistics, torch
import relu_ext, relu_ext.functional as F
sys.path.insert(0, '/work/main/benchmarks')
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2]); ops = sys.argv[3].split(",")
torch.set_num_threads(th)
TF = torch.nn.functional
x = torch.randn(n); g = torch.randn(n)
xp = x.view(-1, 64, n // 64 // 64 if n >= 4096 else 1, 64) if False else x.view(n // (64*64), 64, 8, 8)
w = torch.rand(64)
ext = torch.ops.relu_ext
S = {"relu": (lambda: F.relu(x), lambda: torch.relu(x)),
     "leaky": (lambda: F.leaky_relu(x, 0.01), lambda: TF.leaky_relu(x, 0.01)),
     "prelu": (lambda: F.prelu(xp, w), lambda: TF.prelu(xp, w)),
     "elu": (lambda: F.elu(x), lambda: TF.elu(x)),
     "gelu": (lambda: F.gelu(x), lambda: TF.gelu(x)),
     "tanh": (lambda: F.gelu(x, approximate="tanh"), lambda: TF.gelu(x, approximate="tanh")),
     "relu_b": (lambda: ext.relu_backward(g, x), lambda: torch.ops.aten.threshold_backward(g, x, 0)),
     "elu_b": (lambda: ext.elu_backward(g, x, 1.0, False), lambda: torch.ops.aten.elu_backward(g, 1.0, 1, 1, False, x)),
     "gelu_b": (lambda: ext.gelu_backward(g, x, "none"), lambda: torch.ops.aten.gelu_backward(g, x)),
}
stmts = []
for o in ops: stmts += list(S[o])
res = bench.interleaved(stmts, th, 11, 0.02)
m = [statistics.median(r) * 1e6 for r in res]
print(f"split={os.environ.get('RELU_EXT_SPLIT_LOADS')} t={th} n={n} " + "  ".join(f"{o} {m[2*k]:.1f}/{m[2*k+1]:.1f}={m[2*k+1]/m[2*k]:.2f}x" for k, o in enumerate(ops)), flush=True)
