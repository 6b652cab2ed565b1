import sys, time, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
bench.warm_allocations()
C = relu_ext._C
torch.set_num_threads(2)
x = torch.randn(4096, 1024); b = torch.randn(1024); w = torch.rand(1024)
out = []
for nm, f in (("stats", lambda: C.act_stats(x, None, -1, "relu", 0.0, None)), ("stats_b", lambda: C.act_stats(x, None, -1, "relu", 0.0, b)),
              ("stats_prelu_b", lambda: C.act_stats(x, w, -1, "prelu", 0.0, b)), ("bias_act", lambda: C.bias_act(x, b, -1, "relu", 0.0))):
    f()
    ts = []
    for _ in range(40):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    out.append(f"{nm} {statistics.median(ts)*1e6:.0f}")
print("  ".join(out))
