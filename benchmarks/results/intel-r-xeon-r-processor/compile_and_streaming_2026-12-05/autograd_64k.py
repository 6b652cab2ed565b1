import sys, statistics, torch
sys.path.insert(0, "/work/main/benchmarks")
import bench, relu_ext
import relu_ext.functional as F
bench.warm_allocations()
th = int(sys.argv[1]); n = int(sys.argv[2])
torch.set_num_threads(th)
TF = torch.nn.functional
x = torch.randn(n, requires_grad=True); g = torch.randn(n)
ys = {"ext_elu": F.elu(x), "aten_elu": TF.elu(x), "ext_relu": F.relu(x), "aten_relu": torch.relu(x),
      "ext_gelu": F.gelu(x), "aten_gelu": TF.gelu(x)}
stmts = [(lambda y=y: torch.autograd.grad(y, (x,), g, retain_graph=True)) for y in ys.values()]
xd = x.detach()
ops = {"op_ext_elu": lambda: torch.ops.relu_ext.elu_backward(g, xd, 1.0, False),
       "op_aten_elu": lambda: torch.ops.aten.elu_backward(g, 1.0, 1, 1, False, xd)}
res = bench.interleaved(stmts + list(ops.values()), th, 21, 0.01)
print(th, n, "  ".join(f"{k} {statistics.median(r)*1e6:.1f}" for k, r in zip(list(ys) + list(ops), res)), flush=True)
