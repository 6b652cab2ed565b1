"""relu_ext.DeadUnitMonitor and the act_stats op behind it: per-channel counts of inputs in
the active regime (x > 0), counted inside the forward kernel."""
import copy
import io
import os

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import relu_ext

ops = torch.ops.relu_ext

ACTS = [("relu", 0.0, TF.relu), ("leaky_relu", 0.2, lambda x: TF.leaky_relu(x, 0.2)),
        ("elu", 0.5, lambda x: TF.elu(x, 0.5)), ("gelu", 0.0, TF.gelu),
        ("gelu_tanh", 0.0, lambda x: TF.gelu(x, approximate="tanh"))]


def reference_fired(x, dim):
    return (x > 0).movedim(dim, 0).reshape(x.shape[dim], -1).sum(1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16],
                         ids=str)
@pytest.mark.parametrize("layout", ["2d", "nchw", "channels_last", "last_dim", "1d", "sliced"])
@pytest.mark.parametrize("activation,param,ref", ACTS, ids=[a[0] for a in ACTS])
def test_act_stats_values_counts_gradients(activation, param, ref, layout, dtype, device):
    shape, dim = {"2d": ((37, 24), 1), "nchw": ((4, 6, 5, 7), 1), "channels_last": ((4, 6, 5, 7), 1),
                  "last_dim": ((3, 5, 40), -1), "1d": ((50,), 0), "sliced": ((6, 8, 10), 1)}[layout]
    x = torch.randn(shape, device=device).to(dtype)
    x.view(-1)[:3] = torch.tensor([0.0, -0.0, float("nan")], dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    if layout == "sliced":
        x = x[:, ::2, 1:]
    xr = x.clone().requires_grad_()
    y, fired = ops.act_stats(xr, None, dim, activation, param)
    torch.testing.assert_close(y, ref(x), equal_nan=True)
    assert fired.dtype == torch.int64 and torch.equal(fired, reference_fired(x, dim % x.dim()))
    g = torch.randn_like(y)
    xt = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(y, xr, g)
    (gt,) = torch.autograd.grad(ref(xt), xt, g)
    finite = ~torch.isnan(x)  # at NaN: relu_ext's convention (README), not ATen's per-path one
    torch.testing.assert_close(gx[finite], gt[finite])


@pytest.mark.parametrize("shape,dim", [((600, 1000), 1), ((70000, 20), 1), ((4, 30000, 3), 1),
                                       ((1, 100000, 2), 1), ((64, 16, 33, 31), 1)],
                         ids=["rows", "rows_past_int16", "runs", "runs_long_channel_dim", "nchw"])
def test_act_stats_counts_exact_at_any_thread_count(shape, dim):
    """Each thread counts its own rows or runs (a thread may hold fewer counts than there are
    channels); the totals are exact at 1, 2 and 3 threads, in every dtype, also where a thread
    counts more rows than an 8- or 16-bit lane holds (600 and 70000 rows at 1 thread)."""
    threads = torch.get_num_threads()
    x = torch.randn(shape)
    x.view(-1)[::7] = 0.0
    want = reference_fired(x, dim)
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            for dtype in (torch.float32, torch.float64, torch.bfloat16):
                y, fired = ops.act_stats(x.to(dtype), None, dim, "leaky_relu", 0.1)
                assert torch.equal(fired, want), (n, dtype)
                torch.testing.assert_close(y, TF.leaky_relu(x.to(dtype), 0.1))
            # (ReLU in bfloat16: its own loop, on the 16-bit patterns)
            y, fired = ops.act_stats(x.to(torch.bfloat16), None, dim, "relu", 0.0)
            assert torch.equal(fired, want), (n, "relu")
            torch.testing.assert_close(y, TF.relu(x.to(torch.bfloat16)), rtol=0, atol=0)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("rows,channels,threads", [(4, 16384 + 33, 2), (100, 1000, 2),
                                                   (300, 1100, 8)],
                         ids=["wide", "short", "short_past_8bit"])
def test_act_stats_few_rows_split_by_channels(rows, channels, threads):
    """Few rows a thread (under 64) of many channels are split by channels, each thread
    writing its own channels' counts: exact counts and torch's values for every form and
    dtype, PReLU's weight per channel, a last block of channels under 64, and (8 threads,
    300 rows) more rows than an 8-bit lane holds."""
    previous = torch.get_num_threads()
    x = torch.randn(rows, channels)
    x.view(-1)[::5] = 0.0
    w = torch.rand(channels)
    want = reference_fired(x, 1)
    try:
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
            xd = x.to(dtype)
            for activation, param, ref in ACTS:
                y, fired = ops.act_stats(xd, None, 1, activation, param)
                assert torch.equal(fired, want), (activation, dtype)
                torch.testing.assert_close(y, ref(xd))
            y, fired = ops.act_stats(xd, w.to(dtype), 1, "prelu", 0.0)
            assert torch.equal(fired, want), ("prelu", dtype)
            torch.testing.assert_close(y, TF.prelu(xd, w.to(dtype)))
    finally:
        torch.set_num_threads(previous)


def test_act_stats_pattern_rows_both_ways():
    """The half types' pattern loops take rows of C in blocks of four rows or a row at a time,
    by the CPU (csrc/cpu/cpu_choices.h, stats_row_blocks): the tests of exact counts above, and
    the values and counts of every form in bfloat16 and float16, again in child processes with
    RELU_EXT_ROW_BLOCKS=1 and =0, so that both ways run on every machine; a bad value fails
    the import."""
    from child import run_python

    code = ("import sys, pytest, relu_ext\n"
            "print('blocks', int(relu_ext._C.stats_row_blocks()))\n"
            "sys.exit(pytest.main([sys.argv[1], '-q', '-p', 'no:cacheprovider', '-k',\n"
            "    '(counts_exact or split_by_channels or (values_counts and 16 and cpu))'\n"
            "    ' and not with_bias']))\n")  # (with a bias: no pattern loop)
    for blocks in ("1", "0"):
        proc = run_python(code, os.path.abspath(__file__), env={"RELU_EXT_ROW_BLOCKS": blocks})
        assert proc.returncode == 0 and " passed" in proc.stdout, (
            blocks, proc.stdout[-3000:] + proc.stderr[-3000:])
        assert proc.stdout.splitlines()[0] == f"blocks {blocks}", proc.stdout[:200]
    bad = run_python("import relu_ext", env={"RELU_EXT_ROW_BLOCKS": "2"})
    assert bad.returncode != 0 and "RELU_EXT_ROW_BLOCKS='2'" in bad.stderr, bad.stderr[-3000:]


def test_act_stats_prelu_gradcheck():
    x = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.rand(4, dtype=torch.float64, requires_grad=True)
    y, fired = ops.act_stats(x, w, 1, "prelu", 0.0)
    torch.testing.assert_close(y, TF.prelu(x, w))
    assert torch.equal(fired, reference_fired(x, 1))
    fn = lambda a, b: ops.act_stats(a, b, 1, "prelu", 0.0)[0]  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradcheck(fn, (x, w), check_forward_ad=True, check_backward_ad=False)
    with pytest.raises(RuntimeError, match="weight must be given for activation 'prelu'"):
        ops.act_stats(x, None, 1, "prelu", 0.0)
    with pytest.raises(RuntimeError, match="counts along dim 1"):
        ops.act_stats(x, w, 2, "prelu", 0.0)


def bias_act_of(activation, param, weight):
    """relu_ext's bias_act for act_stats's activation and parameters (the reference of
    act_stats with a bias: the same values, the same gradients)."""
    if activation == "prelu":
        return lambda x, b, dim: ops.bias_prelu(x, b, weight, dim)
    return lambda x, b, dim: ops.bias_act(x, b, dim, activation, param)


def fired_with_bias(x, b, dim):
    """Per channel, the count of x + b > 0 in float64 (the exact sum's sign)."""
    shape = [1] * x.dim()
    shape[dim] = -1
    return reference_fired(x.double() + b.double().reshape(shape), dim)


STATS_FORMS = [*[a[:2] for a in ACTS], ("prelu", "per_channel"), ("prelu", "shared")]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16],
                         ids=str)
