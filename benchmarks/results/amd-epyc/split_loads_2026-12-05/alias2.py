import sys, statistics, torch
import relu_ext, relu_ext.functional as F
sys.path.insert(0, '/work/main/benchmarks')
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2]); step = int(sys.argv[3]); hi = int(sys.argv[4])
torch.set_num_threads(th)
base = torch.randn(n + 8192)
res = {}
for rep in range(2):
  for off in range(0, hi, step):
    x = base[off:off + n]
    outs = []
    def e(): outs.append(F.relu(x).data_ptr())
    def a(): torch.relu(x)
    r = bench.interleaved([e, a], th, 5, 0.01)
    d = (outs[-1] - x.data_ptr()) % 4096
    res.setdefault(d, []).append([statistics.median(v) * 1e6 for v in r])
for d in sorted(res):
    print(f"{d:5d} " + "  ".join(f"ext {m[0]:6.1f} aten {m[1]:6.1f} ({m[1]/m[0]:.2f}x)" for m in res[d]), flush=True)
