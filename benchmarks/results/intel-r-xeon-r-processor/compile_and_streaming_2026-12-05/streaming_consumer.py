import sys, os, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
th = 2; torch.set_num_threads(th)
ext = torch.ops.relu_ext
for n in [int(a) for a in sys.argv[1].split(",")]:
    x = torch.randn(n); g = torch.randn(n)
    S = {"relu": lambda: F.relu(x), "relu+sum": lambda: F.relu(x).sum(),
         "elu": lambda: F.elu(x), "elu+sum": lambda: F.elu(x).sum(),
         "elu_b": lambda: ext.elu_backward(g, x, 1.0, False), "elu_b+sum": lambda: ext.elu_backward(g, x, 1.0, False).sum(),
         "relu_b": lambda: ext.relu_backward(g, x), "relu_b+sum": lambda: ext.relu_backward(g, x).sum(),
         "sum": lambda: x.sum()}
    res = bench.interleaved(list(S.values()), th, 11, 0.02)
    m = [statistics.median(r) * 1e6 for r in res]
    print(f"stream={os.environ.get('RELU_EXT_STREAMING_BYTES','-'):9} n={n:8} " + " ".join(f"{k} {v:.1f}" for k, v in zip(S, m)), flush=True)
