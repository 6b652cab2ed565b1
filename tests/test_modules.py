"""Modules as drop-in replacements, relu_ext.convert, and the seed examples."""
import copy
import io
import os

import pytest
import torch
from torch import nn

import relu_ext

PAIRS = [
    (nn.ReLU(), relu_ext.ReLU()),
    (nn.ReLU(inplace=True), relu_ext.ReLU(inplace=True)),
    (nn.LeakyReLU(), relu_ext.LeakyReLU()),
    (nn.LeakyReLU(0.2, inplace=True), relu_ext.LeakyReLU(0.2, inplace=True)),
    (nn.PReLU(), relu_ext.PReLU()),
    (nn.PReLU(3, init=0.1), relu_ext.PReLU(3, init=0.1)),
    (nn.ELU(), relu_ext.ELU()),
    (nn.ELU(alpha=0.5, inplace=True), relu_ext.ELU(alpha=0.5, inplace=True)),
    (nn.GELU(), relu_ext.GELU()),
    (nn.GELU(approximate="tanh"), relu_ext.GELU(approximate="tanh")),
]


@pytest.mark.parametrize("theirs,ours", PAIRS, ids=[repr(p[0]) for p in PAIRS])
def test_module_matches_torch(theirs, ours, device):
    theirs, ours = copy.deepcopy(theirs).to(device), copy.deepcopy(ours).to(device)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert isinstance(ours, type(theirs))
    x = torch.randn(4, 3, 8, device=device)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = theirs(x1 * 1.0), ours(x2 * 1.0)
    torch.testing.assert_close(y2, y1)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad)
    for p1, p2 in zip(theirs.parameters(), ours.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad)


def test_prelu_module_state_dict_both_ways(device):
    theirs = nn.PReLU(5, init=0.3, device=device, dtype=torch.float64)
    ours = relu_ext.PReLU(5, device=device, dtype=torch.float64)
    assert ours.weight.dtype == torch.float64 and ours.weight.device.type == device
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours.weight, theirs.weight)
    with torch.no_grad():
        ours.weight.mul_(2)
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(theirs.weight, ours.weight)
    buf = io.BytesIO()
    torch.save(ours, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert type(loaded) is relu_ext.PReLU
    torch.testing.assert_close(loaded.weight, ours.weight)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.act = nn.GELU(approximate="tanh")
        self.prelu = nn.PReLU(6, init=0.2)
        self.heads = nn.ModuleList([nn.ReLU(), nn.ELU(0.5), nn.LeakyReLU(0.3)])
        self.named = nn.ModuleDict({"a": nn.Sequential(nn.Linear(6, 6), nn.ReLU(inplace=True))})

    def forward(self, x):
        x = self.prelu(self.act(self.lin(x)))
        for h in self.heads:
            x = h(x)
        return self.named["a"](x)


class MyReLU(nn.ReLU):  # a subclass: left alone
    pass


def test_convert_nested_model(device):
    torch.manual_seed(0)
    model = nn.Sequential(Block(), nn.Linear(6, 2), MyReLU()).to(device)
    reference = copy.deepcopy(model)
    model.train(False)
    prelu_weight = model[0].prelu.weight
    out = relu_ext.convert(model)
    assert out is model
    assert type(model[0].act) is relu_ext.GELU and model[0].act.approximate == "tanh"
    assert type(model[0].prelu) is relu_ext.PReLU and model[0].prelu.weight is prelu_weight
    assert model[0].prelu.num_parameters == 6
    assert [type(h) for h in model[0].heads] == [relu_ext.ReLU, relu_ext.ELU, relu_ext.LeakyReLU]
    assert model[0].heads[1].alpha == 0.5 and model[0].heads[2].negative_slope == 0.3
    assert type(model[0].named["a"][1]) is relu_ext.ReLU and model[0].named["a"][1].inplace
    assert type(model[2]) is MyReLU
    assert not model[0].act.training  # training mode kept
    x = torch.randn(5, 6, device=device)
    reference.train(False)
    torch.testing.assert_close(model(x), reference(x))
    assert model.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(model.state_dict())


def test_convert_optimizer_keeps_working():
    model = nn.Sequential(nn.Linear(4, 4), nn.PReLU(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    relu_ext.convert(model)
    before = model[1].weight.detach().clone()
    opt.zero_grad()
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    assert not torch.equal(model[1].weight, before)  # the optimizer still owns the Parameter


def test_convert_bare_activation_returns_replacement():
    m = nn.LeakyReLU(0.25)
    new = relu_ext.convert(m)
    assert type(new) is relu_ext.LeakyReLU and new.negative_slope == 0.25
    frozen = nn.PReLU(2)
    frozen.weight.requires_grad_(False)
    assert relu_ext.convert(frozen).weight.requires_grad is False


def test_seed_table():
    """The ReLU table: -3, -0.7, 0, 1.2, 5 -> 0, 0, 0, 1.2, 5."""
    x = torch.tensor([-3.0, -0.7, 0.0, 1.2, 5.0])
    y = relu_ext.ReLU()(x)
    assert y.tolist() == pytest.approx([0.0, 0.0, 0.0, 1.2, 5.0])
    assert torch.equal(y, torch.nn.ReLU()(x))


def test_seed_sequential():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(5, 3), nn.ReLU())
    ours = nn.Sequential(nn.Linear(5, 3), relu_ext.ReLU())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(8, 5)
    torch.testing.assert_close(ours(x), ref(x))
    ours(x).sum().backward()
    ref(x).sum().backward()
    torch.testing.assert_close(ours[0].weight.grad, ref[0].weight.grad)


def test_backend_info():
    info = relu_ext.backend_info()
    assert info["cpu"] is True and info["torch"] == torch.__version__
    assert info["built_with_torch"] == torch.__version__
    assert info["cuda"] == (info["cuda_reason"] is None)
    if not torch.cuda.is_available():
        assert info["cuda"] is False and info["cuda_reason"]


ALL_OPS = ["relu", "relu_", "relu_backward", "leaky_relu", "leaky_relu_", "leaky_relu_backward",
           "prelu", "prelu_backward", "elu", "elu_", "elu_backward", "gelu", "gelu_backward"]


def test_cuda_kernels_registered_exactly_when_built():
    """Every op has a CUDA kernel exactly when the CUDA library was built and loaded."""
    info = relu_ext.backend_info()
    if os.environ.get("RELU_EXT_EXPECT_CUDA") == "1":  # set by `make cuda-test`
        assert info["cuda_built"], info["cuda_reason"]
    for op in ALL_OPS:
        has_cuda = torch._C._dispatch_has_kernel_for_dispatch_key(f"relu_ext::{op}", "CUDA")
        assert has_cuda == info["cuda_built"], op
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"relu_ext::{op}", "CPU"), op
    if info["cuda_built"] and not torch.cuda.is_available():
        # Built with CUDA, no driver/GPU here: the CPU ops still work, and we say why.
        assert not info["cuda"] and "GPU" in info["cuda_reason"]
        assert relu_ext.functional.relu(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def _zoo():
    torch.manual_seed(0)
    return nn.ModuleDict({
        "seq": nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.PReLU(6), nn.ELU(0.5)),
        "list": nn.ModuleList([nn.LeakyReLU(0.3), nn.GELU("tanh")]),
        "enc": nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=nn.GELU(),
                                          dropout=0.0, batch_first=True),
    })