@pytest.mark.parametrize("layout",
                         ["linear", "linear3d", "nchw", "channels_last", "sliced", "runs"])
@pytest.mark.parametrize("activation,param", STATS_FORMS,
                         ids=[f"{a}-{p}" if a == "prelu" else a for a, p in STATS_FORMS])
def test_act_stats_with_bias_is_bias_act_counted(activation, param, layout, dtype, device):
    """act_stats with a bias (a watched LinearAct's forward): bias_act's (bias_prelu's) values
    and gradients bit for bit, and per channel the exact count of x + b > 0 (the bias and
    PReLU's weight along dim), on rows (the bias along the last dim) and runs (along dim 1)."""
    shape, dim = {"linear": ((37, 72), -1), "linear3d": ((3, 5, 40), -1),
                  "nchw": ((4, 6, 5, 7), 1), "channels_last": ((4, 6, 5, 7), 1),
                  "sliced": ((6, 8, 10), -1), "runs": ((3, 5, 300), 1)}[layout]
    torch.manual_seed(0)
    x = torch.randn(shape, device=device).to(dtype)
    x.view(-1)[1:3] = torch.tensor([-0.0, float("nan")], dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    if layout == "sliced":
        x = x[:, 1::2]
    b = torch.randn(x.shape[dim], device=device).to(dtype)
    b[0] = -x.movedim(dim, 0)[0].flatten()[0]  # x + b = 0 exactly once at least
    w = None
    if activation == "prelu":
        w = (torch.rand(1 if param == "shared" else x.shape[dim], device=device) - 0.25).to(dtype)
        param = 0.0
    fused = bias_act_of(activation, param, w)
    leaves = [t.clone().requires_grad_() for t in (x, b) + ((w,) if w is not None else ())]
    y, fired = ops.act_stats(leaves[0], leaves[2] if w is not None else None, dim, activation,
                             param, leaves[1])
    want = fused(x, b, dim)
    torch.testing.assert_close(y, want, rtol=0, atol=0, equal_nan=True)
    # and torch's activation of x + b (in float64), as bias_act's own tests check it
    along = [1] * x.dim()
    along[dim] = -1
    z = x.double() + b.double().reshape(along)
    torch_act = ({a[0]: a[2] for a in ACTS}.get(activation) or
                 (lambda t: torch.where(t > 0, t, w.double().reshape(along if w.numel() > 1
                                                                     else [1] * t.dim()) * t)))
    torch.testing.assert_close(y.double(), torch_act(z).to(dtype).double(), equal_nan=True,
                               **({} if dtype.itemsize > 2 else {"rtol": 1.6e-2, "atol": 1e-5}))
    assert fired.dtype == torch.int64
    assert torch.equal(fired, fired_with_bias(x, b, dim % x.dim()))
    g = torch.randn_like(want)
    grads = torch.autograd.grad(y, leaves, g)
    ref_leaves = [t.clone().requires_grad_() for t in (x, b) + ((w,) if w is not None else ())]
    ref_y = (ops.bias_prelu(*ref_leaves[:2], ref_leaves[2], dim) if w is not None
             else ops.bias_act(*ref_leaves, dim, activation, param))
    for got, ref in zip(grads, torch.autograd.grad(ref_y, ref_leaves, g)):
        torch.testing.assert_close(got, ref, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("shape,dim,threads", [((600, 1000), -1, (1, 2, 3)),
                                               ((4, 16384 + 33), -1, (2,)),
                                               ((300, 1100), -1, (8,)),
                                               ((4, 30000, 3), 1, (1, 2, 3))],
                         ids=["rows", "few_rows_split_by_channels", "short_past_8bit", "runs"])
def test_act_stats_with_bias_counts_exact_at_any_thread_count(shape, dim, threads):
    """act_stats with a bias takes act_stats's ways through the data (rows counted in 8-bit
    lanes flushed every 255 rows, few rows split by channels, runs): exact counts of x + b > 0
    and bias_act's values bit for bit at each thread count, every dtype."""
    previous = torch.get_num_threads()
    torch.manual_seed(1)
    x = torch.randn(shape)
    b = torch.randn(x.shape[dim]) * 0.5
    x.view(-1)[::7] = 0.0
    try:
        for n in threads:
            torch.set_num_threads(n)
            for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
                xd, bd = x.to(dtype), b.to(dtype)
                for activation, param in (("relu", 0.0), ("elu", 0.7)):
                    y, fired = ops.act_stats(xd, None, dim, activation, param, bd)
                    assert torch.equal(fired, fired_with_bias(xd, bd, dim % x.dim())), (n, dtype)
                    assert torch.equal(y, ops.bias_act(xd, bd, dim, activation, param)), (
                        n, dtype, activation)
    finally:
        torch.set_num_threads(previous)


def test_act_stats_with_bias_gradcheck_vmap_and_errors():
    """act_stats with a bias: first and second derivatives and forward AD (float64) through
    bias_act's autograd; vmap with a batched or shared bias (per-sample counts); errors that
    name the bias and the weight."""
    torch.manual_seed(2)
    x = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    w = torch.rand(4, dtype=torch.float64, requires_grad=True)
    for act, args in (("elu", (x, b)), ("gelu_tanh", (x, b)), ("prelu", (x, b, w))):
        def fn(xi, bi, wi=None, act=act):
            return ops.act_stats(xi, wi, -1, act, 0.7, bi)[0]
        assert torch.autograd.gradcheck(fn, args)
        assert torch.autograd.gradgradcheck(fn, args)
        assert torch.autograd.gradcheck(fn, args, check_forward_ad=True, check_backward_ad=False)
    B = 3
    xb = torch.randn(B, 6, 5, dtype=torch.float64)
    for bias, in_b in ((torch.randn(5, dtype=torch.float64), None),
                       (torch.randn(B, 5, dtype=torch.float64), 0)):
        y, fired = torch.func.vmap(lambda t, v: ops.act_stats(t, None, -1, "relu", 0.0, v),
                                   in_dims=(0, in_b))(xb, bias)
        for i in range(B):
            bi = bias if in_b is None else bias[i]
            torch.testing.assert_close(y[i], TF.relu(xb[i] + bi))
            assert torch.equal(fired[i], fired_with_bias(xb[i], bi, 1))
    x = torch.randn(4, 6)
    with pytest.raises(RuntimeError, match=r"expected bias to be a 1-D tensor of size"):
        ops.act_stats(x, None, -1, "relu", 0.0, torch.zeros(4))
    with pytest.raises(RuntimeError, match=r"expected bias to have the same dtype"):
        ops.act_stats(x, None, -1, "relu", 0.0, torch.zeros(6, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"expected weight to have 1 or self.size\(1\) = 6"):
        ops.act_stats(x, torch.ones(4), -1, "prelu", 0.0, torch.zeros(6))


def dead_net(kind):
    torch.manual_seed(0)
    acts = {"relu": nn.ReLU(), "leaky_relu": relu_ext.LeakyReLU(0.1), "elu": nn.ELU(),
            "gelu": relu_ext.GELU(), "prelu": nn.PReLU(32)}
    # Inputs of both activations are signed (no activation before them): no unit dies by
    # chance, only the ones given a large negative bias.
    return nn.ModuleDict({"mlp": nn.Sequential(nn.Linear(10, 32), acts[kind]),
                          "conv": nn.Sequential(nn.Conv1d(4, 6, 3), relu_ext.ReLU())})


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "elu", "gelu", "prelu"])
def test_monitor_finds_exactly_the_dead_units(kind):
    net = dead_net(kind)
    dead_linear, dead_conv = [3, 7, 20], [2]
    with torch.no_grad():
        net["mlp"][0].bias[dead_linear] = -1000.0
        net["conv"][0].bias[dead_conv] = -1000.0
    with relu_ext.DeadUnitMonitor(net) as mon:
        for _ in range(4):
            net["mlp"](torch.randn(64, 10))
            net["conv"](torch.randn(64, 4, 9))
    dead = mon.dead_units()
    assert set(dead) == {"mlp.1", "conv.1"}
    assert dead["mlp.1"].nonzero().flatten().tolist() == dead_linear
    assert dead["conv.1"].nonzero().flatten().tolist() == dead_conv  # channels at dim 1
    fired, seen = mon.counts()["mlp.1"]
    assert seen == 4 * 64 and (fired[dead_linear] == 0).all()
    report = mon.report()
    assert "3 / 32" in report and "1 / 6" in report


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("kind,kwargs", [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}),
                                         ("elu", {"alpha": 0.5}), ("gelu", {}),
                                         ("gelu", {"approximate": "tanh"}),
                                         ("prelu", {"num_parameters": 32})])
