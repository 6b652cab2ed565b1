import sys, statistics, torch, time
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
torch.set_num_threads(2)
n = 1048576
x = torch.randn(n)
def chain(t):
    for _ in range(8): t = F.gelu(t)
    return t
c8 = torch.compile(chain)
t0 = time.time()
with torch._inductor.config.patch(cpp_wrapper=True):
    c8w = torch.compile(chain, dynamic=False)
    c8w(x)
print("cpp_wrapper compile", time.time() - t0)
c8(x)
res = bench.interleaved([lambda: chain(x), lambda: c8(x), lambda: c8w(x)], 2, 21, 0.02)
m = [statistics.median(r) * 1e6 for r in res]
print(n, f"eager {m[0]:.1f} compiled {m[1]:.1f} cpp_wrapper {m[2]:.1f}")
