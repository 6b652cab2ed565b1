"""How accurate ELU's gradient recovered from its output is (memory_efficient=True): the
largest absolute error of d/dx elu(x) = alpha e^x (alpha = 1) against float64 on 200001
points of [-20, 0], relu_ext's from the output and ATen's from the input, and the x below which
relu_ext's is more than 1% off (README, memory_efficient). Output: elu_from_output.txt.

    PYTHONPATH=. python benchmarks/results/amd-epyc/elu_alpha_2026-12-05/elu_from_output.py
"""
import torch

import relu_ext

x = torch.linspace(-20, 0, 200001)
for dt in (torch.float32, torch.bfloat16, torch.float16):
    xx = x.to(dt).requires_grad_()
    (ours,) = torch.autograd.grad(relu_ext.ELU(memory_efficient=True)(xx).sum(), xx)
    (aten,) = torch.autograd.grad(torch.nn.ELU()(xx).sum(), xx)
    ref = torch.exp(xx.detach().double())
    rel = (ours.double() - ref).abs() / ref
    off = xx.detach()[rel > 0.01]
    print(f"{dt}: max abs error ours {(ours.double() - ref).abs().max().item():.3g}, "
          f"ATen {(aten.double() - ref).abs().max().item():.3g}; "
          f"ours more than 1% off below x = {off.max().item():.4g}")
