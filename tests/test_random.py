"""Random cases across the public functional API: random shapes (1-4 dims, odd sizes), memory
layouts (contiguous, transposed, strided slices, channels_last), dtypes, thread counts and
activation parameters, in place or not, memory_efficient or not, forward and backward (bias
and weight gradients included) and the
dead-unit monitor's counts, each against torch.nn.functional in float64 on the same values
(the counts against (x > 0) summed per channel). Seeded: a failure reproduces."""
import math
import random

import pytest
import torch
import torch.nn.functional as TF

import relu_ext

F = relu_ext.functional

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# (rtol, atol) of an elementwise result in each dtype against the float64 reference rounded to it
TOL = {torch.float32: (2e-5, 1e-6), torch.float64: (1e-12, 1e-14),
       torch.bfloat16: (1.6e-2, 1e-5), torch.float16: (2e-3, 1e-6)}
SIZES = [1, 2, 3, 5, 7, 16, 31, 33, 64, 65, 130]
# the largest error of gelu' recovered from GELU's output (memory_efficient; README, Memory)
# (README, Memory; with a margin over its 10^7 samples: these draw more near the minimum)
GELU_RECOVERED = {torch.float32: 4e-4, torch.float64: 2e-9, torch.bfloat16: 3e-2,
                  torch.float16: 1.5e-2}
MAX_NUMEL = 1 << 17  # above the kernels' 32K-element grain: several threads


def random_input(rng, shape, dtype, device):
    kind = rng.choice(["contiguous", "transposed", "sliced", "channels_last"])
    if kind == "channels_last" and len(shape) == 4:
        x = torch.randn(shape, dtype=torch.float64, device=device)
        return x.to(dtype).contiguous(memory_format=torch.channels_last)
    if kind == "transposed" and len(shape) >= 2:
        x = torch.randn(list(reversed(shape)), dtype=torch.float64, device=device)
        return x.to(dtype).permute(*reversed(range(len(shape))))
    if kind == "sliced":
        x = torch.randn([2 * s for s in shape], dtype=torch.float64, device=device)
        return x.to(dtype)[tuple(slice(None, None, 2) for _ in shape)]
    return torch.randn(shape, dtype=torch.float64, device=device).to(dtype)


def reduction_tol(dtype, terms_abs_sum):
    """Tolerance of a sum (a bias or weight gradient): the dtype's epsilon times the sum of
    the terms' magnitudes, per element."""
    return 4 * torch.finfo(dtype).eps * terms_abs_sum + TOL[dtype][1]


