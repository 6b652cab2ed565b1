"""Property-based tests (hypothesis): random shapes (0-dim, empty, size-1 dims), layouts
(transposed, sliced with steps, expanded, channels_last, channels_last_3d), dtypes, parameters (slopes and
alpha including 0, negative and large; both GELU forms; PReLU with 1 and C weights) and
values mixing normal numbers with ±0, subnormals, huge values, ±inf and NaN. Values and
gradients are compared with torch.nn.functional on the same input; at ±inf, where torch's
GELU gives NaN, with the mathematical limits; in-place variants with the out-of-place ones.

Deterministic in CI (derandomized); RELU_EXT_HYPOTHESIS_EXAMPLES=N for more examples.
"""
import math
import os

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relu_ext.functional as F

settings.register_profile(
    "relu_ext", derandomize=True, deadline=None, print_blob=True,
    max_examples=int(os.environ.get("RELU_EXT_HYPOTHESIS_EXAMPLES", "500")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("relu_ext")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-40, -1e-40, 1e30, -1e30, 1e4, -1e4]


@st.composite
def activations(draw):
    """(name, ours(x, w), torch's(x, w), in-place ours or None, weight kind, limits at ±inf
    where they differ from torch's values)."""
    kind = draw(st.sampled_from(["relu", "leaky_relu", "elu", "gelu", "prelu"]))
    if kind == "relu":
        return (kind, lambda x, w: F.relu(x), lambda x, w: TF.relu(x), F.relu_, None, None)
    if kind == "leaky_relu":
        s = draw(st.sampled_from([0.0, 0.01, 0.2, -0.5, 3.0, 1e3]))
        return (f"leaky_relu[{s}]", lambda x, w: F.leaky_relu(x, s),
                lambda x, w: TF.leaky_relu(x, s), lambda x: F.leaky_relu_(x, s), None, None)
    if kind == "elu":
        a = draw(st.sampled_from([0.0, 1.0, 0.3, 2.5, -0.3]))
        return (f"elu[{a}]", lambda x, w: F.elu(x, a), lambda x, w: TF.elu(x, a),
                lambda x: F.elu_(x, a), None, None)
    if kind == "gelu":
        approx = draw(st.sampled_from(["none", "tanh"]))
        return (f"gelu[{approx}]", lambda x, w: F.gelu(x, approximate=approx),
                lambda x, w: TF.gelu(x, approximate=approx), None, None,
                {math.inf: (math.inf, 1.0), -math.inf: (0.0, 0.0)})
    per_channel = draw(st.booleans())
    return (f"prelu[{'C' if per_channel else '1'}]", F.prelu, TF.prelu, None,
            "C" if per_channel else "1", None)


@st.composite
def inputs(draw, dtype):
    ndim = draw(st.integers(0, 5))
    shape = draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(shape, generator=gen, dtype=torch.float64) * draw(
        st.sampled_from([1.0, 3.0, 30.0]))
    flat = base.view(-1)
    if flat.numel():
        for v in draw(st.lists(st.sampled_from(SPECIALS), max_size=4)):
            flat[int(torch.randint(flat.numel(), (1,), generator=gen))] = v
    x = base.to(dtype)
    layout = draw(st.sampled_from(["contiguous", "transposed", "sliced", "expanded",
                                   "channels_last", "channels_last_3d"]))
    if layout == "transposed" and x.dim() >= 2:
        x = x.transpose(0, -1)
    elif layout == "sliced" and x.dim() >= 1:
        x = torch.cat([x, x], dim=-1)[..., ::2]
    elif layout == "expanded" and x.dim() >= 1 and 1 in x.shape:
        d = list(x.shape).index(1)
        x = x.expand(*[3 if i == d else s for i, s in enumerate(x.shape)])
    elif layout == "channels_last" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "channels_last_3d" and x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def _weight(kind, x, dtype, draw):
    n = x.shape[1] if (kind == "C" and x.dim() > 1) else 1
    vals = draw(st.lists(st.sampled_from([0.25, 0.0, -0.5, 2.0, 1e-3]), min_size=n,
                         max_size=n))
    return torch.tensor(vals, dtype=dtype)


def _compare(ours, ref, x, name, gradient):
    """Equal to torch's (NaN where torch has NaN) except: GELU at ±inf (torch gives NaN; the
    limits are checked separately), torch's own overflow to NaN at finite inputs (its
    tanh-GELU backward at huge |x|), and ELU's gradient at NaN, where torch disagrees with
    itself across its kernels (relu_ext gives NaN)."""
    keep = ~(torch.isnan(ref) & ~torch.isnan(x))
    if name.startswith("gelu"):
        keep &= ~torch.isinf(x)
    if gradient and name.startswith("elu"):
        assert torch.isnan(ours[torch.isnan(x)]).all()
        keep &= ~torch.isnan(x)
    torch.testing.assert_close(ours[keep], ref[keep], equal_nan=True)


@given(act=activations(), dtype=st.sampled_from(DTYPES), data=st.data())
def test_matches_torch(act, dtype, data):
    name, ours, ref, inplace, weight_kind, limits = act
    x = data.draw(inputs(dtype))
    if weight_kind == "C" and x.dim() <= 1:
        weight_kind = "1"
    w = _weight(weight_kind, x, dtype, data.draw) if weight_kind else None
    xg = x.detach().clone().requires_grad_()
    xr = x.detach().clone().requires_grad_()
    wg = w.clone().requires_grad_() if w is not None else None
    wr = w.clone().requires_grad_() if w is not None else None
    y, y_ref = ours(xg, wg), ref(xr, wr)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    _compare(y.detach(), y_ref.detach(), x, name, gradient=False)
    if y.numel():
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
        inputs_ours = (xg,) if w is None else (xg, wg)
        inputs_ref = (xr,) if w is None else (xr, wr)
        grads = torch.autograd.grad(y, inputs_ours, g)
        grads_ref = torch.autograd.grad(y_ref, inputs_ref, g)
        _compare(grads[0], grads_ref[0], x, name, gradient=True)
        if w is not None and torch.isfinite(x).all():
            torch.testing.assert_close(grads[1], grads_ref[1], equal_nan=True,
                                       rtol=0.05 if dtype in (torch.float16, torch.bfloat16)
                                       else None, atol=0.05 if dtype in (
                                           torch.float16, torch.bfloat16) else None)
    if name.startswith("gelu"):  # ±inf: the mathematical limits of value and derivative
        for i in torch.isinf(x).flatten().nonzero().flatten().tolist():
            xi = x.flatten()[i].item()
            xs = torch.tensor([xi], dtype=dtype, requires_grad=True)
            yi = ours(xs, None)
            (gi,) = torch.autograd.grad(yi, xs, torch.ones_like(yi))
            value, slope = limits[xi]
            assert yi.item() == pytest.approx(value, nan_ok=True)
            assert gi.item() == pytest.approx(slope)
    if inplace is not None:  # in place, on a copy (any layout): as out-of-place
        x_in = x.clone()
        out = inplace(x_in)
        assert out is x_in
        torch.testing.assert_close(x_in, ours(x, None), equal_nan=True)
