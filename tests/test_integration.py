"""Converted models in the training stack: torch.export (and AOTInductor), autocast,
deterministic mode, torch.fx, torch.jit.trace and torch.jit.script, tensor subclasses and
TorchFunctionMode."""
import contextlib
import copy
import io
import warnings

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import relu_ext
import relu_ext.functional as RF

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(), "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "prelu": lambda: nn.PReLU(16), "elu": lambda: nn.ELU(0.7), "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU("tanh"),
}


def _pair(name, device):
    """The same Linear -> activation -> Linear model twice: stock and converted."""
    torch.manual_seed(0)
    stock = nn.Sequential(nn.Linear(8, 16), ACTIVATIONS[name](), nn.Linear(16, 4)).to(device)
    ours = relu_ext.convert(nn.Sequential(nn.Linear(8, 16), ACTIVATIONS[name](),
                                          nn.Linear(16, 4)).to(device))
    ours.load_state_dict(stock.state_dict())
    assert type(ours[1]).__module__.startswith("relu_ext")
    return stock, ours


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_export_runs_and_matches_eager(name, device):
    stock, ours = _pair(name, device)
    x = torch.randn(5, 8, device=device)
    ep = torch.export.export(ours, (x,))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any(t.startswith("relu_ext.") for t in targets), targets
    torch.testing.assert_close(ep.module()(x), stock(x))


