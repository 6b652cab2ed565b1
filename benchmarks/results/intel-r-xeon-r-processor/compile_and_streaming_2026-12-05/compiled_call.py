import sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2])
torch.set_num_threads(th)
xd = torch.randn(n); tiny = torch.randn(4096)
f = lambda t: F.relu(t)
cf = torch.compile(f)
cf(xd); cf(tiny)
op = torch.ops.relu_ext.relu.default
def nog():
    with torch.no_grad(): return f(xd)
def pre():
    cf(tiny); return f(xd)
stmts = {"eager": lambda: f(xd), "op": lambda: op(xd), "compiled": lambda: cf(xd), "no_grad": nog,
         "tiny_compiled": lambda: cf(tiny), "tiny_then_eager": pre, "aten": lambda: torch.relu(xd)}
res = bench.interleaved(list(stmts.values()), th, 21, 0.01)
print(th, n, "  ".join(f"{k} {statistics.median(r)*1e6:.1f}" for k, r in zip(stmts, res)), flush=True)
