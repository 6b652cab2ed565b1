import sys, time, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
torch.set_num_threads(1)
xd = torch.randn(1 << 20); tiny = torch.randn(4096)
f = lambda t: F.relu(t)
cf = torch.compile(f); cf(tiny); cf(xd)
pc = time.perf_counter
A, B, C = [], [], []
for _ in range(3000):
    t0 = pc(); cf(tiny); t1 = pc(); f(xd); t2 = pc(); f(xd); t3 = pc()
    A.append(t1 - t0); B.append(t2 - t1); C.append(t3 - t2)
print("cf(tiny) after big kernel", statistics.median(A) * 1e6, "f(xd) after cf", statistics.median(B) * 1e6, "f(xd) after f", statistics.median(C) * 1e6)
A = []
for _ in range(3000):
    t0 = pc(); cf(tiny); t1 = pc(); A.append(t1 - t0)
print("cf(tiny) warm", statistics.median(A) * 1e6)
A = []; B = []
for _ in range(2000):
    t0 = pc(); cf(xd); t1 = pc(); A.append(t1 - t0)
print("cf(xd)", statistics.median(A) * 1e6)