def test_monitor_watches_linear_act(kind, kwargs, dtype, device):
    """A LinearAct (what convert(fuse_bias=True) makes of a Linear -> activation pair) is
    watched: per output feature, the count of product + bias > 0; outputs and gradients are
    its own forward's, bit for bit."""
    torch.manual_seed(0)
    dead = [3, 7, 20]
    net = nn.Sequential(relu_ext.LinearAct(10, 32, kind, dtype=dtype, **kwargs),
                        relu_ext.LinearAct(32, 6, "relu", bias=False, dtype=dtype)).to(device)
    with torch.no_grad():
        net[0].bias[dead] = -1000.0
    x = torch.randn(5, 16, 10, dtype=dtype, device=device)  # (B, T, C): units: the last dim
    plain = [net(x)]
    plain += torch.autograd.grad(plain[0].float().square().sum(), list(net.parameters()))
    with relu_ext.DeadUnitMonitor(net, channel_dim=1) as mon:  # (LinearAct: the last dim)
        for _ in range(2):
            watched = [net(x)]
            watched += torch.autograd.grad(watched[0].float().square().sum(),
                                           list(net.parameters()))
    for a, b in zip(watched, plain):
        assert torch.equal(a, b)
    counts = mon.counts()
    assert set(counts) == {"0", "1"}
    with torch.no_grad():
        product = TF.linear(x, net[0].weight)
        hidden = net[0](x)
        expected = [(product.double() + net[0].bias.double() > 0).flatten(0, 1).sum(0),
                    (TF.linear(hidden, net[1].weight) > 0).flatten(0, 1).sum(0)]
    for (fired, seen), ref in zip((counts["0"], counts["1"]), expected):
        assert seen == 2 * 5 * 16
        torch.testing.assert_close(fired, 2 * ref.cpu(), rtol=0, atol=0)
    assert mon.dead_units()["0"].nonzero().flatten().tolist() == dead
    assert "LinearAct  3 / 32" in mon.report()


