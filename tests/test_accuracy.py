"""Accuracy does not pay for speed: on random inputs plus the special values, relu_ext's
largest error against a float64 reference is no worse than ATen's (torch's own kernels),
per op, direction and dtype (benchmarks/accuracy.py, which the benchmark also runs on
10^7 inputs and reports)."""
import os
import sys

import pytest
import torch

import relu_ext  # noqa: F401  (the library under test, loaded before the benchmark's import)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import accuracy  # noqa: E402

DTYPES = ("float32", "bfloat16", "float16")


@pytest.fixture(scope="module", params=["cpu", "cuda"])
def rows(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return accuracy.measure(2**18, request.param, DTYPES, log=lambda _: None)


@pytest.mark.parametrize("op", accuracy.OPS)
def test_no_worse_than_aten(rows, op):
    for r in (r for r in rows if r["op"].split("(")[0] == op):  # elu: "elu(alpha=0.7)" too
        what = f"{r['op']} {r['direction']} {r['dtype']}: {r}"
        # A quarter ulp of slack: the same formula rounded in another order.
        assert r["relu_ext_max_ulp"] <= r["aten_max_ulp"] + 0.25, what
        assert r["relu_ext_max_abs"] <= r["aten_max_abs"] * 1.05, what
        assert r["relu_ext_special_mismatches"] <= r["aten_special_mismatches"], what


def test_reference_is_independent():
    """The float64 reference agrees with torch's float64 kernels where those are accurate
    (|x| < 5, away from the tails where float64 1 + erf(x) itself cancels)."""
    x, g, w = accuracy.make_inputs(4096, torch.float64, "cpu")
    x = x.clamp(-5, 5)
    tf = torch.nn.functional
    want = {"relu": tf.relu(x), "leaky_relu": tf.leaky_relu(x, accuracy.SLOPE),
            "prelu": tf.prelu(x, w), "elu": tf.elu(x, accuracy.ALPHA), "gelu": tf.gelu(x),
            "gelu_tanh": tf.gelu(x, approximate="tanh")}
    for op, y in want.items():
        torch.testing.assert_close(accuracy.reference(op, "forward", x, g, w), y,
                                   rtol=1e-12, atol=1e-15, equal_nan=True)


def elu_reference(direction, x, g, alpha):
    """float64 ELU (alpha expm1(x) at x <= 0) or g times its slope (alpha exp(x) there)."""
    x, g = x.double(), g.double()
    if direction == "forward":
        return torch.where(x > 0, x, alpha * torch.expm1(x))
    return torch.where(x > 0, g, g * alpha * torch.exp(x))


# (op, alpha): the GELU forms, and ELU at alpha = 1 and at another alpha
HALF_TABULATED = [("gelu", None), ("gelu_tanh", None), ("elu", 1.0), ("elu", 0.7)]


def every_value(dtype, device="cpu"):
    """Every bfloat16 / float16 value (NaN and infinities included)."""
    x = torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    return x.to(device)


def half_case(op, alpha, x, g):
    """(forward(t, **kw), backward(g, t), reference(direction), param) of one case."""
    if op == "elu":
        def forward(t, **kw):
            return relu_ext.functional.elu(t, alpha, **kw)

        def backward(gt, t):
            return torch.ops.relu_ext.elu_backward(gt, t, alpha, False)

        def reference(direction):
            return elu_reference(direction, x, g, alpha)

        return forward, backward, reference, alpha
    approximate = "tanh" if op == "gelu_tanh" else "none"

    def forward(t, **kw):
        return relu_ext.functional.gelu(t, approximate=approximate, **kw)

    def backward(gt, t):
        return torch.ops.relu_ext.gelu_backward(gt, t, approximate)

    def reference(direction):
        return accuracy.reference(op, direction, x, g, x)

    return forward, backward, reference, 0.0


def assert_same_other_ways(op, alpha, param, forward, backward, x, g, y, gx):
    """The forward y and backward gx of x (65536 elements) come out the same from the
    memory-saving forward, from act_stats (the dead-unit monitor's forward; rows of channels
    and runs of one channel), from the in-place form (ELU) and from a strided input."""
    same = dict(rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(forward(x.clone().requires_grad_(), memory_efficient=True), y,
                               **same)
    for shape in ((256, 256), (16, 256, 16)):
        stats, _ = torch.ops.relu_ext.act_stats(x.view(shape), None, 1, op, param)
        torch.testing.assert_close(stats.flatten(), y, **same)
    if op == "elu":
        torch.testing.assert_close(relu_ext.functional.elu(x.clone(), alpha, inplace=True), y,
                                   **same)
    strided = x.view(256, 256).t()
    torch.testing.assert_close(forward(strided), y.view(256, 256).t(), **same)
    torch.testing.assert_close(backward(g.view(256, 256).t(), strided), gx.view(256, 256).t(),
                               **same)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("op,alpha", HALF_TABULATED)
def test_half_at_every_value(op, alpha, dtype):
    """GELU / ELU and g * their slope at every bfloat16 / float16 value, against float64.
    The AVX-512 and AVX2 libraries look those in backend_info()["half_tables"] up in tables
    built in double (csrc/cpu/tables.h): the GELU forwards and ELU's at alpha = 1 are then
    correctly rounded (half an ulp at most), ELU's at another alpha is its float value times
    alpha, rounded once more (1.5 float ulps in all: 2^-11.4 of a float16 ulp more); the
    backward is g times the float slope (ELU's times alpha too), rounded once (half an ulp
    plus the float roundings: 2^-12 of a float16 ulp). What is computed (the baseline library;
    ELU where gathers are slow) is in float: within 0.51 ulp forward, 1 ulp backward (near
    GELU's minimum, where the slope crosses zero, float math loses relative accuracy). On the
    AVX-512 and AVX2 libraries the same values come from the memory-saving forward, from
    act_stats (the dead-unit monitor's forward; rows and runs), from the in-place form (ELU)
    and from a strided input (the x86 baseline library computes some of these loops with
    scalar math, some with vectors: equal to within the bounds only)."""
    x = every_value(dtype)
    finite = x.isfinite()
    g = torch.ones_like(x)
    info = relu_ext.backend_info()
    isa = info["cpu_isa"]
    # looked up: ELU and GELU, or GELU only (on slow gathers)
    tables = op.split("_")[0] in info["half_tables"]
    forward, backward, reference, param = half_case(op, alpha, x, g)
    scaled = 2.0**-11 if op == "elu" and alpha != 1.0 else 0.0
    y = forward(x)
    gx = backward(g, x)
    for direction, out, bound in (("forward", y, 0.5 + scaled if tables else 0.51),
                                  ("backward", gx, 0.5 + 2.0**-12 if tables else 1.0)):
        ref = reference(direction)
        err = ((out.double() - ref).abs() / accuracy.ulp(ref, dtype))[finite]
        assert err.max() <= bound, (direction, err.max(), x[finite][err.argmax()])
        assert out[x.isnan()].isnan().all()
    if isa == "default":
        return
    assert_same_other_ways(op, alpha, param, forward, backward, x, g, y, gx)



@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("op,alpha", HALF_TABULATED)
def test_half_at_every_value_cuda(op, alpha, dtype):
    """On CUDA the half types are computed in float (the exact GELU with cheaper steps than
    float32's, ../csrc/common.h gelu_half_tail): at every bfloat16 / float16 value within
    0.51 ulp forward and 1 ulp backward of float64; the memory-saving forward, the dead-unit
    monitor's (act_stats), the in-place form and a strided input give the same values."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    x = every_value(dtype)
    finite = x.isfinite()
    g = torch.ones_like(x)
    forward, backward, reference, param = half_case(op, alpha, x, g)
    xd, gd = x.cuda(), g.cuda()
    y, gx = forward(xd), backward(gd, xd)
    for direction, out, bound in (("forward", y, 0.51), ("backward", gx, 1.0)):
        ref = reference(direction)
        err = ((out.cpu().double() - ref).abs() / accuracy.ulp(ref, dtype))[finite]
        assert err.max() <= bound, (direction, err.max(), x[finite][err.argmax()])
        assert out.cpu()[x.isnan()].isnan().all()
    assert_same_other_ways(op, alpha, param, forward, backward, xd, gd, y, gx)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_half_elu_backward_keeps_float_accuracy(alpha, dtype, device):
    """The half types' ELU backward, g * alpha * exp(x), on every value times 16 random
    gradients (elu_backward and bias_act's backward): within half an ulp plus what float math
    adds (under 4e-7 relative: two products and the exp), as ATen's float computation is
    (NOTES §51: the half types' shorter exp would give 0.5005 ulp in bfloat16 and 0.505 in
    float16 here)."""
    torch.manual_seed(0)
    x = every_value(dtype).repeat(16)
    g = torch.randn(x.numel()).to(dtype)
    ref = elu_reference("backward", x, g, alpha)
    finite = x.isfinite() & ref.isfinite()
    xd, gd, zero = x.to(device), g.to(device), torch.zeros(1024, dtype=dtype, device=device)
    rows = (-1, 1024)
    outs = {"elu_backward": torch.ops.relu_ext.elu_backward(gd, xd, alpha, False),
            "bias_act_backward": torch.ops.relu_ext.bias_act_backward(
                gd.view(rows), xd.view(rows), zero, -1, "elu", alpha)[0].flatten()}
    # ulp(ref) >= |ref| eps / 2, so a relative error r is at most 2 r / eps ulp
    bound = 0.5 + 2 * 4e-7 / torch.finfo(dtype).eps
    for name, out in outs.items():
        err = ((out.cpu().double() - ref).abs() / accuracy.ulp(ref, dtype))[finite]
        assert err.max() <= bound, (name, err.max().item(), x[finite][err.argmax()])


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.7, 0.2, 3.0])
def test_float32_elu_backward_bound(alpha, device):
    """float32 ELU's backward, g * alpha * exp(x): within 1.5 ulp of float64 where alpha is a
    power of two and 2.3 elsewhere (rounded twice, the first in a term at most 0.41 of the
    result: csrc/cpu/vec_math.h times_exp_nonpositive, and its scalar form in csrc/common.h,
    CUDA's; the reference takes alpha rounded to float, as the kernel must), where the slope
    is subnormal too (x from -103 to -87) with gradients up to 16 (ATen's g * alpha times its
    exp's subnormal rounding: up to 5 ulp there, NOTES §62); through elu_backward, bias_act's
    backward and a strided input (the CPU's scalar path: in double, rounded once). At x =
    -inf the gradient is 0, at -0 g * alpha."""
    torch.manual_seed(0)
    n = 2**19
    x = torch.cat([torch.randn(n) * 4, torch.empty(n).uniform_(-103.0, -87.0),
                   -torch.rand(n) * 2])
    sign = torch.randint(0, 2, (n,)) * 2 - 1
    g = torch.cat([torch.randn(2 * n), (torch.rand(n) * 15 + 1) * sign])
    a = torch.tensor(alpha, dtype=torch.float32).item()
    ref = elu_reference("backward", x, g, a)
    bound = 1.5 if alpha in (1.0, 0.5) else 2.3
    xd, gd, zero = x.to(device), g.to(device), torch.zeros(1024, device=device)
    strided = xd.view(1024, -1).t()
    outs = {"elu_backward": torch.ops.relu_ext.elu_backward(gd, xd, alpha, False),
            "bias_act_backward": torch.ops.relu_ext.bias_act_backward(
                gd.view(-1, 1024), xd.view(-1, 1024), zero, -1, "elu", alpha)[0].flatten(),
            "strided": torch.ops.relu_ext.elu_backward(gd.view(1024, -1).t(), strided, alpha,
                                                      False).t().flatten()}
    for name, out in outs.items():
        err = (out.cpu().double() - ref).abs() / accuracy.ulp(ref, torch.float32)
        assert err.max() <= bound, (name, err.max().item(), x[err.argmax()], g[err.argmax()])
    special = torch.tensor([-float("inf"), -0.0, -200.0], device=device)
    gs = torch.tensor([1e10, 3.0, -1e10], device=device)
    got = torch.ops.relu_ext.elu_backward(gs, special, alpha, False)
    torch.testing.assert_close(got.cpu(), torch.tensor([0.0, 3.0 * a, 0.0]), rtol=0, atol=0)


TABLES_UNDER_FLUSH = """
import math
import torch
import torch.nn.functional as TF
import relu_ext
from relu_ext import functional as F

R = torch.ops.relu_ext
x = torch.tensor([-1e-39, 2e-39, -5e-40, 3e-40, -13.5, -95.0, -0.5, 1.5])
# results that are subnormal floats: ELU and GELU of subnormal inputs, GELU's slope at
# -13.5, ELU's at -95
calls = [lambda t: F.elu(t), lambda t: F.elu(t, 0.7), lambda t: F.gelu(t),
         lambda t: F.gelu(t, approximate="tanh"),
         lambda t: R.elu_backward(torch.ones_like(t), t, 1.0, False),
         lambda t: R.gelu_backward(torch.ones_like(t), t, "none"),
         lambda t: R.gelu_backward(torch.ones_like(t), t, "tanh")]
# float64 references (GELU in forms without ATen's cancellation in the tail)
refs = [lambda t: TF.elu(t), lambda t: TF.elu(t, 0.7),
        lambda t: t * 0.5 * torch.special.erfc(-t / math.sqrt(2)),
        lambda t: t * torch.sigmoid(2 * math.sqrt(2 / math.pi) * (t + 0.044715 * t**3)),
        lambda t: torch.where(t > 0, 1.0, torch.exp(t)), None, None]
mask = torch.tensor([0b10101010], dtype=torch.uint8).repeat(4)
y = x.repeat(4)[:32]
def from_result(dtype):
    g = torch.ones(32, dtype=dtype)
    return R.gelu_backward_from_result(g, y.to(dtype), mask, "none")
assert torch.set_flush_denormal(True)
for dtype in (torch.bfloat16, torch.float16):  # the first calls: the tables built now
    for call in calls:
        call(x.to(dtype))
    from_result(dtype)
torch.set_flush_denormal(False)
tabulated = relu_ext.backend_info()["half_tables"]
# looked up: ELU's calls (0, 1, 4) where "elu" is tabulated, GELU's where "gelu" is
looked_up = [name in tabulated for name in ("elu", "elu", "gelu", "gelu", "elu", "gelu", "gelu",
                                            "gelu")]
def check(got, want, what, tables):
    if tables:  # correctly rounded (GELU's slopes: as the float kernel computes them)
        assert torch.equal(got, want), (what, got, want)
    else:  # computed: within an ulp (subnormal ones too)
        fi = torch.finfo(got.dtype)
        torch.testing.assert_close(got, want, rtol=fi.eps, atol=fi.smallest_normal * fi.eps,
                                   msg=str(what))
for dtype in (torch.bfloat16, torch.float16):
    xd = x.to(dtype)
    for k, (call, ref) in enumerate(zip(calls, refs)):
        got = call(xd)
        if ref is None:  # the GELUs' slopes: as the float32 kernel computes them, rounded
            want = call(xd.float()).to(dtype)
        else:
            want = ref(xd.double()).to(dtype)
        check(got, want, (dtype, k), looked_up[k])
    want = R.gelu_backward_from_result(torch.ones(32), y.to(dtype).float(), mask, "none")
    check(from_result(dtype), want.to(dtype), dtype, looked_up[-1])
print("ok")
"""


def test_tables_keep_subnormals_built_under_flush_to_zero():
    """torch.set_flush_denormal(True) (flush-to-zero) while the half types' tables are built,
    off afterwards: the tables were built to IEEE 754 (they outlive the mode), so results that
    are subnormal come out correctly rounded (the libraries that compute instead: within an
    ulp). In a child process, whose tables are built by its first calls."""
    from child import run_python

    proc = run_python(TABLES_UNDER_FLUSH)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_half_kernels_both_ways():
    """Both ways of the half types' tables on every machine: the two tests above again, in a
    child process with RELU_EXT_SLOW_GATHERS set against this CPU's own choice
    (csrc/cpu/cpu_choices.h): ELU computed where this CPU looks it up, looked up where it
    computes, and GELU's tables read by scalar loads where this CPU gathers, gathered where it
    reads them by scalar loads; backend_info reports the choice, and a bad value fails the
    import. (The baseline library looks nothing up: no second run there.)"""
    from child import run_python

    if relu_ext.backend_info()["cpu_isa"] == "default":
        # it looks nothing up either way: the child would run the same code again
        assert not relu_ext.backend_info()["half_tables"]
    else:
        flipped = "0" if relu_ext._C.slow_gathers() else "1"
        code = ("import sys, pytest, relu_ext\n"
                "print(*relu_ext.backend_info()['half_tables'])\n"
                "sys.exit(pytest.main([sys.argv[1], '-q', '-p', 'no:cacheprovider', '-k',\n"
                "                      'half_at_every_value or keep_subnormals']))\n")
        env = {"RELU_EXT_SLOW_GATHERS": flipped}
        proc = run_python(code, os.path.abspath(__file__), env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        reported = proc.stdout.splitlines()[0]
        assert reported == ("elu gelu" if flipped == "0" else "gelu"), reported
    bad = run_python("import relu_ext", env={"RELU_EXT_SLOW_GATHERS": "yes"})
    assert bad.returncode != 0 and "RELU_EXT_SLOW_GATHERS='yes'" in bad.stderr, bad.stderr[-3000:]
