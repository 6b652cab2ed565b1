"""Fused bias + activation (relu_ext.functional.bias_act, relu_ext.LinearAct,
convert(fuse_bias=True)) against torch.nn.functional on input + bias."""
import copy
import io
import math

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import relu_ext
from relu_ext.functional import bias_act

ACTS = {  # id: (activation, keywords, reference on z = input + bias)
    "relu": ("relu", {}, lambda z, w: TF.relu(z)),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.2}, lambda z, w: TF.leaky_relu(z, 0.2)),
    "leaky_relu_default": ("leaky_relu", {}, lambda z, w: TF.leaky_relu(z)),
    "elu": ("elu", {"alpha": 0.7}, lambda z, w: TF.elu(z, 0.7)),
    "gelu": ("gelu", {}, lambda z, w: TF.gelu(z)),
    "gelu_tanh": ("gelu", {"approximate": "tanh"}, lambda z, w: TF.gelu(z, approximate="tanh")),
    "prelu": ("prelu", {}, None),
    "prelu_shared": ("prelu", {}, None),
}
LAYOUTS = {  # id: (shape, dim, transform)
    "linear": ((37, 24), -1, None),
    "linear3d": ((3, 5, 40), -1, None),
    "nchw": ((4, 6, 5, 7), 1, None),
    # dense, one element past a 16-byte boundary
    "offset": ((4, 6, 5, 7), 1, lambda t: torch.cat([t.new_zeros(1), t.flatten()])[1:].view(t.shape)),
    "channels_last": ((4, 6, 5, 7), 1, lambda t: t.contiguous(memory_format=torch.channels_last)),
    "transposed": ((9, 33), 0, lambda t: t.t().contiguous().t()),
    "sliced": ((8, 10, 6), 1, lambda t: t[:, :, ::2]),
    "1d": ((50,), 0, None),
}


def make(case, layout, dtype, device):
    activation, kw, ref = ACTS[case]
    shape, dim, transform = LAYOUTS[layout]
    full = list(shape)
    x = torch.randn(full, device=device, dtype=torch.float64) * 2
    if transform is not None:
        x = transform(x)
    C = x.shape[dim]
    b = torch.randn(C, device=device, dtype=torch.float64)
    w = None
    if activation == "prelu":
        w = torch.rand(1 if case == "prelu_shared" else C, device=device, dtype=torch.float64)
    view = [1] * x.dim()
    view[dim] = C

    def reference(x, b, w):
        z = x + b.reshape(view)
        if activation == "prelu":
            return torch.where(z > 0, z, (w if w.numel() == 1 else w.reshape(view)) * z)
        return ref(z, w)

    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return activation, kw, dim, cast(x), cast(b), cast(w), reference


def call(activation, kw, dim, x, b, w):
    if activation == "prelu":
        return bias_act(x, b, "prelu", dim=dim, weight=w)
    return bias_act(x, b, activation, dim=dim, **kw)


TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5),
       torch.bfloat16: dict(rtol=2e-2, atol=2e-2), torch.float16: dict(rtol=2e-3, atol=2e-3)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16],
                         ids=str)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(ACTS))
def test_values_and_gradients(case, layout, dtype, device):
    """Against the float64 reference on the same (rounded) inputs: input, bias and weight
    gradients from one backward."""
    activation, kw, dim, x, b, w, reference = make(case, layout, dtype, device)
    leaves = [t.detach().requires_grad_() for t in (x, b, w) if t is not None]
    y = call(activation, kw, dim, *(leaves + [None] * (3 - len(leaves))))
    assert y.dtype == dtype and y.shape == x.shape
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, leaves, g)
    leaves64 = [t.detach().double().requires_grad_() for t in leaves]
    y64 = reference(*(leaves64 + [None] * (3 - len(leaves64))))
    grads64 = torch.autograd.grad(y64, leaves64, g.double())
    tol = TOL[dtype]
    torch.testing.assert_close(y.double(), y64, **tol)
    scale = x.shape.numel() / b.numel()  # the bias gradient sums this many terms
    for got, want, name in zip(grads, grads64, ["input", "bias", "weight"]):
        t = tol if name == "input" else {k: v * (1 if dtype == torch.float64 else scale ** 0.5)
                                          for k, v in tol.items()}
        torch.testing.assert_close(got.double(), want, **t, msg=name)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16],
                         ids=str)
