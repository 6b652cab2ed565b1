"""The CPU kernels are built once per instruction set; each library this CPU can run must
give torch's values and gradients (checked in a subprocess per ISA, selected the way torch
selects its own kernels: ATEN_CPU_CAPABILITY; and RELU_EXT_CPU_ISA, which also picks the plain
AVX-512 library on a CPU with the AVX512-BF16 conversions)."""
import glob
import os

import pytest

import relu_ext
from child import run_python

PKG = os.path.dirname(relu_ext.__file__)
RUNNABLE = relu_ext._library.runnable_isas()
BUILT = [isa for isa in RUNNABLE if glob.glob(os.path.join(PKG, f"_C_cpu_{isa}.*so"))]

CHECK = r"""
import sys, torch, relu_ext
import relu_ext.functional as F, torch.nn.functional as TF
assert relu_ext.backend_info()["cpu_isa"] == sys.argv[1], relu_ext.backend_info()
torch.manual_seed(0)
for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
    x = (torch.randn(3, 4, 1031, dtype=torch.float64) * 5).to(dtype)
    x.view(-1)[::101] = float("nan")
    x.view(-1)[7::211] = float("inf")
    x.view(-1)[9::223] = -float("inf")
    w = torch.rand(4, dtype=dtype)
    pairs = [(lambda t: F.relu(t), lambda t: TF.relu(t)),
             (lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
             (lambda t: F.prelu(t, w), lambda t: TF.prelu(t, w)),
             (lambda t: F.elu(t, 0.7), lambda t: TF.elu(t, 0.7)),
             (lambda t: F.gelu(t), lambda t: TF.gelu(t)),
             (lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh"))]
    finite = torch.isfinite(x)
    g = torch.randn(x.shape, dtype=torch.float64).to(dtype)
    for ours, ref in pairs:
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), ref(xb)
        torch.testing.assert_close(ya[finite], yb[finite], equal_nan=True)
        assert ya[x.isnan()].isnan().all(), dtype  # NaN in, NaN out
        (ga,) = torch.autograd.grad(ya, xa, g)
        (gb,) = torch.autograd.grad(yb, xb, g)
        torch.testing.assert_close(ga[finite], gb[finite], equal_nan=True)
    # The memory-saving forwards (their own loops, writing a bit mask as they go) give
    # exactly the plain forwards' values, partial last word included (12372 = 386 * 32 + 20).
    xg = x.clone().requires_grad_()
    for approximate in ("none", "tanh"):
        torch.testing.assert_close(F.gelu(xg, approximate, memory_efficient=True),
                                   F.gelu(x, approximate), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(F.leaky_relu(xg, 0.2), F.leaky_relu(x, 0.2), rtol=0, atol=0,
                               equal_nan=True)
    # The fused loops (rows and runs, partial vectors: 1031 = 64 * 16 + 7): bias_act with its
    # bias and input gradients, act_stats's counts.
    for dim in (-1, 1):
        C = x.shape[dim]
        view = [1, 1, 1]
        view[dim] = C
        b = torch.randn(C, dtype=torch.float64).to(dtype)
        for act, ref in (("relu", TF.relu), ("elu", TF.elu), ("gelu", TF.gelu)):
            xa, ba = x.clone().requires_grad_(), b.clone().requires_grad_()
            xb, bb = x.double().requires_grad_(), b.double().requires_grad_()
            ya, yb = F.bias_act(xa, ba, act, dim=dim), ref(xb + bb.reshape(view))
            torch.testing.assert_close(ya[finite].double(), yb[finite], rtol=1e-2, atol=1e-2)
            fin = finite.all(dim=[d for d in range(3) if d != dim % 3])
            gd = torch.where(finite, g, 0)
            (gxa, gba), (gxb, gbb) = (torch.autograd.grad(ya, (xa, ba), gd),
                                      torch.autograd.grad(yb, (xb, bb), gd.double()))
            torch.testing.assert_close(gxa[finite].double(), gxb[finite], rtol=1e-2, atol=1e-2)
            torch.testing.assert_close(gba[fin].double(), gbb[fin], rtol=2e-2, atol=2e-1)
        # (relu in the half types: on the 16-bit patterns, NaN and inf among them)
        for act, p, ref in (("leaky_relu", 0.2, lambda t: TF.leaky_relu(t, 0.2)),
                            ("relu", 0.0, TF.relu)):
            y, fired = torch.ops.relu_ext.act_stats(x, None, dim, act, p)
            torch.testing.assert_close(y, ref(x), rtol=0, atol=0, equal_nan=True)
            want = (x > 0).movedim(dim, -1).reshape(-1, C).sum(0)
            assert torch.equal(fired, want), (dim, dtype, act)
        # the forms with arithmetic: exactly relu_ext's own forwards (the half types' by
        # table on AVX-512 and AVX2, in act_stats's pattern loops too; the scalar ops in the
        # baseline library)
        for act, p, ours in (("elu", 1.0, lambda t: F.elu(t)),
                             ("elu", 0.7, lambda t: F.elu(t, 0.7)),
                             ("gelu", 0.0, lambda t: F.gelu(t)),
                             ("gelu_tanh", 0.0, lambda t: F.gelu(t, approximate="tanh"))):
            y, fired = torch.ops.relu_ext.act_stats(x, None, dim, act, p)
            torch.testing.assert_close(y, ours(x), rtol=0, atol=0, equal_nan=True)
            want = (x > 0).movedim(dim, -1).reshape(-1, C).sum(0)
            assert torch.equal(fired, want), (dim, dtype, act)
# ReLU's half-type pattern count past 2^15 rows on one thread: its 8-bit (AVX-512, AVX2) and
# 16-bit (the baseline) lane counts flush before they overflow; 72 channels: whole vector
# steps of four-row blocks and a tail in every library
threads = torch.get_num_threads()
torch.set_num_threads(1)
xr = torch.randn(70000, 72).to(torch.bfloat16)
y, fired = torch.ops.relu_ext.act_stats(xr, None, 1, "relu", 0.0)
assert torch.equal(fired, (xr > 0).sum(0)) and torch.equal(y, TF.relu(xr))
# Few rows of many channels, split by channels over 8 threads (300 rows: 8-bit lanes flush;
# 1100 channels: a last block under 64), ReLU on the patterns and the float loop
torch.set_num_threads(8)
xw = torch.randn(300, 1100)
for dtype in (torch.bfloat16, torch.float32):
    for act, p, ref in (("relu", 0.0, TF.relu), ("elu", 1.0, TF.elu)):
        y, fired = torch.ops.relu_ext.act_stats(xw.to(dtype), None, 1, act, p)
        assert torch.equal(fired, (xw > 0).sum(0)), (dtype, act)
        torch.testing.assert_close(y, ref(xw.to(dtype)))
torch.set_num_threads(threads)
# Subnormal results survive the narrowing to the half types (the AVX512-BF16 instruction
# alone would flush them to zero), at both ends of the vector loops.
for dtype in (torch.bfloat16, torch.float16):
    tiny = torch.finfo(dtype).tiny
    x = torch.linspace(-4 * tiny, 4 * tiny, 1031, dtype=torch.float64).to(dtype)
    # (slopes that make every product exact: one rounding, whatever the path)
    for ours, ref in ((F.relu, TF.relu),
                      (lambda t: F.leaky_relu(t, 0.25), lambda t: TF.leaky_relu(t, 0.25)),
                      (lambda t: F.elu(t, 0.5), lambda t: TF.elu(t, 0.5))):
        want = ref(x.double()).to(dtype)
        assert (want.abs() < tiny).any() and (want != 0).any()
        torch.testing.assert_close(ours(x), want, atol=0, rtol=0)
# The half types' relu runs on their 16-bit patterns (integer compares, no float math): every
# pattern, forward (also in place) and backward, against torch in float; dense, and a strided
# view that takes the float loop.
for dtype in (torch.bfloat16, torch.float16):
    x = torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    g = torch.randn(x.shape).to(dtype)
    want_y = TF.relu(x.float()).to(dtype)
    want_g = torch.ops.aten.threshold_backward(g.float(), x.float(), 0).to(dtype)
    for s in (slice(None), slice(None, None, 2)):
        torch.testing.assert_close(F.relu(x[s]), want_y[s], rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(F.relu(x[s].clone(), inplace=True), want_y[s], rtol=0, atol=0,
                                   equal_nan=True)
        torch.testing.assert_close(torch.ops.relu_ext.relu_backward(g[s], x[s]), want_g[s],
                                   rtol=0, atol=0, equal_nan=True)
# PReLU on rows of C channels (2-D input), full and partial vectors (37 = 2 * 16 + 5): the
# products are exact in float, so one rounding gives float64's values rounded.
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    x = (torch.randn(301, 37, dtype=torch.float64) * 3).to(dtype)
    x[5, 3] = float("nan")
    w = torch.rand(37, dtype=dtype)
    g = torch.randn(x.shape, dtype=torch.float64).to(dtype)
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    xb, wb = x.double().requires_grad_(), w.double().requires_grad_()
    ya, yb = F.prelu(xa, wa), TF.prelu(xb, wb)
    torch.testing.assert_close(ya, yb.to(dtype), rtol=0, atol=0, equal_nan=True)
    (gxa, gwa) = torch.autograd.grad(ya, (xa, wa), g)
    (gxb, gwb) = torch.autograd.grad(yb, (xb, wb), g.double())
    torch.testing.assert_close(gxa, gxb.to(dtype), rtol=0, atol=0, equal_nan=True)
    assert gwa[3].isnan() and gwa.isnan().sum() == 1, dtype  # the NaN's channel alone
    rtol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(gwa.double(), gwb.to(dtype).double(), rtol=rtol, atol=1e-3,
                               equal_nan=True)
# GELU's far tail in float32 (x in [-12.5, -3], results normal floats down to 4e-35): within
# 8 ulp of float64's x erfc(-x/sqrt 2)/2 and of its derivative in every library (an erfc of
# the rounded -x/sqrt 2 alone was up to 185 ulp off there).
import math
x = torch.linspace(-12.5, -3, 20001, dtype=torch.float32)
xd = x.double()
cdf = 0.5 * torch.special.erfc(-xd / math.sqrt(2))
for ours, want in ((F.gelu(x), xd * cdf),
                   (torch.ops.relu_ext.gelu_backward(torch.ones_like(x), x, "none"),
                    cdf + xd * torch.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi))):
    ulp = 2.0 ** (torch.floor(torch.log2(want.abs())) - 23)
    assert ((ours.double() - want).abs() / ulp).max() <= 8, sys.argv[1]
print("ok", sys.argv[1])
"""


@pytest.mark.parametrize("isa", BUILT)
def test_cpu_library_per_isa(isa):
    r = run_python(CHECK, isa, env={"ATEN_CPU_CAPABILITY": isa.split("_")[0],
                                    "RELU_EXT_CPU_ISA": isa})
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ok {isa}" in r.stdout


def test_default_library_always_built():
    assert "default" in BUILT
