"""What autograd keeps for backward: LeakyReLU's 1-bit mask (by default), and the
memory_efficient modes of ELU (the output) and GELU (the output and a 1-bit branch mask, the
input recovered in the backward kernel); against torch.nn on the same inputs."""
import copy
import math

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import relu_ext
from relu_ext import functional as F

FLOATS = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def saved_bytes(block, x):
    """Bytes of the distinct storages autograd saves in block(x), parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in block.parameters()}
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(seen.values())


FORMS = {  # name: (torch.nn activation, relu_ext default, relu_ext memory_efficient)
    "relu": (nn.ReLU, relu_ext.ReLU, None),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), lambda: relu_ext.LeakyReLU(0.1), None),
    "prelu": (lambda: nn.PReLU(64), lambda: relu_ext.PReLU(64), None),
    "elu": (nn.ELU, relu_ext.ELU, lambda: relu_ext.ELU(memory_efficient=True)),
    "gelu": (nn.GELU, relu_ext.GELU, lambda: relu_ext.GELU(memory_efficient=True)),
    "gelu_tanh": (lambda: nn.GELU("tanh"), lambda: relu_ext.GELU("tanh"),
                  lambda: relu_ext.GELU("tanh", memory_efficient=True)),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_saved_bytes_never_more_than_aten(form, device):
    """Linear -> activation -> Linear: relu_ext keeps no more than torch.nn; less for
    LeakyReLU by default and for ELU and GELU with memory_efficient=True."""
    ref_act, ours_act, lean_act = FORMS[form]
    x = torch.randn(256, 64, device=device, requires_grad=True)

    def block(act):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, 64), act(), nn.Linear(64, 64)).to(device)

    ref = saved_bytes(block(ref_act), x)
    ours = saved_bytes(block(ours_act), x)
    assert ours <= ref
    act_bytes = 256 * 64 * 4
    if form == "leaky_relu":  # the input (4 bytes/element) becomes 1 bit/element
        assert ref - ours == act_bytes - act_bytes // 32
    if lean_act is not None:
        lean = saved_bytes(block(lean_act), x)
        extra = act_bytes // 32 if form.startswith("gelu") else 0  # GELU's branch mask
        assert ref - lean == act_bytes - extra
        assert lean < ours


# ------------------------------------------------------------------ leaky_relu mask --

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "sliced"])
@pytest.mark.parametrize("slope", [0.1, 0.0, -0.3, 2.0])
def test_leaky_relu_mask_gradients(dtype, layout, slope, device):
    x = torch.randn(3, 5, 7, 11, device=device).to(dtype)  # 1155 elements: a partial word
    x[0, 0, 0, :3] = torch.tensor([0.0, -0.0, float("nan")])
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        x = x.transpose(1, 3)
    elif layout == "sliced":
        x = x[:, :, ::2]
    g = torch.randn_like(x)
    xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = F.leaky_relu(xo, slope)
    assert y.grad_fn.name() == "LeakyReluBackward"
    torch.testing.assert_close(y, TF.leaky_relu(xr, slope), equal_nan=True, rtol=0, atol=0)
    y.backward(g)
    TF.leaky_relu(xr, slope).backward(g)
    torch.testing.assert_close(xo.grad, xr.grad, equal_nan=True, rtol=0, atol=0)


def test_leaky_relu_mask_survives_output_modified_in_place(device):
    """The mask does not depend on the output: changing it in place later is fine."""
    x = torch.randn(1000, device=device)
    xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    yo, yr = F.leaky_relu(xo, 0.2), TF.leaky_relu(xr, 0.2)
    yo.mul_(3).sum().backward()
    yr.mul_(3).sum().backward()
    torch.testing.assert_close(xo.grad, xr.grad, rtol=0, atol=0)


def test_leaky_relu_mask_gradient_layout_differs(device):
    """A gradient laid out differently from the output (the mask follows the output's
    memory order) still lands on the right elements."""
    x = torch.randn(4, 6, 5, device=device).transpose(0, 2)  # non-contiguous, dense
    xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(5, 6, 4, device=device)  # contiguous: another memory order
    F.leaky_relu(xo, 0.3).backward(g)
    TF.leaky_relu(xr, 0.3).backward(g)
    torch.testing.assert_close(xo.grad, xr.grad, rtol=0, atol=0)


def test_leaky_relu_mask_double_backward_and_gradcheck(device):
    x = torch.randn(5, 67, device=device, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: F.leaky_relu(t, 0.3), (x,))
    assert torch.autograd.gradgradcheck(lambda t: F.leaky_relu(t, 0.3), (x,))


def test_leaky_relu_mask_bits(device):
    """The op's mask: bit i (byte i // 8, bit i % 8) is x > 0 at memory position i, in
    4-byte words."""
    x = torch.randn(77, device=device)
    _, mask = torch.ops.relu_ext.leaky_relu_mask(x, 0.1)
    assert mask.dtype == torch.uint8 and mask.numel() == 12
    bits = ((mask.cpu().view(-1, 1) >> torch.arange(8, dtype=torch.uint8)) & 1).flatten()
    assert torch.equal(bits[:77].bool(), (x > 0).cpu())
    assert not bits[77:].any()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("offset", [0, 1])
def test_leaky_relu_mask_any_length_and_alignment(dtype, offset, device):
    """The mask ops on lengths around the kernels' steps (a byte, a 32-bit word, a warp's
    vectors) and on tensors starting one element past a 16-byte boundary (offset 1: the
    CUDA kernels' element-wise path): values, bits and gradients as ATen's."""
    for n in (1, 7, 31, 33, 255, 257, 1031, 4099):
        x = torch.randn(n + offset, device=device).to(dtype)[offset:]
        x[:3] = torch.tensor([0.0, -0.0, float("nan")])[:n]
        y, mask = torch.ops.relu_ext.leaky_relu_mask(x, 0.1)
        torch.testing.assert_close(y, TF.leaky_relu(x, 0.1), equal_nan=True, rtol=0, atol=0)
        bits = ((mask.cpu().view(-1, 1) >> torch.arange(8, dtype=torch.uint8)) & 1).flatten()
        assert torch.equal(bits[:n].bool(), (x > 0).cpu()), n
        assert not bits[n:].any(), n
        g = torch.randn(n + offset, device=device).to(dtype)[offset:]
        got = torch.ops.relu_ext.leaky_relu_mask_backward(g, mask, 0.1)
        want = torch.ops.aten.leaky_relu_backward(g, x, 0.1, False)
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=f"n={n}")


# ------------------------------------------------------------------ ELU, GELU modes --

def gelu_slope64(x, approximate):
    """gelu'(x) in float64 from formulas accurate in the left tail (x = -7 included)."""
    x = x.double()
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        z = 2 * k * (x + 0.044715 * x**3)
        s = torch.sigmoid(z)
        return s + x * s * torch.sigmoid(-z) * 2 * k * (1 + 3 * 0.044715 * x * x)
    return 0.5 * torch.special.erfc(-x / math.sqrt(2)) + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)


