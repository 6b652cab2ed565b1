import sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
torch.set_num_threads(2)
for n in (1048576, 4194304):
    x = torch.randn(n)
    def one(t): return F.gelu(t)
    def chain(t):
        for _ in range(8): t = F.gelu(t)
        return t
    c1, c8 = torch.compile(one), torch.compile(chain)
    c1(x); c8(x)
    res = bench.interleaved([lambda: one(x), lambda: c1(x), lambda: chain(x), lambda: c8(x)], 2, 21, 0.02)
    m = [statistics.median(r) * 1e6 for r in res]
    print(n, f"one: eager {m[0]:.1f} compiled {m[1]:.1f} (+{m[1]-m[0]:.1f})   chain of 8: eager {m[2]:.1f} compiled {m[3]:.1f} (+{m[3]-m[2]:.1f}, {m[3]/m[2]-1:+.1%})", flush=True)
