"""Outputs too large for the last-level cache are written with streaming stores (csrc/cpu/loops.h,
`streamed`). RELU_EXT_STREAMING_BYTES moves the threshold: each CPU library runs every op in a
subprocess with streaming for any output above 4 KB and again with it off, on lengths and
offsets that give the streamed loops a misaligned head, whole blocks and a partial tail; the two
must agree bit for bit and match torch. The streamed run loads the float loops' vectors in
halves and the plain one whole (RELU_EXT_SPLIT_LOADS, csrc/cpu/cpu_choices.h; the AVX-512
libraries'), so both ways run on every machine."""
import glob
import os

import pytest
import torch

import relu_ext
from child import run_python

PKG = os.path.dirname(relu_ext.__file__)
BUILT = [isa for isa in relu_ext._library.runnable_isas()
         if glob.glob(os.path.join(PKG, f"_C_cpu_{isa}.*so"))]

RUN = r"""
import sys, torch, relu_ext
import relu_ext.functional as F
lib = torch.ops.relu_ext
torch.manual_seed(0)
out = {}
for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
    base = (torch.randn(8 * 1031 + 5, dtype=torch.float64) * 4).to(dtype)
    g = torch.randn(base.shape, dtype=torch.float64).to(dtype)
    w = torch.rand(1, dtype=dtype)
    w5 = torch.rand(5, dtype=dtype)
    for off in (0, 1, 3):  # the output of a view at an offset starts misaligned too
        x, gx = base[off:], g[off:]
        ops = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
               "prelu": lambda t: F.prelu(t, w), "elu": lambda t: F.elu(t, 0.7),
               # PReLU per channel: runs of 550 elements of a channel; rows of 5 channels
               "prelu_runs": lambda t: F.prelu(t[:8250].reshape(3, 5, 550), w5),
               "prelu_rows": lambda t: F.prelu(t[:8250].reshape(1650, 5), w5),
               "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
               # the loops that also write a 1-bit mask (leaky_relu's above, with grad)
               "gelu_saving_output": lambda t: F.gelu(t, memory_efficient=True),
               "elu_saving_output": lambda t: F.elu(t, 0.7, memory_efficient=True)}
        for name, f in ops.items():
            xr = x.clone().requires_grad_()
            y = f(xr)
            (gi,) = torch.autograd.grad(y, xr, gx[:y.numel()].reshape(y.shape))
            out[f"{name} {dtype} {off}"] = (f(x), y.detach(), gi)
    # PReLU's weight gradient on rows (a float sum per channel: the same streamed or not)
    w5r = w5.clone().requires_grad_()
    y = F.prelu(base[1:1 + 8250].reshape(1650, 5), w5r)
    out[f"prelu_rows_weight {dtype}"] = torch.autograd.grad(y, w5r, g[1:1 + 8250].reshape(y.shape))
    # bias_act on rows of 37 channels, misaligned (its grad_input streams in pieces of rows):
    # the input, bias and weight gradients
    xb = base[1:1 + 37 * 200].reshape(200, 37)
    gb = g[1:1 + 37 * 200].reshape(200, 37)
    own = torch.Generator().manual_seed(1)  # (the test redraws the global sequence above)
    b37 = torch.randn(37, dtype=torch.float64, generator=own).to(dtype)
    w37 = torch.rand(37, generator=own).to(dtype)
    for name, act, wt in (("leaky_relu", "leaky_relu", None), ("prelu1", "prelu", w),
                          ("prelu37", "prelu", w37)):
        leaves = [xb.clone().requires_grad_(), b37.clone().requires_grad_()]
        if wt is not None:
            leaves.append(wt.clone().requires_grad_())
        kw = {"negative_slope": 0.2} if wt is None else {"weight": leaves[2]}
        y = F.bias_act(leaves[0], leaves[1], act, **kw)
        out[f"bias_act_{name} {dtype}"] = (y.detach(), *torch.autograd.grad(y, leaves, gb))
    # and its forward on runs (channels along dim 1: runs of 550 elements cut by the blocks)
    xr5 = base[1:1 + 8250].reshape(3, 5, 550)
    for name, act, kw in (("relu", "relu", {}), ("elu", "elu", {"alpha": 0.7}),
                          ("prelu5", "prelu", {"weight": w5})):
        out[f"bias_act_runs_{name} {dtype}"] = (F.bias_act(xr5, b37[:5], act, dim=1, **kw),)
    # act_stats (the dead-unit monitor's forward): its output streams in pieces of rows and
    # runs; values and per-channel counts
    for act, p in (("relu", 0.0), ("leaky_relu", 0.2), ("elu", 0.7), ("gelu", 0.0)):
        for name, t, dim in (("rows", xb, 1), ("runs", xr5, 1)):
            out[f"act_stats_{act}_{name} {dtype}"] = lib.act_stats(t, None, dim, act, p)
    out[f"act_stats_prelu {dtype}"] = lib.act_stats(xr5, w5, 1, "prelu", 0.0)
torch.save(out, sys.argv[2])
print("ok", relu_ext.backend_info()["cpu_isa"], int(relu_ext._C.split_loads()))
"""


