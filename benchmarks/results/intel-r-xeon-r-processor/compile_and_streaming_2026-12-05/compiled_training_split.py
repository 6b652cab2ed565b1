import sys, time, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
torch.set_num_threads(2)
pc = time.perf_counter
f = lambda t: F.relu(t)
cf = torch.compile(f)
for n in (4096, 4194304):
    x = torch.randn(n, requires_grad=True); g = torch.randn(n)
    for _ in range(5): cf(x).backward(g); f(x).backward(g)
    out = {}
    for nm, fn in (("eager", f), ("compiled", cf), ("eager", f), ("compiled", cf)):
        A, B = [], []
        for _ in range(300 if n > 4096 else 3000):
            t0 = pc(); y = fn(x); t1 = pc(); y.backward(g); t2 = pc(); del y
            A.append(t1 - t0); B.append(t2 - t1)
        print(n, nm, f"forward {statistics.median(A)*1e6:.1f} backward {statistics.median(B)*1e6:.1f}")
