import sys, time, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
bench.warm_allocations()
C = relu_ext._C
torch.set_num_threads(2)
N = 4096 * 1024
base = torch.randn(N + 4096)
b = torch.randn(1024); w = torch.rand(1024)
for sh in range(0, 1024, 64):
    x = base[sh:sh + N].view(4096, 1024)
    res = {}
    for nm, f in (("stats_b", lambda: C.act_stats(x, None, -1, "relu", 0.0, b)), ("bias_act", lambda: C.bias_act(x, b, -1, "relu", 0.0)),
                  ("stats", lambda: C.act_stats(x, None, -1, "relu", 0.0, None)), ("relu", lambda: torch.ops.relu_ext.relu(x))):
        y = f(); yo = y[0] if isinstance(y, tuple) else y
        off = (yo.data_ptr() - x.data_ptr()) % 4096; del y, yo
        ts = []
        for _ in range(20):
            t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        res[nm] = (off, statistics.median(ts) * 1e6)
    print(f"x shift {sh*4:5d} B  " + "  ".join(f"{k}: off {o:4d} {t:6.1f}" for k, (o, t) in res.items()), flush=True)