def test_monitor_linear_act_from_convert_and_one_dim_input():
    """convert(fuse_bias=True) then the monitor finds the dead units of the fused layers
    (before, it saw no layer at all); a 1-D input is one row of units."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 8), nn.GELU())
    with torch.no_grad():
        net[0].bias[[1, 30]] = -1000.0
    relu_ext.convert(net, fuse_bias=True)
    assert isinstance(net[0], relu_ext.LinearAct)
    with relu_ext.DeadUnitMonitor(net) as mon:
        net(torch.randn(64, 10))
        net(torch.randn(10))
    assert set(mon.dead_units()) == {"0", "2"}
    assert mon.dead_units()["0"].nonzero().flatten().tolist() == [1, 30]
    assert mon.counts()["0"][1] == 65


def test_monitor_healthy_network_has_no_dead_units_and_changes_nothing():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), relu_ext.GELU(),
                        nn.Linear(32, 8), nn.ELU())
    x = torch.randn(128, 10)
    before = net(x)
    before.sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    with relu_ext.DeadUnitMonitor(net) as mon:
        during = net(x)
        during.sum().backward()
    torch.testing.assert_close(during, before)
    for p, g in zip(net.parameters(), grads):
        torch.testing.assert_close(p.grad, g)
    assert not any(d.any() for d in mon.dead_units().values())
    # Disabled: the modules are exactly as before (no instance forward left behind).
    assert all("forward" not in m.__dict__ for m in net.modules())
    with pytest.raises(KeyError):
        mon.counts()["0"]


def test_monitor_inplace_channel_dim_and_accumulation(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 12), nn.ReLU(inplace=True))
    with torch.no_grad():
        net[0].bias[5] = -1000.0
    mon = relu_ext.DeadUnitMonitor(net, channel_dim=-1)
    mon.start()
    x = torch.randn(4, 7, 8)  # (B, T, C): channels last
    for _ in range(3):
        net(x)
    mon.stop()
    assert mon.dead_units()["1"].nonzero().flatten().tolist() == [5]
    fired, seen = mon.counts()["1"]
    h = net[0](x)
    assert seen == 3 * 28 and torch.equal(fired, 3 * reference_fired(h, 2))
    path = mon.plot(os.path.join(tmp_path, "dead.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    mon.reset()
    assert mon.dead_units() == {}


@pytest.mark.parametrize("weight", [None, "shared", "per_channel", "per_sample_shared",
                                    "per_sample_channel"])
@pytest.mark.parametrize("shape,dim", [((4, 6, 5), 1), ((4, 6, 5), -1), ((6, 5), 0)],
                         ids=["dim1", "last", "2d"])
def test_act_stats_vmap(weight, shape, dim):
    """vmap over act_stats (its own batching rule, no per-sample fallback): per-sample
    activations and per-sample counts."""
    B = 3
    x = torch.randn(B, *shape, dtype=torch.float64)
    d = dim % len(shape)
    C = shape[d]
    if weight in ("per_channel", "per_sample_channel") and d != 1:
        pytest.skip("a weight per channel runs along dim 1 (tested: that raises, as in torch)")
    w, in_w = {None: (None, None), "shared": (torch.rand(1, dtype=x.dtype), None),
               "per_channel": (torch.rand(C, dtype=x.dtype), None),
               "per_sample_shared": (torch.rand(B, 1, dtype=x.dtype), 0),
               "per_sample_channel": (torch.rand(B, C, dtype=x.dtype), 0)}[weight]
    act = "relu" if w is None else "prelu"
    enabled = torch._C._functorch._is_vmap_fallback_enabled()
    torch._C._functorch._set_vmap_fallback_enabled(False)
    try:
        y, fired = torch.func.vmap(lambda t, v: ops.act_stats(t, v, dim, act, 0.0),
                                   in_dims=(0, in_w))(x, w)
    finally:
        torch._C._functorch._set_vmap_fallback_enabled(enabled)
    for i in range(B):
        wi = None if w is None else (w[i] if in_w == 0 else w)
        want = TF.relu(x[i]) if wi is None else TF.prelu(x[i], wi.reshape(-1))
        torch.testing.assert_close(y[i], want)
        assert torch.equal(fired[i], reference_fired(x[i], d))


def test_monitor_under_torch_compile_counts_as_eager():
    """Calls traced by torch.compile (fullgraph, no break) count as eager calls do, and the
    two kinds of call add up."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 12), relu_ext.GELU("tanh"),
                        nn.Linear(12, 6), nn.LeakyReLU(0.1), relu_ext.LinearAct(6, 4, "elu"))
    x = torch.randn(32, 8)
    with relu_ext.DeadUnitMonitor(net) as eager:
        for _ in range(3):
            expected = net(x)
    torch._dynamo.reset()
    with relu_ext.DeadUnitMonitor(net) as mixed:
        compiled = torch.compile(net, fullgraph=True)
        for _ in range(2):
            torch.testing.assert_close(compiled(x), expected)
        net(x)
        assert torch._dynamo.explain(net)(x).graph_break_count == 0  # (one more call)
    base = eager.counts()
    counts = mixed.counts()
    assert set(counts) == set(base) == {"1", "3", "5", "6"}
    for name, (fired, seen) in counts.items():
        assert seen == base[name][1] + 32 and fired.sum() > 0
        torch.testing.assert_close(fired, base[name][0] * 4 // 3, rtol=0, atol=0)


def test_monitor_counts_are_a_copy_and_follow_module_changes():
    torch.manual_seed(0)
    act = nn.LeakyReLU(0.1)
    x = torch.randn(16, 5)
    with relu_ext.DeadUnitMonitor(act) as mon:
        act(x)
        fired, seen = mon.counts()[""]
        before = fired.clone()
        act.negative_slope = 0.3  # read at each call
        torch.testing.assert_close(act(x), TF.leaky_relu(x, 0.3))
    assert torch.equal(fired, before) and seen == 16  # the first counts() did not change
    fired, seen = mon.counts()[""]
    assert torch.equal(fired, 2 * reference_fired(x, 1)) and seen == 32


def test_monitor_inference_mode_then_training(device):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10), nn.ELU()).to(device)
    x = torch.randn(8, 6, device=device)
    with relu_ext.DeadUnitMonitor(net) as mon:
        with torch.inference_mode():
            net(x)
        net(x).sum().backward()
        with torch.inference_mode():
            net(x)
    fired, seen = mon.counts()["1"]
    assert torch.equal(fired, 3 * reference_fired(net[0](x), 1).cpu()) and seen == 24


