"""relu_ext.patch(): torch's functional activations routed to relu_ext for code that calls
them itself, reversibly; what it cannot reach stays torch's."""
import pytest
import torch
import torch.nn.functional as TF
from torch import nn
from torch.nn.functional import gelu as gelu_bound_early

import relu_ext


class MyGELUBlock(nn.Module):
    """Transformer-style code: its own activation class calling F.gelu."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return torch.nn.functional.gelu(self.fc(x), approximate="tanh")


@pytest.fixture(autouse=True)
def _restore():
    yield
    relu_ext.unpatch()


def _ours(t):
    return t.grad_fn is not None and not t.grad_fn.name().endswith("0")


def test_patch_reaches_code_calling_functional(device):
    torch.manual_seed(0)
    block = MyGELUBlock().to(device)
    x = torch.randn(4, 6, device=device)
    want = block(x)
    assert not _ours(want)  # torch's GeluBackward0
    with relu_ext.patch():
        got = block(x)
        assert _ours(got) and got.grad_fn.name() == "GeluBackward"
        torch.testing.assert_close(got, want)
        got.sum().backward()
    assert not _ours(block(x))  # restored on exit


@pytest.mark.parametrize("call", [
    lambda x: TF.relu(x), lambda x: TF.relu(x.clone(), inplace=True), lambda x: torch.relu(x),
    lambda x: TF.leaky_relu(x, 0.2), lambda x: TF.prelu(x, torch.full((3,), 0.1, device=x.device)),
    lambda x: TF.elu(x, 0.5), lambda x: TF.gelu(x), lambda x: nn.ReLU()(x), lambda x: nn.GELU()(x),
], ids=["relu", "relu_inplace", "torch.relu", "leaky_relu", "prelu", "elu", "gelu", "nn.ReLU",
        "nn.GELU"])
def test_every_patched_function(call, device):
    x = torch.randn(2, 3, 4, device=device, requires_grad=True)
    want = call(x)
    relu_ext.patch()
    got = call(x)
    assert _ours(got)
    torch.testing.assert_close(got, want)
    relu_ext.unpatch()
    assert not _ours(call(x))


def test_inplace_functions_patched(device):
    for fn, args in ((TF.relu_, ()), (TF.leaky_relu_, (0.2,)), (TF.elu_, (0.5,)),
                     (torch.relu_, ())):
        name = fn.__name__
        x = torch.randn(8, device=device)
        want = fn(x.clone(), *args)
        with relu_ext.patch():
            patched = getattr(torch.nn.functional if fn is not torch.relu_ else torch, name)
            assert patched is not fn and patched.__relu_ext_original__ is fn
            y = x.clone()
            assert patched(y, *args) is y
            torch.testing.assert_close(y, want)


def test_unsupported_inputs_go_to_torch():
    with relu_ext.patch():
        x = torch.tensor([-1, 2], dtype=torch.int32)
        torch.testing.assert_close(TF.relu(x), torch.tensor([0, 2], dtype=torch.int32))
        z = torch.tensor([1 + 1j])
        with pytest.raises(RuntimeError):
            TF.gelu(z)  # torch's own error for complex
        m = TF.gelu(torch.empty(3, device="meta"))
        assert m.device.type == "meta"


OTHER_LAYOUTS = {  # tensors of layouts relu_ext's kernels do not take: torch's own function
    "sparse_coo": lambda x: x.to_sparse(),
    "sparse_csr": lambda x: x.to_sparse_csr(),
    "mkldnn": lambda x: x.to_mkldnn(),
    "quantized": lambda x: torch.quantize_per_tensor(x, 0.05, 64, torch.quint8),
    "nested": lambda x: torch.nested.nested_tensor(list(x)),
    "jagged": lambda x: torch.nested.nested_tensor(list(x), layout=torch.jagged),
}


def _dense(t):
    if t.is_quantized:
        return t.dequantize()
    if t.is_nested:
        return torch.stack(t.unbind())
    return t.to_dense() if t.layout != torch.strided else t


@pytest.mark.filterwarnings("ignore::UserWarning")  # (nested and quantized tensors' warnings)
@pytest.mark.parametrize("layout", sorted(OTHER_LAYOUTS))
def test_other_layouts_same_as_torch(layout):
    """Sparse, quantized, nested and MKL-DNN tensors: patched functions, relu_ext's modules
    and functional API give torch's result, or torch's error type, as torch.nn's do."""
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5)
    calls = [lambda f, t: f.relu(t), lambda f, t: f.relu(t.clone(), inplace=True),
             lambda f, t: f.leaky_relu(t, 0.2), lambda f, t: f.elu(t, 0.7),
             lambda f, t: f.gelu(t), lambda f, t: f.gelu(t, approximate="tanh")]
    modules = [(nn.ReLU, relu_ext.ReLU), (nn.LeakyReLU, relu_ext.LeakyReLU),
               (nn.ELU, relu_ext.ELU), (nn.GELU, relu_ext.GELU)]

    def outcome(fn):
        try:
            return _dense(fn(OTHER_LAYOUTS[layout](x.clone())))
        except (RuntimeError, NotImplementedError) as e:
            return type(e)

    expected = [outcome(lambda t, c=c: c(TF, t)) for c in calls]
    expected += [outcome(lambda t, m=m: m[0]()(t)) for m in modules]
    assert any(isinstance(e, torch.Tensor) for e in expected)  # torch takes some of them
    ours = [outcome(lambda t, c=c: c(relu_ext.functional, t)) for c in calls]
    ours += [outcome(lambda t, m=m: m[1]()(t)) for m in modules]
    with relu_ext.patch():
        patched = [outcome(lambda t, c=c: c(TF, t)) for c in calls]
        patched += [outcome(lambda t, m=m: m[0]()(t)) for m in modules]
    for e, got in zip(expected * 2, ours + patched):
        if isinstance(e, torch.Tensor):
            torch.testing.assert_close(got, e)
        else:
            assert got is e


