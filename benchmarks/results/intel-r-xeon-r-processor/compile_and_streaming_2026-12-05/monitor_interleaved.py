import sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
bench.warm_allocations()
C = relu_ext._C
th, rows = 2, 4096
torch.set_num_threads(th)
for dt in (torch.float32, torch.bfloat16):
    torch.manual_seed(0)
    x = torch.randn(rows, 1024, dtype=dt); b = torch.randn(1024, dtype=dt); w = torch.rand(1024, dtype=dt)
    S = {"bias_prelu": lambda: C.bias_prelu(x, b, w, -1), "stats_prelu_b": lambda: C.act_stats(x, w, -1, "prelu", 0.0, b),
         "bias_relu": lambda: C.bias_act(x, b, -1, "relu", 0.0), "stats_relu_b": lambda: C.act_stats(x, None, -1, "relu", 0.0, b),
         "bias_elu": lambda: C.bias_act(x, b, -1, "elu", 1.0), "stats_elu_b": lambda: C.act_stats(x, None, -1, "elu", 1.0, b),
         "prelu": lambda: C.act_stats(x, w, -1, "prelu", 0.0, None), "relu_nob": lambda: C.act_stats(x, None, -1, "relu", 0.0, None)}
    res = bench.interleaved(list(S.values()), th, 21, 0.01)
    print(str(dt)[6:], "  ".join(f"{k} {statistics.median(r)*1e6:.1f}" for k, r in zip(S, res)), flush=True)