def test_monitor_python_path_counts_as_the_kernel():
    """Inputs the C++ step leaves to monitor.py's own path (a tensor subclass, which may
    define __torch_function__; an in-place module) count the same."""
    class Tagged(torch.Tensor):
        pass

    torch.manual_seed(0)
    x = torch.randn(12, 7, 3)
    for act in (nn.ReLU(), nn.ReLU(inplace=True), relu_ext.GELU()):
        with relu_ext.DeadUnitMonitor(act) as mon:
            act(x.clone())
            act(x.clone().as_subclass(Tagged))
        fired, seen = mon.counts()[""]
        assert torch.equal(fired, 2 * reference_fired(x, 1)) and seen == 2 * 12 * 3


def test_monitor_inplace_counts_the_input_not_the_output():
    """In place the input is overwritten: the count is of x > 0, also where the output is
    positive for negative inputs (a negative slope or alpha)."""
    torch.manual_seed(0)
    x = torch.randn(10, 6)
    for act in (nn.LeakyReLU(-0.5, inplace=True), relu_ext.LeakyReLU(-0.5, inplace=True),
                nn.ELU(alpha=-1.0, inplace=True)):
        with relu_ext.DeadUnitMonitor(act) as mon:
            y = act(x.clone())
        assert (y[x < 0] > 0).all()  # the outputs that would count wrongly
        fired, seen = mon.counts()[""]
        assert torch.equal(fired, reference_fired(x, 1)) and seen == 10