@pytest.mark.slow  # a C++ compile: run by `make test`, not by the other builds' CI runs
def test_export_save_load_and_aot_inductor(tmp_path):
    """A converted, fused model with every form: exported with a dynamic batch, saved and
    loaded (torch.export.save/load), and compiled ahead of time by AOTInductor into a
    package that runs relu_ext's ops (a C++ compile, ~15 s), each matching the stock model on
    other batch sizes."""
    torch.manual_seed(0)

    def make():
        return nn.Sequential(nn.Linear(8, 16), nn.GELU("tanh"), nn.Linear(16, 16),
                             nn.LeakyReLU(0.1), nn.PReLU(16), nn.ELU(0.5), nn.ReLU(),
                             nn.Linear(16, 4))

    stock = make()
    ours = relu_ext.convert(make(), fuse_bias=True)
    ours.load_state_dict(stock.state_dict())
    ep = torch.export.export(ours, (torch.randn(5, 8),),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert {"relu_ext.bias_act.default", "relu_ext.prelu.default", "relu_ext.elu.default",
            "relu_ext.relu.default"} <= targets, targets
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    buf.seek(0)
    loaded = torch.export.load(buf)
    package = torch._inductor.aoti_compile_and_package(
        ep, package_path=str(tmp_path / "model.pt2"))
    compiled = torch._inductor.aoti_load_package(package)
    for batch in (3, 17):
        x = torch.randn(batch, 8)
        want = stock(x)
        torch.testing.assert_close(loaded.module()(x), want)
        torch.testing.assert_close(compiled(x), want)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_autocast_dtypes_as_torch(name, device):
    """Under autocast the activation outputs the dtype torch.nn's gives in the same model
    (PReLU's fp32 weight meets the low-precision activation as in torch), and gradients
    reach the fp32 parameters."""
    dtypes = [torch.bfloat16] if device == "cpu" else [torch.float16, torch.bfloat16]
    for dtype in dtypes:
        stock, ours = _pair(name, device)
        x = torch.randn(5, 8, device=device)
        outs = []
        for model in (stock, ours):
            with torch.autocast(device, dtype=dtype):
                h = model[0](x)
                a = model[1](h)
                a_from_fp32 = model[1](x.repeat(1, 2))  # an fp32 input, as torch casts it
                y = model[2](a)
            outs.append((a.dtype, a_from_fp32.dtype, y.dtype))
            y.float().sum().backward()
            assert all(p.grad is not None and p.grad.dtype == torch.float32
                       for p in model.parameters())
        assert outs[0] == outs[1], (dtype, outs)
        torch.testing.assert_close(ours[1](x.repeat(1, 2)), stock[1](x.repeat(1, 2)))
        for p, q in zip(ours.parameters(), stock.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_autocast_fused_and_monitored(name, device):
    """Under autocast, a model converted with fuse_bias=True (LinearAct: its product in the
    autocast dtype meets the fp32 bias) and models watched by a DeadUnitMonitor give torch.nn's
    dtype and values and the fp32 parameters' gradients, and the monitor counts the hidden
    units' x > 0 (to within rounding at 0: the fused model's count is on product + bias)."""
    dtypes = [torch.bfloat16] if device == "cpu" else [torch.float16, torch.bfloat16]
    for dtype in dtypes:
        stock, ours = _pair(name, device)
        fused = relu_ext.convert(copy.deepcopy(stock), fuse_bias=True)
        if name == "prelu":  # not fused by convert (its weight's state_dict key would move)
            fused[0] = relu_ext.LinearAct(8, 16, "prelu", num_parameters=16, device=device)
            fused[0].load_state_dict({**stock[0].state_dict(),
                                      "activation_weight": stock[1].weight.detach()})
            fused[1] = nn.Identity()
        assert type(fused[0]) is relu_ext.LinearAct
        x = torch.randn(64, 8, device=device)
        with torch.autocast(device, dtype=dtype):
            h = stock[0](x).float()
        for model, watched in ((stock, False), (fused, False), (fused, True), (ours, True)):
            model.zero_grad()
            with contextlib.ExitStack() as stack:
                mon = stack.enter_context(relu_ext.DeadUnitMonitor(model)) if watched else None
                with torch.autocast(device, dtype=dtype):
                    y = model(x)
            y.float().sum().backward()
            if model is stock:
                want, grads = y, [p.grad for p in stock.parameters()]
                continue
            assert y.dtype == want.dtype == dtype
            torch.testing.assert_close(y, want, rtol=3e-2, atol=3e-2)
            for p, g in zip(model.parameters(), grads):
                # in norm: where the product rounds to the other side of 0 from torch.nn's, a
                # slope of 1 meets one of ~0 (relu, leaky_relu, prelu)
                assert p.dtype == p.grad.dtype == torch.float32
                assert (p.grad - g).norm() <= 0.05 * g.norm(), (p.grad, g)
            if watched:
                (fired, seen), = mon.counts().values()
                assert seen == x.shape[0]
                assert ((h > 0.05).sum(0).cpu() <= fired).all(), (fired, h)
                assert (fired <= (h > -0.05).sum(0).cpu()).all(), (fired, h)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_deterministic_algorithms_mode(name, device):
    """torch.use_deterministic_algorithms(True): no warning, no error, and the same
    gradients bit for bit on a second run (PReLU's weight gradient included)."""
    _, ours = _pair(name, device)
    x = torch.randn(64, 8, device=device)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        grads = []
        for _ in range(2):
            ours.zero_grad()
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                ours(x).pow(2).sum().backward()
            grads.append([p.grad.clone() for p in ours.parameters()])
    finally:
        torch.use_deterministic_algorithms(previous)
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_fx_symbolic_trace(name):
    """torch.fx.symbolic_trace records relu_ext's ops (their OpOverloads) in the graph, and
    the traced module gives the converted model's results."""
    _, ours = _pair(name, "cpu")
    gm = torch.fx.symbolic_trace(ours)
    targets = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
    assert any(t.startswith("relu_ext.") for t in targets), targets
    x = torch.randn(5, 8)
    torch.testing.assert_close(gm(x), ours(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_jit_trace(name):
    """torch.jit.trace (deprecated, still in use) records relu_ext's ops: the traced module
    runs at another batch size with the converted model's results."""
    _, ours = _pair(name, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation warning
        traced = torch.jit.trace(ours, torch.randn(2, 8))
    assert "relu_ext::" in str(traced._modules["1"].graph) or \
        "relu_ext::" in str(traced._modules["1"].inlined_graph)
    x = torch.randn(5, 8)
    torch.testing.assert_close(traced(x), ours(x), rtol=0, atol=0)


SCRIPTED = {  # torch.nn activations (converted) and their relu_ext-only forms
    **ACTIVATIONS,
    "relu_inplace": lambda: nn.ReLU(inplace=True),
    "leaky_relu_inplace": lambda: nn.LeakyReLU(0.3, inplace=True),
    "elu_inplace": lambda: nn.ELU(0.5, inplace=True),
    "elu_memory_efficient": lambda: relu_ext.ELU(0.5, memory_efficient=True),
    "gelu_memory_efficient": lambda: relu_ext.GELU(memory_efficient=True),
}


def _script(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (TorchScript's deprecation warning)
        return torch.jit.script(module)


def _script_roundtrip(scripted):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch.jit.save's and load's deprecation warnings)
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        return torch.jit.load(buffer)


@pytest.mark.parametrize("name", SCRIPTED)
def test_jit_script(name):
    """torch.jit.script of a converted model compiles relu_ext's ops (functional.py's
    TorchScript twins); the scripted module, saved and loaded, gives torch.nn's values and
    gradients."""
    torch.manual_seed(0)
    stock = nn.Sequential(nn.Linear(8, 16), SCRIPTED[name](), nn.Linear(16, 4))
    if isinstance(stock[1], (relu_ext.ELU, relu_ext.GELU)):  # memory_efficient: torch's twin
        stock[1] = {relu_ext.ELU: nn.ELU(0.5), relu_ext.GELU: nn.GELU()}[type(stock[1])]
        ours = nn.Sequential(nn.Linear(8, 16), SCRIPTED[name](), nn.Linear(16, 4))
    else:
        ours = relu_ext.convert(nn.Sequential(nn.Linear(8, 16), SCRIPTED[name](),
                                              nn.Linear(16, 4)))
    ours.load_state_dict(stock.state_dict())
    scripted = _script_roundtrip(_script(ours))
    assert "relu_ext::" in str(scripted._modules["1"].inlined_graph)
    x = torch.randn(5, 8)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = stock(x1), scripted(x2)
    torch.testing.assert_close(y2, y1)
    y1.sum().backward()
    y2.sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad)


@pytest.mark.parametrize("kwargs", [
    dict(activation="relu"), dict(activation="relu", bias=False),
    dict(activation="leaky_relu", negative_slope=0.3), dict(activation="elu", alpha=0.4),
    dict(activation="gelu"), dict(activation="gelu", approximate="tanh"),
    dict(activation="prelu"), dict(activation="prelu", num_parameters=16, init=0.1)],
    ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_jit_script_linear_act(kwargs):
    """A LinearAct scripts (as its twin with the same parameters and state_dict keys), and
    so does a model that convert(fuse_bias=True) fused; values and gradients as eager."""
    torch.manual_seed(0)
    layer = relu_ext.LinearAct(8, 16, **kwargs)
    scripted = _script_roundtrip(_script(layer))
    assert list(scripted.state_dict()) == list(layer.state_dict())
    x = torch.randn(5, 8)
    y1, y2 = layer(x), scripted(x)
    torch.testing.assert_close(y2, y1)
    y1.square().sum().backward()
    y2.square().sum().backward()
    for p1, p2 in zip(layer.parameters(), scripted.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad)
    stock = nn.Sequential(nn.Linear(8, 16), nn.GELU("tanh"), nn.Linear(16, 4), nn.ReLU())
    fused = relu_ext.convert(nn.Sequential(nn.Linear(8, 16), nn.GELU("tanh"),
                                           nn.Linear(16, 4), nn.ReLU()), fuse_bias=True)
    fused.load_state_dict(stock.state_dict())
    torch.testing.assert_close(_script(fused)(x), stock(x))


def test_jit_script_functional():
    """Scripted functions calling relu_ext.functional (bias_act's keywords included)."""
    def f(x: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (RF.bias_act(x, b, "gelu", approximate="tanh") + RF.relu(x)
                + RF.elu(x, 0.3) + RF.leaky_relu(x.clone(), 0.2, True) + RF.prelu(x, w)
                + RF.bias_act(x, b, "prelu", weight=w) + RF.gelu(x) + RF.elu_(x.clone(), 0.5))

    scripted = _script(f)
    assert "relu_ext::bias_act" in str(scripted.inlined_graph)
    x, b, w = torch.randn(6, 4), torch.randn(4), torch.rand(4)
    want = (TF.gelu(x + b, approximate="tanh") + TF.relu(x) + TF.elu(x, 0.3)
            + TF.leaky_relu(x, 0.2) + TF.prelu(x, w) + torch.where(x + b > 0, x + b, w * (x + b))
            + TF.gelu(x) + TF.elu(x, 0.5))
    torch.testing.assert_close(scripted(x, b, w), want)
    with pytest.raises(Exception, match="approximate must be"):
        _script(_bias_act_unknown_form)(x, b)


def _bias_act_unknown_form(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return RF.bias_act(x, b, "gelu", approximate="erf")


def test_python_threads_call_concurrently():
    """Python threads calling the functional API at once (its entry points release the GIL
    while a kernel runs, as torch's own bindings do) each get the results one thread gets."""
    import threading

    import relu_ext.functional as F

    xs = [torch.randn(64, 4096) for _ in range(4)]
    b = torch.randn(4096)
    calls = [lambda x: F.gelu(x), lambda x: F.leaky_relu(x, 0.2),
             lambda x: F.bias_act(x, b, "elu", alpha=0.5), lambda x: F.relu(x)]
    want = [[f(x) for f in calls] for x in xs]
    got, errors = [None] * len(xs), []

    def run(i):
        try:
            for _ in range(20):
                got[i] = [f(xs[i]) for f in calls]
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for w, g in zip(want, got):
        for a, c in zip(w, g):
            assert torch.equal(a, c)


FUNCTIONAL_CALLS = {
    "relu": lambda F, x: F.relu(x), "relu_": lambda F, x: F.relu_(x.clone()),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "leaky_relu_": lambda F, x: F.leaky_relu_(x.clone(), 0.2),
    "prelu": lambda F, x: F.prelu(x, torch.full((4,), 0.3)),
    "elu": lambda F, x: F.elu(x, 0.7), "elu_": lambda F, x: F.elu_(x.clone(), 0.7),
    "gelu": lambda F, x: F.gelu(x, approximate="tanh"),
}


class _Logged(torch.Tensor):
    """A tensor subclass that records every function torch calls on it."""
    calls = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("name", FUNCTIONAL_CALLS)
def test_torch_function_subclass_and_mode(name):
    """relu_ext.functional honours __torch_function__ as torch.nn.functional does: a
    subclass's override sees the relu_ext op and the result keeps the subclass; a
    TorchFunctionMode sees the call too. Values as for a plain tensor."""
    import torch.nn.functional as TF
    from torch.overrides import TorchFunctionMode

    import relu_ext.functional as F

    call = FUNCTIONAL_CALLS[name]
    x = torch.randn(2, 4, 3)
    want = call(TF, x)
    _Logged.calls.clear()
    y = call(F, x.as_subclass(_Logged))
    assert type(y) is _Logged
    assert any(c.startswith(name.rstrip("_")) for c in _Logged.calls), _Logged.calls
    torch.testing.assert_close(y.as_subclass(torch.Tensor), want)

    seen = []

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with Mode():
        torch.testing.assert_close(call(F, x), want)
    assert any(s.startswith(f"relu_ext.{name}.") for s in seen), seen


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_cuda_graph_capture_and_replay(name):
    """Forward and backward capture into a CUDA graph (no host sync, no allocation outside
    the caching allocator) and replay on new input with eager's results."""
    stock, ours = _pair(name, "cuda")
    static_x = torch.randn(32, 8, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up, as torch.cuda.graph requires
        for _ in range(3):
            ours(static_x).pow(2).sum().backward()
    torch.cuda.current_stream().wait_stream(side)
    ours.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = ours(static_x)
        static_y.pow(2).sum().backward()
    for _ in range(2):
        x = torch.randn(32, 8, device="cuda")
        static_x.copy_(x)
        graph.replay()
        stock.zero_grad()
        want = stock(x)
        want.pow(2).sum().backward()
        torch.cuda.synchronize()
        torch.testing.assert_close(static_y, want)
        for p, q in zip(ours.parameters(), stock.parameters()):
            torch.testing.assert_close(p.grad, q.grad)