def _run(isa, streaming_bytes, split_loads, path):
    r = run_python(RUN, isa, path, env={"ATEN_CPU_CAPABILITY": isa.split("_")[0],
                                        "RELU_EXT_CPU_ISA": isa,
                                        "RELU_EXT_STREAMING_BYTES": str(streaming_bytes),
                                        "RELU_EXT_SPLIT_LOADS": str(split_loads)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ok {isa} {split_loads}" in r.stdout, r.stdout[-3000:]
    return torch.load(path)


@pytest.mark.parametrize("isa", BUILT)
def test_streamed_outputs_equal_plain_ones(isa, tmp_path):
    streamed = _run(isa, 4096, 1, tmp_path / "streamed.pt")
    plain = _run(isa, 0, 0, tmp_path / "plain.pt")
    bad = run_python("import relu_ext", env={"RELU_EXT_SPLIT_LOADS": "on"})
    assert bad.returncode != 0 and "RELU_EXT_SPLIT_LOADS='on'" in bad.stderr, bad.stderr[-3000:]
    assert streamed.keys() == plain.keys() and len(plain) == 4 * 3 * 10 + 4 + 4 * 3 + 4 * 3 + 4 * 9
    for key in plain:
        for i, (a, b) in enumerate(zip(streamed[key], plain[key])):
            if key.startswith("bias_act_prelu1") and i == 3:  # one weight: its terms move
                torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)  # between lanes
            else:
                assert torch.equal(a, b), key
    # and both are torch's values (the streamed forward against torch.nn.functional)
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        base = (torch.randn(8 * 1031 + 5, dtype=torch.float64) * 4).to(dtype)
        g = torch.randn(base.shape, dtype=torch.float64).to(dtype)
        w = torch.rand(1, dtype=dtype)
        w5 = torch.rand(5, dtype=dtype)
        x = base[1:]
        refs = {"relu": torch.relu(x), "leaky_relu": torch.nn.functional.leaky_relu(x, 0.2),
                "prelu": torch.nn.functional.prelu(x, w), "elu": torch.nn.functional.elu(x, 0.7),
                "prelu_runs": torch.nn.functional.prelu(x[:8250].reshape(3, 5, 550), w5),
                "prelu_rows": torch.nn.functional.prelu(x[:8250].reshape(1650, 5), w5),
                "gelu": torch.nn.functional.gelu(x),
                "gelu_tanh": torch.nn.functional.gelu(x, approximate="tanh")}
        for name, want in refs.items():
            tol = {} if dtype in (torch.float32, torch.float64) else {"rtol": 1.6e-2, "atol": 1e-3}
            torch.testing.assert_close(streamed[f"{name} {dtype} 1"][0], want, **tol)
        # PReLU's weight gradient on rows: the sum of g * min(x, 0) per channel (in float64)
        xw, gw = base[1:1 + 8250].reshape(1650, 5), g[1:1 + 8250].reshape(1650, 5)
        want = (gw.double() * xw.double().clamp(max=0)).sum(0)
        got = streamed[f"prelu_rows_weight {dtype}"][0]
        if dtype in (torch.float32, torch.float64):
            torch.testing.assert_close(got.double(), want, atol=0,
                                       rtol=1e-5 if dtype == torch.float32 else 1e-12)
        else:
            torch.testing.assert_close(got, want.to(dtype))
        # act_stats streamed: torch's values and the exact per-channel counts of x > 0
        xb, xr = base[1:1 + 37 * 200].reshape(200, 37), base[1:1 + 8250].reshape(3, 5, 550)
        for name, t, fired in (("rows", xb, (xb > 0).sum(0)), ("runs", xr, (xr > 0).sum((0, 2)))):
            y, n = streamed[f"act_stats_relu_{name} {dtype}"]
            assert torch.equal(n, fired) and torch.equal(y, torch.relu(t)), (name, dtype)
            y, n = streamed[f"act_stats_elu_{name} {dtype}"]
            assert torch.equal(n, fired), (name, dtype)
            torch.testing.assert_close(y, torch.nn.functional.elu(t, 0.7), **tol)
        # bias_act's runs streamed: torch's values
        b5 = torch.randn(37, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        b5 = b5.to(dtype)[:5].view(1, 5, 1)
        torch.testing.assert_close(streamed[f"bias_act_runs_relu {dtype}"][0], torch.relu(xr + b5))
        torch.testing.assert_close(streamed[f"bias_act_runs_prelu5 {dtype}"][0],
                                   torch.nn.functional.prelu(xr + b5, w5), **tol)
