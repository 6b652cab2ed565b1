"""Monitor cost: act_stats vs the plain forward, (rows, 1024) dim 1, alternated (cost_of)."""
import os, sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
C = relu_ext._C
forms = sys.argv[1].split(",") if len(sys.argv) > 1 else ["relu", "leaky_relu", "elu", "prelu"]
dtypes = [getattr(torch, d) for d in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["float32"])]
cfg = [(2, 4096), (1, 256)]
plain = {"relu": lambda x, w: F.relu(x), "leaky_relu": lambda x, w: F.leaky_relu(x, 0.01),
         "elu": lambda x, w: F.elu(x), "prelu": lambda x, w: F.prelu(x, w),
         "gelu": lambda x, w: F.gelu(x)}
params = {"relu": 0.0, "leaky_relu": 0.01, "elu": 1.0, "prelu": 0.0, "gelu": 0.0}
for th, rows in cfg:
    for dt in dtypes:
        torch.manual_seed(0)
        x = torch.randn(rows, 1024, dtype=dt)
        w = torch.rand(1024, dtype=dt)
        for f in forms:
            wt = w if f == "prelu" else None
            s, p = bench.interleaved([lambda: C.act_stats(x, wt, 1, f, params[f], None), lambda: plain[f](x, w)], th, 40, 0.005)
            cost = statistics.median(a / b for a, b in zip(s, p)) - 1
            print(f"split={os.environ.get('RELU_EXT_SPLIT_LOADS','-')} t={th} ({rows},1024) {str(dt)[6:]:8} {f:10} "
                  f"stats {statistics.median(s)*1e6:8.1f} plain {statistics.median(p)*1e6:8.1f} us  cost {cost:+.1%}", flush=True)