@pytest.mark.parametrize("layout", ["linear", "nchw"])
@pytest.mark.parametrize("case", ["relu", "leaky_relu", "prelu"])
def test_special_values_as_torch(case, layout, dtype, device):
    """NaN, +-inf, +-0, subnormals and huge values in the input: values and all gradients as
    torch's on input + bias, NaN included (relu's gradient passes g at NaN, leaky_relu's and
    prelu's scale it: their x > 0 test is false)."""
    activation, kw, dim, x, b, w, _ = make(case, layout, dtype, device)
    tiny, big = torch.finfo(dtype).tiny / 4, torch.finfo(dtype).max / 2
    vals = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, tiny, -tiny, big, -big],
                        dtype=torch.float64)
    x = x.clone()
    x.view(-1)[: 9 * (x.numel() // 9)] = vals.repeat(x.numel() // 9).to(dtype)
    b = b.clone()
    b[::2] = 0.0  # z = x exactly in half of the channels (specials kept as they are)
    view = [1] * x.dim()
    view[dim] = x.shape[dim]
    leaves = [t.detach().requires_grad_() for t in (x, b, w) if t is not None]
    y = call(activation, kw, dim, *(leaves + [None] * (3 - len(leaves))))
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, leaves, g)
    ref = [t.detach().requires_grad_() for t in (x, b, w) if t is not None]
    z = ref[0] + ref[1].reshape(view)
    if activation == "prelu":
        y_ref = TF.prelu(z.movedim(dim, 1), ref[2]).movedim(1, dim)
    else:
        y_ref = ACTS[case][2](z, None)
    grads_ref = torch.autograd.grad(y_ref, ref, g)
    torch.testing.assert_close(y, y_ref, equal_nan=True, **TOL[dtype])
    for got, want, name in zip(grads, grads_ref, ["input", "bias", "weight"]):
        tol = TOL[dtype] if name == "input" else dict(rtol=5e-2, atol=1e-1)
        torch.testing.assert_close(got, want, equal_nan=True, **tol, msg=name)


@pytest.mark.parametrize("case", list(ACTS))
def test_gradcheck(case, device):
    activation, kw, dim, x, b, w, _ = make(case, "nchw", torch.float64, device)
    x = torch.where((x + b.reshape(1, -1, 1, 1)).abs() < 1e-3, x + 0.01, x)[:2, :, :3, :3]
    leaves = [t.detach().requires_grad_() for t in (x, b, w) if t is not None]
    fn = lambda *a: call(activation, kw, dim, *(list(a) + [None] * (3 - len(a))))  # noqa: E731
    assert torch.autograd.gradcheck(fn, leaves)
    assert torch.autograd.gradgradcheck(fn, leaves)
    assert torch.autograd.gradcheck(fn, leaves, check_forward_ad=True, check_backward_ad=False)


# Each channel spread over many of the kernels' pieces (the per-channel sums' blocks and
# slices on CUDA, the threads' pieces on the CPU): channels the last dim (many row slices,
# channels in more than one block of 32), channels_last, and NCHW with 16K elements a channel.
MANY_PIECES = {
    "rows": ((1000, 40), -1, None),
    "channels_last": ((3, 40, 30, 30), 1,
                      lambda t: t.contiguous(memory_format=torch.channels_last)),
    "nchw": ((4, 3, 64, 64), 1, None),
    "short_runs": ((700, 24, 5), 1, None),  # runs shorter than a warp (CUDA: rows of C * 5)
    "runs_of_31": ((40, 7, 31), 1, None),
    # CUDA: many partial sums a channel (rows of 4 * 16, 19 slices): a warp adds each channel's
    "runs_of_16": ((600, 4, 16), 1, None),
    # CUDA, 16-byte vectors: runs of whole vectors shorter than a block's step; rows of 4 * 130
    # vectors (float32), more than a block's 32, the last block's part-filled
    "runs_of_48": ((300, 5, 48), 1, None),
    "wide_rows": ((300, 520), -1, None),
}
# The half types (8 elements a CUDA vector) where the kernels' vector paths differ
HALF_PIECES = ["rows", "short_runs", "runs_of_48", "wide_rows", "nchw"]


@pytest.mark.parametrize("dtype, layout", [(torch.float32, k) for k in MANY_PIECES]
                         + [(torch.bfloat16, k) for k in HALF_PIECES], ids=str)
def test_per_channel_sums_over_many_pieces(dtype, layout, device):
    """The per-channel reductions where every channel spans many pieces: bias_act's bias and
    weight gradients (PReLU with a weight a channel and with one for all, GELU), PReLU's
    weight gradient and act_stats's counts, against float64 sums (counts exactly), and
    bitwise the same when run again; and the forwards' values."""
    shape, dim, transform = MANY_PIECES[layout]
    x = torch.randn(shape, device=device).to(dtype)
    x = transform(x) if transform is not None else x
    dim = dim % x.dim()
    C = x.shape[dim]
    view = [C if i == dim else 1 for i in range(x.dim())]
    others = [i for i in range(x.dim()) if i != dim]
    b, w = torch.randn(C, device=device, dtype=dtype), torch.rand(C, device=device, dtype=dtype)
    g = torch.randn_like(x)
    w1 = torch.rand(1, device=device, dtype=dtype)  # one weight for all: one sum of every partial

    def grads(fn, *inputs):
        leaves = [t.detach().requires_grad_() for t in inputs]
        return torch.autograd.grad(fn(*leaves), leaves, g.to(inputs[0].dtype))

    cases = [
        (lambda x, b, w: bias_act(x, b, "prelu", dim=dim, weight=w),
         lambda x, b, w: torch.where(x + b.reshape(view) > 0, x + b.reshape(view),
                                     w.reshape(view) * (x + b.reshape(view))), (x, b, w)),
        (lambda x, b: bias_act(x, b, "gelu", dim=dim), lambda x, b: TF.gelu(x + b.reshape(view)),
         (x, b)),
        (lambda x, w: relu_ext.functional.prelu(x, w), lambda x, w: TF.prelu(x, w), (x, w)),
        (lambda x, b, w: bias_act(x, b, "prelu", dim=dim, weight=w),
         lambda x, b, w: torch.where(x + b.reshape(view) > 0, x + b.reshape(view),
                                     w * (x + b.reshape(view))), (x, b, w1)),
    ]
    if dim == 1:  # TF.prelu's weight is along dim 1
        cases.append((lambda x, w: relu_ext.functional.prelu(x, w), lambda x, w: TF.prelu(x, w),
                      (x, w1)))
    rtol = 1e-5 if dtype == torch.float32 else 2 ** -7
    for ours, ref, inputs in cases:
        # the forward too: every channel's elements, many of them a CUDA thread's
        torch.testing.assert_close(ours(*inputs).double(), ref(*(t.double() for t in inputs)),
                                   rtol=rtol, atol=1e-5)
        got = grads(ours, *inputs)
        assert all(torch.equal(a, b) for a, b in zip(got, grads(ours, *inputs)))
        want = grads(ref, *(t.double() for t in inputs))
        for a, b in zip(got, want):  # input gradients, then sums of x.numel() / a.numel() terms
            # terms summed in float (bfloat16: then one rounding to the dtype)
            atol = 1e-5 if a.shape == x.shape else 1e-6 * (x.numel() / a.numel()) ** 0.5
            torch.testing.assert_close(a.double(), b, rtol=rtol, atol=atol)
    y, fired = torch.ops.relu_ext.act_stats(x, None, dim, "relu", 0.0)
    torch.testing.assert_close(y, TF.relu(x))
    assert torch.equal(fired.cpu(), (x > 0).sum(others).cpu())


def test_bias_gradient_deterministic_across_threads():
    x = torch.randn(512, 1000)
    b = torch.randn(1000, requires_grad=True)
    xc = torch.randn(16, 64, 30, 30)
    bc = torch.randn(64, requires_grad=True)
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            g1, = torch.autograd.grad(bias_act(x, b, "gelu").sum(), b)
            g2, = torch.autograd.grad(bias_act(xc, bc, "elu", dim=1).sum(), bc)
            results.append((g1, g2))
    finally:
        torch.set_num_threads(threads)
    for r in results[1:]:
        assert torch.equal(r[0], results[0][0]) and torch.equal(r[1], results[0][1])


def test_errors():
    x, b = torch.randn(4, 5), torch.randn(5)
    with pytest.raises(ValueError, match="activation must be one of"):
        bias_act(x, b, "tanh")
    with pytest.raises(TypeError, match="takes no argument 'alpha'"):
        bias_act(x, b, "relu", alpha=1.0)
    with pytest.raises(TypeError, match="alpha must be a number, got '0.5'"):
        bias_act(x, b, "elu", alpha="0.5")
    with pytest.raises(TypeError, match="negative_slope must be a number, got tensor"):
        bias_act(x, b, "leaky_relu", negative_slope=torch.tensor([0.2, 0.3]))
    # a one-element tensor is a number, as torch.nn.functional takes it
    torch.testing.assert_close(bias_act(x, b, "elu", alpha=torch.tensor(0.5)),
                               TF.elu(x + b, alpha=0.5))
    with pytest.raises(TypeError, match="prelu needs weight"):
        bias_act(x, b, "prelu")
    with pytest.raises(RuntimeError, match=r"bias to be a 1-D tensor of size self.size\(1\) = 5"):
        bias_act(x, torch.randn(4), "relu")
    with pytest.raises(RuntimeError, match="same dtype"):
        bias_act(x, b.double(), "relu")
    with pytest.raises(RuntimeError, match="at least 1 dimension"):
        bias_act(torch.tensor(1.0), torch.randn(1), "relu", dim=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        bias_act(x, b, "relu", dim=2)
    with pytest.raises(RuntimeError, match="weight to have 1 or"):
        bias_act(x, b, "prelu", weight=torch.rand(3))
    with pytest.raises(NotImplementedError, match="floating-point"):
        bias_act(x.long(), b.long(), "relu")
    with pytest.raises(ValueError, match="num_parameters"):
        relu_ext.LinearAct(3, 4, "prelu", num_parameters=3)


def test_compile_fullgraph():
    torch.manual_seed(0)
    model = nn.Sequential(relu_ext.LinearAct(16, 32, "gelu", approximate="tanh"),
                          relu_ext.LinearAct(32, 8, "leaky_relu", negative_slope=0.1))
    x = torch.randn(4, 16)
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch._dynamo.reset()
    explain = torch._dynamo.explain(model)(x)
    assert explain.graph_break_count == 0
    out = torch.compile(model, fullgraph=True)(x)
    out.sum().backward()
    torch.testing.assert_close(out, eager)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g)


@pytest.mark.parametrize("activation,kw,module", [
    ("relu", {}, nn.ReLU()), ("leaky_relu", {"negative_slope": 0.3}, nn.LeakyReLU(0.3)),
    ("elu", {"alpha": 0.5}, nn.ELU(0.5)), ("gelu", {"approximate": "tanh"}, nn.GELU("tanh"))])
def test_linear_act_matches_linear_then_activation(activation, kw, module):
    torch.manual_seed(0)
    lin = nn.Linear(12, 20)
    fused = relu_ext.LinearAct(12, 20, activation, **kw)
    assert list(fused.state_dict()) == list(lin.state_dict()) == ["weight", "bias"]
    fused.load_state_dict(lin.state_dict())
    x = torch.randn(3, 7, 12, requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    y, yr = fused(x), module(lin(xr))
    torch.testing.assert_close(y, yr)
    y.square().sum().backward()
    yr.square().sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)
    torch.testing.assert_close(fused.weight.grad, lin.weight.grad)
    torch.testing.assert_close(fused.bias.grad, lin.bias.grad)
    no_bias = relu_ext.LinearAct(12, 20, activation, bias=False, **kw)
    torch.testing.assert_close(no_bias(x), module(TF.linear(x, no_bias.weight)))


def test_convert_fuse_bias_round_trip():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU("tanh"), nn.Linear(16, 16),
                          nn.LeakyReLU(0.2), nn.Linear(16, 4), nn.PReLU(), nn.Linear(4, 4),
                          nn.ReLU(inplace=True), nn.Linear(4, 4), nn.ELU())
    ref = copy.deepcopy(model)
    keys = list(model.state_dict())
    params = [id(p) for p in model.parameters()]
    relu_ext.convert(model, fuse_bias=True)
    assert [type(m).__name__ for m in model] == [
        "LinearAct", "FusedAway", "LinearAct", "FusedAway", "Linear", "PReLU", "Linear", "ReLU",
        "LinearAct", "FusedAway"]
    assert list(model.state_dict()) == keys and [id(p) for p in model.parameters()] == params
    x = torch.randn(6, 8)
    torch.testing.assert_close(model(x), ref(x))
    model(x).sum().backward()
    ref(x).sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    torch.testing.assert_close(loaded(x), ref(x))
    relu_ext.revert(model)
    assert repr(model) == repr(ref)
    assert [type(m) for m in model] == [type(m) for m in ref]