X_MIN = {"none": -0.7517915246935645, "tanh": -0.7524614220710162}


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_gelu_memory_efficient_gradient_error_bound(approximate, dtype, device):
    """The recovered gradient against float64, within the bound the README documents. An
    error d in the stored y (its rounding plus the forward's own few ulp) moves gelu'^2 by up
    to 2 gelu'' d (gelu is quadratic near its minimum), so gelu' is off by at most
        2 gelu'' d / max(|gelu'|, sqrt(2 gelu'' d)),   d = 8 eps |y|,
    plus 8 eps (1 + |gelu'|) for the arithmetic (eps: the dtype's machine epsilon; gelu''
    at x)."""
    torch.manual_seed(0)
    n = 400_000 if device == "cpu" else 4_000_000
    x = torch.cat([torch.randn(n, device=device) * 3,
                   torch.linspace(-14, 8, n // 4, device=device),
                   torch.linspace(-0.8, -0.7, n // 4, device=device)]).to(dtype)
    xr = x.clone().requires_grad_()
    y = F.gelu(xr, approximate, memory_efficient=True)
    assert y.grad_fn.name() == "GeluMemoryEfficientBackward"
    torch.testing.assert_close(y, F.gelu(x, approximate), rtol=0, atol=0)
    y.backward(torch.ones_like(y))
    got = xr.grad.double()
    ref = gelu_slope64(x, approximate)
    x64, eps = x.double(), torch.finfo(dtype).eps
    g2 = (torch.exp(-x64**2 / 2) / math.sqrt(2 * math.pi) * (2 - x64**2)).abs()
    d = 8 * eps * y.detach().double().abs()
    bound = 8 * eps * (1 + ref.abs()) + 2 * g2 * d / torch.maximum(ref.abs(), (2 * g2 * d).sqrt())
    bad = (got - ref).abs() > bound
    assert not bad.any(), (x[bad][:5], got[bad][:5], ref[bad][:5])
    # Away from the minimum, float32 is within torch's float32 tolerance of float64.
    if dtype == torch.float32:
        far = (x64 - X_MIN[approximate]).abs() > 0.05
        torch.testing.assert_close(got[far], ref[far], rtol=1.3e-6, atol=1e-5)


def pack_bits(bits):
    """A bool tensor as the ops' mask: bit i in byte i // 8 (bit i % 8), 4-byte words."""
    b = torch.nn.functional.pad(bits, (0, -bits.numel() % 32)).view(-1, 8).to(torch.uint8)
    return (b << torch.arange(8, dtype=torch.uint8)).sum(1, dtype=torch.uint8)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gelu_memory_efficient_half_is_the_float_kernel_rounded(approximate, dtype):
    """The half types' memory-efficient backward is the float32 kernel's on the same values,
    rounded once to the type (they compute in float; the AVX-512 libraries look the factor
    up, csrc/cpu/gelu.cpp), at every value of y with either bit and random gradients; the
    elements after the last whole 32 (the table libraries: looked up one at a time) give
    the same values as within them."""
    torch.manual_seed(0)
    y = torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16).view(dtype).repeat(2)
    r = torch.rand(65536) < 0.5
    bits = torch.cat([r, ~r])  # each value with either bit, the words mixed
    g = torch.randn(y.numel()).to(dtype)
    mask = pack_bits(bits)
    op = torch.ops.relu_ext.gelu_backward_from_result
    got = op(g, y, mask, approximate)
    want = op(g.float(), y.float(), mask, approximate).to(dtype)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    if relu_ext.backend_info()["cpu_isa"].startswith("avx512"):
        for first in (65536 - 45, 131072 - 45):  # (45: a whole word and 13 more)
            part = op(g[first:].clone(), y[first:].clone(), pack_bits(bits[first:]), approximate)
            torch.testing.assert_close(part, got[first:], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_memory_efficient_special_values(approximate, device):
    x = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 150.0, -60.0,
                      X_MIN[approximate]], device=device)
    xr = x.clone().requires_grad_()
    F.gelu(xr, approximate, memory_efficient=True).sum().backward()
    xd = x.clone().requires_grad_()
    F.gelu(xd, approximate).sum().backward()
    torch.testing.assert_close(xr.grad, xd.grad, equal_nan=True, atol=2e-4, rtol=0)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_memory_efficient_gradcheck(approximate, device):
    """float64, inputs kept 0.05 away from the minimum (where dx/dy is infinite)."""
    torch.manual_seed(0)
    x = torch.randn(40, 7, device=device, dtype=torch.float64) * 3
    x = torch.where((x - X_MIN[approximate]).abs() < 0.05, x + 0.2, x).requires_grad_()
    fn = lambda t: F.gelu(t, approximate, memory_efficient=True)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_memory_efficient_output_modified_in_place_raises(device):
    for fn in (lambda t: F.gelu(t, memory_efficient=True),
               lambda t: F.elu(t, memory_efficient=True)):
        x = torch.randn(10, device=device, requires_grad=True)
        y = fn(x)
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elu_memory_efficient_gradients(alpha, dtype, device):
    x = torch.randn(2000, device=device, dtype=dtype) * 3
    x[:3] = torch.tensor([0.0, -0.0, float("nan")])
    xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = F.elu(xo, alpha, memory_efficient=True)
    y.backward(torch.ones_like(y))
    TF.elu(xr, alpha).backward(torch.ones_like(y))
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(xo.grad[3:], xr.grad[3:], rtol=tol, atol=tol)
    torch.testing.assert_close(xo.grad[:2], xr.grad[:2], rtol=tol, atol=tol)
    # At a NaN input the output is NaN: its gradient is torch's in-place elu_'s there.
    xi = x[2:3].clone().requires_grad_()
    TF.elu_(xi.clone(), alpha).backward()
    assert xo.grad[2].item() == xi.grad.item()
    if dtype == torch.float64:
        assert torch.autograd.gradgradcheck(
            lambda t: F.elu(t, alpha, memory_efficient=True),
            (torch.randn(30, device=device, dtype=dtype, requires_grad=True),))


def test_elu_memory_efficient_negative_alpha_raises():
    with pytest.raises(RuntimeError, match="memory_efficient=True needs alpha >= 0"):
        F.elu(torch.randn(3), -0.5, memory_efficient=True)
    with pytest.raises(ValueError, match="alpha >= 0"):
        relu_ext.ELU(-0.5, memory_efficient=True)
    with pytest.raises(ValueError, match=r"alpha >= 0.*at 1"):
        relu_ext.convert(nn.Sequential(nn.Linear(2, 2), nn.ELU(-0.5)), memory_efficient=True)


def test_modules_repr_and_convert_memory_efficient():
    assert repr(relu_ext.GELU()) == repr(nn.GELU())
    assert repr(relu_ext.ELU()) == repr(nn.ELU())
    assert repr(relu_ext.GELU("tanh", memory_efficient=True)) == \
        "GELU(approximate='tanh', memory_efficient=True)"
    assert repr(relu_ext.ELU(memory_efficient=True)) == "ELU(alpha=1.0, memory_efficient=True)"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 16), nn.ELU(),
                          nn.LeakyReLU(0.2), nn.Linear(16, 4))
    ref = copy.deepcopy(model)
    relu_ext.convert(model, memory_efficient=True)
    assert model[1].memory_efficient and model[3].memory_efficient
    assert "memory_efficient=True" in repr(model)
    x = torch.randn(32, 8)
    torch.testing.assert_close(model(x), ref(x))
    model(x).square().sum().backward()
    ref(x).square().sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5)
    relu_ext.revert(model)
    assert type(model[1]) is nn.GELU and "memory_efficient" not in model[1].__dict__
    assert repr(model) == repr(ref)


def test_compiled_memory_efficient_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), relu_ext.GELU(memory_efficient=True),
                          nn.Linear(32, 32), relu_ext.LeakyReLU(0.1),
                          nn.Linear(32, 32), relu_ext.ELU(memory_efficient=True))
    x = torch.randn(16, 8)
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    out.sum().backward()
    torch.testing.assert_close(out, eager)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g)