def one_case(rng, dtype, device):
    nd = rng.randint(1, 4)
    shape = [rng.choice(SIZES) for _ in range(nd)]
    while math.prod(shape) > MAX_NUMEL:  # (up to 130^4 otherwise)
        shape[rng.randrange(nd)] = rng.choice(SIZES[:6])
    op = rng.choice(["relu", "leaky_relu", "elu", "gelu", "prelu", "bias_act", "act_stats"])
    x = random_input(rng, shape, dtype, device)
    if op == "act_stats":  # the dead-unit monitor's op: the activation and exact counts
        dim = rng.randrange(nd)
        act, p, ref = rng.choice([("relu", 0.0, TF.relu), ("elu", 0.5, lambda z: TF.elu(z, 0.5)),
                                  ("gelu_tanh", 0.0, lambda z: TF.gelu(z, approximate="tanh"))])
        y, fired = torch.ops.relu_ext.act_stats(x, None, dim, act, p)
        what = f"act_stats {act} {shape} dim {dim} {dtype} strides {tuple(x.stride())}"
        torch.testing.assert_close(y, ref(x.double()).to(dtype), rtol=TOL[dtype][0],
                                   atol=TOL[dtype][1], msg=what)
        expected = (x > 0).movedim(dim, 0).reshape(x.shape[dim], -1).sum(1)
        assert torch.equal(fired, expected), what
        return
    xe = x.detach().clone().requires_grad_()
    xr = x.detach().double().requires_grad_()
    extra_e, extra_r, sums = [], [], []  # parameters, and their gradients' terms per element
    inplace = rng.random() < 0.3  # on a non-leaf copy, in x's layout
    efficient = False
    if op == "relu":
        ye = F.relu(xe * 1 if inplace else xe, inplace=inplace)
        yr = TF.relu(xr)
    elif op == "leaky_relu":
        s = rng.choice([0.01, 0.2, 1.5] if inplace else [0.01, 0.2, -0.5, 1.5])
        ye = F.leaky_relu(xe * 1 if inplace else xe, s, inplace=inplace)
        yr = TF.leaky_relu(xr, s)
    elif op == "elu":
        a = rng.choice([1.0, 0.3, 2.0])
        efficient = not inplace and rng.random() < 0.5
        ye = F.elu(xe * 1 if inplace else xe, a, inplace=inplace, memory_efficient=efficient)
        yr = TF.elu(xr, a)
    elif op == "gelu":
        approximate = rng.choice(["none", "tanh"])
        efficient = rng.random() < 0.3
        ye = F.gelu(xe, approximate=approximate, memory_efficient=efficient)
        yr = TF.gelu(xr, approximate=approximate)
    elif op == "prelu":
        dim = 1  # the weight's channel dim
        channels = shape[1] if nd >= 2 else 1
        w = (torch.rand(rng.choice([1, channels]), dtype=torch.float64) - 0.3).to(dtype)
        we = w.to(device).requires_grad_()
        wr = w.to(device).double().requires_grad_()
        ye, yr = F.prelu(xe, we), TF.prelu(xr, wr)
        extra_e, extra_r = [we], [wr]
        # d/dw: the sum of g * min(x, 0) over the weight's elements
        sums = [lambda g: xr.detach().clamp(max=0).abs() * g.abs()]
    else:
        dim = rng.choice([1, -1]) if nd >= 2 else -1
        channels = shape[dim]
        b = torch.randn(channels, dtype=torch.float64).to(dtype)
        act = rng.choice(["relu", "leaky_relu", "elu", "gelu", "prelu"])
        be = b.to(device).requires_grad_()
        br = b.to(device).double().requires_grad_()
        view = [1] * nd
        view[dim] = channels
        z = xr + br.view(view)
        extra_e, extra_r = [be], [br]
        sums = [None]  # d/db: the sum of grad_input over the other dims
        if act == "prelu":  # a weight too, 1 or C values along dim
            w = (torch.rand(rng.choice([1, channels]), dtype=torch.float64) - 0.3).to(dtype)
            we = w.to(device).requires_grad_()
            wr = w.to(device).double().requires_grad_()
            ye = F.bias_act(xe, be, "prelu", dim=dim, weight=we)
            yr = torch.where(z > 0, z, z * (wr.view(view) if wr.numel() > 1 else wr))
            extra_e, extra_r = [be, we], [br, wr]
            sums.append(lambda g: z.detach().clamp(max=0).abs() * g.abs())
        else:
            ye = F.bias_act(xe, be, act, dim=dim)
            yr = getattr(TF, act)(z)
    what = f"{op} {shape} {dtype} strides {tuple(x.stride())}"
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(ye, yr.detach().to(dtype), rtol=rtol, atol=atol, msg=what)
    g = torch.randn(shape, dtype=torch.float64, device=device).to(dtype)
    grads_e = torch.autograd.grad(ye, [xe] + extra_e, g)
    grads_r = torch.autograd.grad(yr, [xr] + extra_r, g.double())
    # grad_input: elementwise, but from a rounded gradient and (half types) a rounded input
    if efficient or (op == "elu" and inplace):  # the gradient from the output
        # GELU: gelu' recovered from y, its documented error; ELU: y + alpha from a rounded
        # y, off by y's rounding (as torch's own in-place elu_)
        slope_err = (GELU_RECOVERED[dtype] if op == "gelu"
                     else 2 * torch.finfo(dtype).eps * max(a, 1.0))
        err = (grads_e[0].double() - grads_r[0]).abs()
        bound = 2 * rtol * grads_r[0].abs() + 2 * atol + slope_err * g.double().abs()
        assert bool((err <= bound).all()), f"{what} grad_input from the output: {err.max()}"
    else:
        torch.testing.assert_close(grads_e[0], grads_r[0].to(dtype), rtol=2 * rtol,
                                   atol=2 * atol, msg=what + " grad_input")
    for ge, gr, terms in zip(grads_e[1:], grads_r[1:], sums):
        if terms is None:  # a bias: grad_input summed over every dim but the channel's
            dims = [d for d in range(nd) if d != dim % nd]
            total = grads_r[0].abs().sum(dims) if dims else grads_r[0].abs()
        else:
            per_element = terms(g.double())
            total = (per_element.sum() if ge.numel() == 1
                     else per_element.movedim(dim, 0).reshape(ge.numel(), -1).sum(1))
        bound = reduction_tol(dtype, total.reshape(ge.shape))
        err = (ge.double() - gr).abs()
        assert bool((err <= bound).all()), f"{what} parameter gradient: {err.max()} > bound"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_random_cases_against_torch(seed, dtype, device):
    rng = random.Random(1000 * seed + DTYPES.index(dtype))
    torch.manual_seed(1000 * seed + DTYPES.index(dtype))
    before = torch.get_num_threads()
    try:
        for _ in range(25):
            torch.set_num_threads(rng.choice([1, 2, 3]))
            one_case(rng, dtype, device)
    finally:
        torch.set_num_threads(before)