@pytest.mark.filterwarnings("ignore::UserWarning")  # (quantized and nested tensors' warnings)
def test_monitor_other_layouts():
    """Sparse and quantized inputs run torch's forward, unchanged, and are counted on a
    dense copy; a nested tensor's channels cannot be counted: a clear error."""
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    quantized = torch.quantize_per_tensor(x, 0.05, 64, torch.quint8)
    for act, make, dense in [
            (nn.ReLU(), lambda: x.to_sparse(), x),
            (nn.ReLU(inplace=True), lambda: quantized.clone(), quantized.dequantize()),
            (nn.ReLU(), lambda: quantized, quantized.dequantize())]:
        want = act(make())
        with relu_ext.DeadUnitMonitor(act) as mon:
            y = act(make())
        assert y.layout == want.layout and y.dtype == want.dtype
        torch.testing.assert_close(y.to_dense() if y.is_sparse else y.dequantize(),
                                   want.to_dense() if want.is_sparse else want.dequantize())
        fired, seen = mon.counts()[""]
        assert torch.equal(fired, reference_fired(dense, 1)) and seen == 8
    nested = torch.nested.nested_tensor([torch.randn(2, 5), torch.randn(3, 5)])
    with relu_ext.DeadUnitMonitor(nn.ReLU()) as mon:
        with pytest.raises(TypeError, match="nested tensor"):
            mon.model(nested)