def _run(zoo, x, s):
    h = zoo["seq"](x)
    for m in zoo["list"]:
        h = m(h)
    return h, zoo["enc"](s)


def _kinds(model):
    return [(name, type(m)) for name, m in model.named_modules()]


def test_revert_is_the_exact_inverse(device):
    zoo = _zoo().to(device)
    kinds, params = _kinds(zoo), {n: p for n, p in zoo.named_parameters()}
    x, s = torch.randn(3, 6, device=device), torch.randn(2, 5, 8, device=device)
    want = _run(zoo, x, s)
    relu_ext.convert(zoo)
    assert type(zoo["enc"].activation) is relu_ext.GELU  # an activation held as attribute
    assert type(zoo["list"][1]) is relu_ext.GELU and zoo["list"][1].approximate == "tanh"
    torch.testing.assert_close(_run(zoo, x, s), want)
    relu_ext.revert(zoo)
    assert _kinds(zoo) == kinds
    assert all(p is params[n] for n, p in zoo.named_parameters())
    torch.testing.assert_close(_run(zoo, x, s), want)


def test_convert_types_option():
    zoo = _zoo()
    relu_ext.convert(zoo, types=["relu", nn.GELU])
    assert type(zoo["seq"][1]) is relu_ext.ReLU and type(zoo["seq"][2]) is nn.PReLU
    assert type(zoo["list"][1]) is relu_ext.GELU and type(zoo["list"][0]) is nn.LeakyReLU
    zoo = _zoo()
    relu_ext.convert(zoo, types="gelu")  # one alone
    assert type(zoo["list"][1]) is relu_ext.GELU and type(zoo["seq"][1]) is nn.ReLU
    relu_ext.convert(zoo, types=nn.ReLU)
    assert type(zoo["seq"][1]) is relu_ext.ReLU and type(zoo["seq"][2]) is nn.PReLU
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got NoneType"):
        relu_ext.convert(None)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        relu_ext.revert("model")
    with pytest.raises(ValueError, match="types"):
        relu_ext.convert(zoo, types=["softplus"])
    with pytest.raises(ValueError, match="types"):
        relu_ext.convert(zoo, types=[nn.Tanh])


def test_converted_model_save_load_copy_and_move(tmp_path):
    zoo = relu_ext.convert(_zoo())
    x, s = torch.randn(3, 6), torch.randn(2, 5, 8)
    want = _run(zoo, x, s)
    # state_dict both ways, with the stock model
    stock = _zoo()
    stock.load_state_dict(zoo.state_dict())
    torch.testing.assert_close(_run(stock, x, s), want)
    # the whole model (needs relu_ext to load), and after revert (does not)
    torch.save(zoo, tmp_path / "ours.pt")
    loaded = torch.load(tmp_path / "ours.pt", weights_only=False)
    assert type(loaded["seq"][2]) is relu_ext.PReLU
    torch.testing.assert_close(_run(loaded, x, s), want)
    torch.save(relu_ext.revert(copy.deepcopy(zoo)), tmp_path / "stock.pt")
    assert b"relu_ext" not in (tmp_path / "stock.pt").read_bytes()
    # deepcopy, dtype and device moves
    twin = copy.deepcopy(zoo)
    assert twin["seq"][2].weight is not zoo["seq"][2].weight
    torch.testing.assert_close(_run(twin, x, s), want)
    twin.double()
    assert twin["seq"][2].weight.dtype == torch.float64
    torch.testing.assert_close(_run(twin, x.double(), s.double()), tuple(w.double() for w in want),
                               rtol=1e-5, atol=1e-5)
    seq = copy.deepcopy(zoo["seq"]).to(torch.bfloat16)
    assert seq(x.bfloat16()).dtype == torch.bfloat16
