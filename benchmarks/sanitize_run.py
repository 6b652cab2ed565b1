"""A small run of every op (LeakyReLU's and memory_efficient GELU's 1-bit masks, the fused
bias + activation and the dead-unit counts included), forward and backward, in every dtype
and a few layouts, on the GPU: what compute-sanitizer (memcheck, racecheck) watches in
benchmarks/gpu_check.sh. `python benchmarks/sanitize_run.py cpu` runs it on the CPU (the
check's smoke run of the CPU library), printing each case before it runs."""
import sys

import torch

import relu_ext.functional as F

dev = sys.argv[1] if len(sys.argv) > 1 else "cuda"
for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
    for shape, layout in (((3, 5, 7, 9), "contiguous"), ((3, 5, 7, 9), "channels_last"),
                          ((4, 6, 10), "sliced"), ((1003,), "odd"), ((), "0-dim"),
                          # runs and rows of whole 16-byte vectors (the per-channel sums')
                          ((5, 16, 4, 40), "vectors")):
        x = torch.randn(shape, device=dev, dtype=dtype)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        if layout == "sliced":
            x = x[:, ::2, 1:]
        x = x[1:] if layout == "odd" else x  # misaligned start
        print(dev, dtype, layout, flush=True)
        x.requires_grad_()
        c = x.shape[1] if x.dim() > 1 else 1
        w = torch.rand(c, device=dev, dtype=dtype, requires_grad=True)
        outs = [F.relu(x), F.leaky_relu(x, 0.2), F.elu(x), F.gelu(x), F.gelu(x, "tanh"),
                F.prelu(x, w), F.elu(x, memory_efficient=True),
                F.gelu(x, memory_efficient=True), F.gelu(x, "tanh", memory_efficient=True)]
        if x.dim() > 0:  # fused bias + activation along dim 1 (or 0) and the last dim
            for dim in {min(1, x.dim() - 1), -1}:
                bias = torch.randn(x.shape[dim], device=dev, dtype=dtype, requires_grad=True)
                outs += [F.bias_act(x, bias, "gelu", dim=dim),
                         F.bias_act(x, bias, "leaky_relu", dim=dim, negative_slope=0.1),
                         F.bias_act(x, bias, "prelu", dim=dim,
                                    weight=torch.rand(x.shape[dim], device=dev, dtype=dtype))]
            outs.append(torch.ops.relu_ext.act_stats(x, None, min(1, x.dim() - 1), "relu", 0.0)[0])
        sum(o.float().sum() for o in outs).backward()
        for fn in (F.relu_, lambda t: F.leaky_relu_(t, 0.1), F.elu_):
            fn(x.detach().clone())
if dev == "cuda":
    torch.cuda.synchronize()
print("sanitize run done")
