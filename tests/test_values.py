"""Values and gradients against torch.nn.functional on the same input:
every form x dtype x layout x device."""
import math

import pytest
import torch

import relu_ext.functional as F
from cases import CASES, DTYPES, INPLACE_CASES, LAYOUTS, make_input, prelu_weight

# Weight gradients are sums: compare them with a float64 reference, to a tolerance
# scaled by the sum of the magnitudes of their terms.
EPS = {torch.float32: 2e-6, torch.float64: 1e-13, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def _grads(fn, x, w, grad):
    inputs = [x] + ([w] if w is not None else [])
    y = fn(x, w)
    return y, torch.autograd.grad(y, inputs, grad)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_forward_backward_match_torch(case, dtype, layout, device):
    x = make_input(layout, dtype, device, requires_grad=True)
    w = prelu_weight(case, x, requires_grad=True)
    y = case.ours(x, w)
    y_ref = case.ref(x, w)
    assert y.dtype == y_ref.dtype and y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref)
    if layout in ("contiguous", "channels_last", "transposed"):
        assert y.stride() == y_ref.stride()  # the input's layout, as torch gives
    if x.numel() == 0:
        return
    grad = torch.randn_like(y)
    inputs = [x] + ([w] if w is not None else [])
    got = torch.autograd.grad(y, inputs, grad)
    want = torch.autograd.grad(y_ref, inputs, grad)
    torch.testing.assert_close(got[0], want[0])
    assert got[0].stride() == torch.empty_like(x).stride()  # the saved tensor's layout
    if w is not None:
        x64, g64 = x.detach().double(), grad.double()
        terms = torch.where(x64 > 0, 0, x64 * g64)
        dims = [d for d in range(x.dim()) if d != 1] if w.numel() > 1 else list(range(x.dim()))
        ref = terms.sum(dims) if dims else terms
        scale = terms.abs().sum(dims) if dims else terms.abs()
        err = (got[1].double() - ref.reshape(w.shape)).abs()
        assert (err <= EPS[dtype] * (scale.reshape(w.shape) + 1)).all(), err.max()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_stride0_grad(case, dtype, device):
    """`.sum().backward()` hands the backward an expanded (stride-0) gradient."""
    x = make_input("contiguous", dtype, device, requires_grad=True)
    w = prelu_weight(case, x, requires_grad=True)
    case.ours(x, w).sum().backward()
    got = x.grad.clone()
    x.grad = None
    case.ref(x, w).sum().backward()
    torch.testing.assert_close(got, x.grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", INPLACE_CASES, ids=repr)
@pytest.mark.parametrize("layout", ["contiguous", "offset", "transposed", "sliced", "channels_last",
                                    "0-dim"])
def test_inplace_matches_torch(case, dtype, layout, device):
    x = make_input(layout, dtype, device)
    x_ref = x.clone()
    out = case.inplace(x)
    case.ref_inplace(x_ref)
    assert out is x
    torch.testing.assert_close(x, x_ref)


def _specials(dtype, device):
    tiny = torch.finfo(dtype).tiny / 4  # subnormal (0 in bfloat16/float16 flush cases)
    big = torch.finfo(dtype).max / 2
    vals = [math.nan, math.inf, -math.inf, 0.0, -0.0, tiny, -tiny, big, -big, 1.0, -1.0, 30.0,
            -30.0]
    return torch.tensor(vals, dtype=torch.float64).to(dtype=dtype, device=device)


def _limits(name, p):
    """Mathematical limits of value and derivative at +inf and -inf."""
    if name == "relu":
        return {math.inf: (math.inf, 1.0), -math.inf: (0.0, 0.0)}
    if name == "leaky_relu":
        return {math.inf: (math.inf, 1.0), -math.inf: (-math.inf, p)}
    if name == "elu":
        return {math.inf: (math.inf, 1.0), -math.inf: (-p, 0.0)}
    return {math.inf: (math.inf, 1.0), -math.inf: (0.0, 0.0)}  # gelu, both forms


SPECIAL = [("relu", None, lambda x, p: F.relu(x), lambda x, p: torch.nn.functional.relu(x)),
           ("leaky_relu", 0.2, F.leaky_relu, torch.nn.functional.leaky_relu),
           ("elu", 0.7, F.elu, torch.nn.functional.elu),
           ("gelu", "none", lambda x, a: F.gelu(x, approximate=a),
            lambda x, a: torch.nn.functional.gelu(x, approximate=a)),
           ("gelu", "tanh", lambda x, a: F.gelu(x, approximate=a),
            lambda x, a: torch.nn.functional.gelu(x, approximate=a))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,p,ours,ref", SPECIAL, ids=[f"{s[0]}[{s[1]}]" for s in SPECIAL])
def test_special_values(name, p, ours, ref, dtype, device):
    """NaN propagates; infinities give the mathematical limit (where torch's CPU GELU gives
    NaN for some dtypes); every finite special value matches torch."""
    x = _specials(dtype, device).requires_grad_()
    y = ours(x, p) if p is not None else ours(x, None)
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    y_ref = ref(x, p)
    (g_ref,) = torch.autograd.grad(y_ref, x, torch.ones_like(y_ref))
    limits = _limits(name, p)
    rel = 1e-6 if dtype in (torch.float32, torch.float64) else 1e-2
    # torch's tanh-GELU backward overflows to NaN at huge finite inputs: there we expect
    # the limit, elsewhere torch's value.
    overflow = torch.isfinite(x) & torch.isnan(g_ref)
    finite = torch.isfinite(x) & ~overflow
    torch.testing.assert_close(y[finite], y_ref[finite])
    torch.testing.assert_close(g[finite], g_ref[finite])
    for i in overflow.nonzero().flatten().tolist():
        assert g[i].item() == pytest.approx(limits[math.copysign(math.inf, x[i].item())][1])
    assert torch.isnan(y[0])
    if name in ("relu", "leaky_relu"):  # torch's signs of zero too: relu(-0) = -0, as max(0, x)
        number = ~torch.isnan(x)
        assert torch.equal(torch.signbit(y[number]), torch.signbit(y_ref[number])), y
    # The gradient at NaN: relu passes it through (torch's convention: its x <= 0 test is
    # false), leaky_relu scales it (its x > 0 test is false), ELU and GELU give NaN. (For
    # ELU torch disagrees with itself: its vectorized CPU kernels give NaN, its scalar and
    # CUDA kernels the gradient; relu_ext gives NaN on every path.)
    at_nan = {"relu": 1.0, "leaky_relu": p}.get(name, math.nan)
    torch.testing.assert_close(g[0].cpu(), torch.tensor(at_nan, dtype=dtype), equal_nan=True)
    for i, inf in ((1, math.inf), (2, -math.inf)):
        value, slope = limits[inf]
        assert y[i].item() == pytest.approx(value, rel=rel), (inf, y[i])
        assert g[i].item() == pytest.approx(slope, rel=rel), (inf, g[i])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_prelu_special_values(dtype, device):
    x = _specials(dtype, device).requires_grad_()
    w = torch.tensor([0.3], dtype=dtype, device=device, requires_grad=True)
    y = F.prelu(x, w)
    gx, gw = torch.autograd.grad(y, (x, w), torch.ones_like(y))
    assert torch.isnan(y[0]) and y[1] == math.inf and y[2] == -math.inf
    assert gx[1] == 1 and gx[2].item() == pytest.approx(0.3, rel=1e-2)
    finite = torch.isfinite(x)
    torch.testing.assert_close(y[finite], torch.nn.functional.prelu(x, w)[finite])


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int8, torch.uint8], ids=str)
def test_relu_integer_input(dtype, device):
    x = torch.arange(-5, 6, device=device).to(dtype)
    torch.testing.assert_close(F.relu(x), torch.relu(x))
    y = x.clone()
    F.relu_(y)
    torch.testing.assert_close(y, torch.relu(x))


