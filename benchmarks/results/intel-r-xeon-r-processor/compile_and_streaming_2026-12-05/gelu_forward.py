import sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
TF = torch.nn.functional
for th, n in ((1, 32768), (1, 262144), (1, 1048576), (2, 1048576), (2, 4194304)):
    torch.set_num_threads(th)
    x = torch.randn(n)
    s = [lambda: F.gelu(x), lambda: TF.gelu(x), lambda: F.gelu(x, approximate="tanh"), lambda: TF.gelu(x, approximate="tanh"), lambda: F.elu(x), lambda: TF.elu(x)]
    res = bench.interleaved(s, th, 15, 0.01)
    m = [statistics.median(r) * 1e6 for r in res]
    print(th, n, f"gelu {m[0]:.1f}/{m[1]:.1f}={m[1]/m[0]:.2f}x  ns/elem/thread ours {m[0]*1e3*th/n:.3f} aten {m[1]*1e3*th/n:.3f}   tanh {m[2]:.1f}/{m[3]:.1f}  elu {m[4]:.1f}/{m[5]:.1f}", flush=True)