def test_monitor_watches_classes_made_around_activations_not_overrides():
    """A class made around a watched one (FSDP2's fully_shard makes FSDPPReLU) is watched,
    with its base's activation; a subclass with its own forward is not (it computes
    something else)."""
    class Mixin:
        pass

    class Doubled(nn.ReLU):
        def forward(self, input):
            return super().forward(input) * 2

    wrapped = nn.PReLU(4)
    wrapped.__class__ = type("WrappedPReLU", (Mixin, nn.PReLU), {})
    net = nn.Sequential(wrapped, Doubled(), nn.ReLU())
    torch.manual_seed(0)
    x = torch.randn(10, 4)
    want = net(x)
    with relu_ext.DeadUnitMonitor(net) as mon:
        y = net(x)
    torch.testing.assert_close(y, want)
    counts = mon.counts()
    assert sorted(counts) == ["0", "2"]
    assert torch.equal(counts["0"][0], reference_fired(x, 1))


def test_monitor_one_at_a_time_per_module():
    """A second monitor on modules another one watches raises (it would see none of their
    calls, and stopping the two out of order left a module watched) and watches nothing; the
    first keeps counting, and stopping it restores the model."""
    net = nn.Sequential(nn.Linear(4, 4), relu_ext.ReLU(), nn.Linear(4, 4), nn.ReLU())
    x = torch.randn(3, 4)
    with relu_ext.DeadUnitMonitor(net[2:]) as first:
        with pytest.raises(RuntimeError, match="watched by another DeadUnitMonitor"):
            relu_ext.DeadUnitMonitor(net).start()
        assert "forward" not in net[1].__dict__  # nothing half-started
        first.start()  # its own again: a no-op
        net(x)
    assert all("forward" not in m.__dict__ for m in net)
    h = net[2](net[1](net[0](x)))
    fired, seen = first.counts()["3"]
    assert torch.equal(fired, (h > 0).sum(0)) and seen == 3
    with relu_ext.DeadUnitMonitor(net) as second:  # free again
        net(x)
    assert set(second.counts()) == {"1", "3"}