def test_jit_script_while_patched():
    """torch.jit.script of torch.nn's activations (and of F.* calls) works while patched: it
    compiles torch's own functions; unpatch leaves no entry in the JIT's table of builtins."""
    import warnings

    from torch.jit import _builtins

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.ReLU(), nn.ELU(0.5), nn.LeakyReLU(0.1),
                          nn.PReLU(), nn.GELU("tanh"), nn.ReLU(inplace=True), MyGELUBlock())
    model[-1].fc = nn.Linear(8, 8)
    x = torch.randn(3, 4)
    want = model(x)
    with relu_ext.patch():
        routed = [TF.relu, TF.relu_, TF.leaky_relu, TF.leaky_relu_, TF.prelu, TF.elu, TF.elu_,
                  TF.gelu, torch.relu, torch.relu_]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (TorchScript's deprecation warning)
            scripted = torch.jit.script(model)
        torch.testing.assert_close(scripted(x), want)
        assert "relu_ext::" not in str(scripted.inlined_graph)
        assert _ours(model(x.requires_grad_()))  # eager calls still routed
    table = _builtins._get_builtin_table()
    assert not any(id(f) in table for f in routed)


def test_what_it_cannot_reach():
    """A function bound before patching stays torch's (documented limitation)."""
    x = torch.randn(5, requires_grad=True)
    with relu_ext.patch():
        assert gelu_bound_early(x).grad_fn.name() == "GeluBackward0"
        assert x.relu().grad_fn.name() == "ReluBackward0"  # tensor methods are not patched


def test_patch_is_idempotent_and_compiles():
    original = TF.gelu
    relu_ext.patch()
    first = TF.gelu
    relu_ext.patch()
    assert TF.gelu is first
    block = MyGELUBlock()
    x = torch.randn(3, 6)
    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), block(x))
    relu_ext.unpatch()
    relu_ext.unpatch()  # a no-op when not patched
    assert TF.gelu is original