def test_convert_fuse_bias_respects_types():
    model = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4), nn.ReLU())
    relu_ext.convert(model, types=["relu"], fuse_bias=True)
    assert [type(m).__name__ for m in model] == ["Linear", "GELU", "LinearAct", "FusedAway"]


@pytest.fixture
def no_vmap_fallback():
    """vmap without PyTorch's per-sample fallback: an op with no batching rule raises."""
    enabled = torch._C._functorch._is_vmap_fallback_enabled()
    torch._C._functorch._set_vmap_fallback_enabled(False)
    yield
    torch._C._functorch._set_vmap_fallback_enabled(enabled)


@pytest.mark.parametrize("layout", ["linear3d", "nchw", "1d"])
@pytest.mark.parametrize("case", ["relu", "elu", "gelu", "prelu", "prelu_shared"])
def test_vmap_batching_rules(case, layout, device, no_vmap_fallback):
    """torch.func.vmap over bias_act: batched input with a shared bias, per-sample biases
    (and PReLU weights), a shared input with per-sample biases; values and per-sample
    gradients of every argument (through bias_act_backward / bias_prelu_backward's rules)."""
    activation, kw, dim, x, b, w, reference = make(case, layout, torch.float64, device)
    xs = torch.stack([x, x * 0.5 - 0.3, x.flip(0)])
    bs = torch.stack([b, -b, b * 2])
    ws = None if w is None else torch.stack([w, w * 0.5, w + 0.1])
    ours = lambda *a: call(activation, kw, dim, *(list(a) + [None] * (3 - len(a))))  # noqa: E731
    ref = lambda *a: reference(*(list(a) + [None] * (3 - len(a))))  # noqa: E731
    combos = [((xs, b), (0, None)), ((xs, bs), (0, 0)), ((x, bs), (None, 0))]
    if w is not None:
        combos = [((xs, b, w), (0, None, None)), ((xs, bs, ws), (0, 0, 0)),
                  ((x, b, ws), (None, None, 0))]
    for args, in_dims in combos:
        got = torch.func.vmap(ours, in_dims=in_dims)(*args)
        torch.testing.assert_close(got, torch.func.vmap(ref, in_dims=in_dims)(*args))
        argnums = tuple(range(len(args)))
        grad = lambda f: torch.func.grad(lambda *a: f(*a).pow(2).sum(), argnums=argnums)  # noqa: E731
        torch.testing.assert_close(torch.func.vmap(grad(ours), in_dims=in_dims)(*args),
                                   torch.func.vmap(grad(ref), in_dims=in_dims)(*args))