def test_prelu_weight_grad_deterministic_across_threads():
    """Bitwise-identical weight gradient at any thread count (fixed-order reduction)."""
    x = torch.randn(8, 16, 64, 129)
    g = torch.randn_like(x)
    w = torch.rand(16)
    layouts = {  # dense (contiguous, channels_last) and strided (sliced) paths
        "contiguous": (g, x),
        "channels_last": (g.contiguous(memory_format=torch.channels_last),
                          x.contiguous(memory_format=torch.channels_last)),
        "sliced": (g[..., ::2], x[..., ::2]),
    }
    saved = torch.get_num_threads()
    for name, (g_l, x_l) in layouts.items():
        try:
            results = []
            for threads in (1, 2, 3):
                torch.set_num_threads(threads)
                results.append(torch.ops.relu_ext.prelu_backward(g_l, x_l, w))
        finally:
            torch.set_num_threads(saved)
        for gx, gw in results[1:]:
            assert torch.equal(gx, results[0][0]) and torch.equal(gw, results[0][1]), name
    x_cl = x.contiguous(memory_format=torch.channels_last)
    gw_cl = torch.ops.relu_ext.prelu_backward(g, x_cl, w)[1]
    ref = torch.where(x > 0, 0, x * g).double().sum((0, 2, 3))
    torch.testing.assert_close(gw_cl.double(), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_prelu_backward_bitwise_repeatable(layout, device):
    """Run to run, the same bits: no atomics in the weight-gradient reduction."""
    x = torch.randn(8, 16, 32, 66, device=device)
    g = torch.randn_like(x)
    if layout == "channels_last":
        x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    elif layout == "sliced":
        x, g = x[..., ::2], g[..., ::2]
    w = torch.rand(16, device=device)
    first = torch.ops.relu_ext.prelu_backward(g, x, w)
    for _ in range(3):
        again = torch.ops.relu_ext.prelu_backward(g, x, w)
        assert torch.equal(again[0], first[0]) and torch.equal(again[1], first[1])
    ref = torch.where(x > 0, 0, x * g).double().sum((0, 2, 3))
    torch.testing.assert_close(first[1].double(), ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_piecewise_linear_bitwise_like_torch(dtype, device):
    """Half types computed in float and rounded to nearest even, as ATen does: the
    piecewise-linear forms agree bit for bit (NaN included), forward and backward."""
    x = (torch.randn(4, 8, 33, device=device) * 3).to(dtype)
    x.view(-1)[::17] = float("nan")
    x.view(-1)[5::29] = 0.0
    g = torch.randn_like(x)
    w = (torch.rand(8, device=device) + 0.1).to(dtype)
    tf = torch.nn.functional
    pairs = [(lambda t: F.relu(t), lambda t: tf.relu(t)),
             (lambda t: F.leaky_relu(t, 0.3), lambda t: tf.leaky_relu(t, 0.3)),
             (lambda t: F.prelu(t, w), lambda t: tf.prelu(t, w))]
    for ours, ref in pairs:
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), ref(xb)
        torch.testing.assert_close(ya, yb, rtol=0, atol=0, equal_nan=True)
        (ga,) = torch.autograd.grad(ya, xa, g)
        (gb,) = torch.autograd.grad(yb, xb, g)
        torch.testing.assert_close(ga, gb, rtol=0, atol=0, equal_nan=True)