def test_monitor_bad_channel_dims():
    act = nn.ReLU()
    with pytest.raises(TypeError, match="channel_dim must be an int"):
        relu_ext.DeadUnitMonitor(act, channel_dim=1.0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        relu_ext.DeadUnitMonitor(lambda x: x)
    with relu_ext.DeadUnitMonitor(act, channel_dim=3):
        with pytest.raises(IndexError, match="channel_dim=3 is out of range"):
            act(torch.randn(2, 3, 4))
    with relu_ext.DeadUnitMonitor(act) as mon:
        act(torch.randn(2, 3, 4))
        with pytest.raises(ValueError, match="saw 5 channels .dim 1. after 3; pass channel_dim="):
            act(torch.randn(2, 5, 4))
        with pytest.raises(ValueError, match="0-dim input"):
            act(torch.tensor(1.0))
    assert mon.counts()[""][1] == 8  # the failed calls counted nothing


def test_monitored_model_copies_and_saves():
    """A model copied or saved while watched takes its monitor along, counts included; the
    copy counts on its own."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.GELU())
    x = torch.randn(5, 4)
    with relu_ext.DeadUnitMonitor(net) as mon:
        net(x)
        twin = copy.deepcopy(net)
        buffer = io.BytesIO()
        torch.save(net, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        twin(x)
        twin(x)
        loaded(x)
        torch.testing.assert_close(twin(x), net(x))
    h = net[0](x)
    assert torch.equal(mon.counts()["1"][0], 2 * reference_fired(h, 1))
    for copied, calls in ((twin, 4), (loaded, 2)):
        monitor = copied[1].forward.func.__self__  # (the monitor held by the copy)
        fired, seen = monitor.counts()["1"]
        assert torch.equal(fired, calls * reference_fired(h, 1)) and seen == calls * 5
        assert set(monitor.counts()) == {"1", "3"}
