"""float32 ELU backward (elu_backward from the input) against float64 at several alphas: the
largest error in ulp of float32 at the reference value, relu_ext and ATen on the same 4M
inputs and gradients (benchmarks/accuracy.py's), over all inputs and over those whose result
and slope are normal floats; and the slope alone (gradient 1). Run with the build to measure
first on PYTHONPATH (RELU_EXT_CPU_ISA picks the library):

    PYTHONPATH=<build> python benchmarks/results/amd-epyc/elu_backward_2026-12-05/alphas.py
"""
import os
import sys

import torch

import relu_ext  # noqa: F401  (first: accuracy.py would put the repository's on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import accuracy  # noqa: E402

x, g, w = accuracy.make_inputs(4 * 10**6, torch.float32, "cpu")
xd = x.double().flatten()
print(relu_ext.backend_info()["cpu_isa"], relu_ext.__file__)
for a in (0.2, 0.5, 0.7, 1.0, 1.5, 3.0):
    op = f"elu(alpha={a})"
    cols = []
    for grad, label in ((g, "g*slope"), (torch.ones_like(x), "slope")):
        ref = accuracy.reference(op, "backward", x, grad, w).flatten()
        normal = (ref.abs() >= 2**-126) & (xd <= 0) & (a * xd.exp() >= 2**-126)
        for impl in ("relu_ext", "aten"):
            out = accuracy.run(impl, op, "backward", x, grad, w).double().flatten()
            u = ((out - ref).abs() / accuracy.ulp(ref, torch.float32)).nan_to_num(0.0, 0.0, 0.0)
            cols.append(f"{label} {impl} all {u.max():.3f} normal {u[normal].max():.3f}")
    print(f"alpha={a}: " + " | ".join(cols), flush=True)
