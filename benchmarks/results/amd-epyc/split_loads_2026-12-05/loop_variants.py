import sys, statistics, torch
from torch.utils.cpp_extension import load
m = load("loopvar", ["/tmp/s/ext/loops.cpp"], extra_cflags=["-O3", "-g0", "-fopenmp", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"], build_directory="/tmp/s/ext/build", verbose=False)
sys.path.insert(0, '/work/main'); sys.path.insert(0, '/work/main/benchmarks')
import relu_ext, relu_ext.functional as F
import bench
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2]); which = sys.argv[3]
torch.set_num_threads(th)
x = torch.randn(n)
S = {"ext": lambda: F.relu(x), "aten": lambda: torch.relu(x),
     "lext": lambda: F.leaky_relu(x, 0.01), "laten": lambda: torch.nn.functional.leaky_relu(x, 0.01)}
for v in (1, 2, 4, 8, 12, 14, 21, 22, 24, 32, 34, 44, 54):
    S[f"v{v}"] = (lambda v: lambda: m.run(x, v, 32768))(v)
names = which.split(",")
res = bench.interleaved([S[k] for k in names], th, 11, 0.02)
print(f"t={th} n={n} " + " ".join(f"{k} {statistics.median(r)*1e6:6.1f}" for k, r in zip(names, res)), flush=True)
