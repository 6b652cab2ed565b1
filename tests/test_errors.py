"""Bad input: the exception type torch raises, with a message naming the op and the
argument; the fake kernels (torch.compile, meta tensors) raise the same."""
import pytest
import torch

import relu_ext.functional as F

ops = torch.ops.relu_ext


def _cases(device):
    x = torch.randn(2, 3, 4, device=device)
    i = torch.arange(6, device=device)
    return [
        # (callable, exception, words the message must contain)
        (lambda: F.gelu(i), NotImplementedError, ["relu_ext::gelu", "self", "floating"]),
        (lambda: F.elu(i), NotImplementedError, ["relu_ext::elu", "self"]),
        (lambda: F.leaky_relu(i), NotImplementedError, ["relu_ext::leaky_relu", "self"]),
        (lambda: F.prelu(i, torch.ones(1, device=device)), NotImplementedError, ["prelu", "self"]),
        (lambda: F.gelu(x.to(torch.complex64)), NotImplementedError, ["gelu", "self"]),
        (lambda: F.relu(x.to(torch.complex64)), NotImplementedError, ["relu", "self"]),
        (lambda: F.relu(torch.tensor([True], device=device)), RuntimeError, ["Boolean"]),
        (lambda: F.gelu(x, approximate="fast"), RuntimeError, ["gelu", "approximate", "fast"]),
        (lambda: F.prelu(x, torch.ones(2, device=device)), RuntimeError,
         ["prelu", "weight", "channels"]),
        (lambda: F.prelu(x, torch.ones(3, 1, device=device)), RuntimeError,
         ["prelu", "weight", "ndim"]),
        (lambda: F.prelu(x, torch.ones(3, device=device, dtype=torch.float64)), RuntimeError,
         ["prelu", "weight", "dtype"]),
        (lambda: F.prelu(torch.randn((), device=device), torch.ones(3, device=device)),
         RuntimeError, ["prelu", "weight"]),
        (lambda: F.prelu(torch.randn(5, device=device), torch.ones(5, device=device)),
         RuntimeError, ["prelu", "weight"]),
        (lambda: ops.relu_backward(x, x.double()), RuntimeError,
         ["relu_backward", "grad_output", "dtype"]),
        (lambda: ops.gelu_backward(x[:1], x, "none"), RuntimeError,
         ["gelu_backward", "grad_output", "size"]),
        (lambda: ops.elu_backward(x, x, -1.0, True), RuntimeError, ["elu_backward", "negative"]),
        (lambda: ops.leaky_relu_backward(x, x, -0.1, True), RuntimeError,
         ["leaky_relu_backward", "negative"]),
        (lambda: ops.prelu_backward(x, x, torch.ones(2, device=device)), RuntimeError,
         ["prelu_backward", "weight"]),
        (lambda: F.elu_(i), NotImplementedError, ["elu_", "self"]),
        # a mask of the right size starting mid-word (its kernels read 32-bit words)
        (lambda: ops.leaky_relu_mask_backward(
            x, torch.zeros(5, dtype=torch.uint8, device=device)[1:], 0.1), RuntimeError,
         ["leaky_relu_mask_backward", "mask", "4-byte boundary"]),
        (lambda: ops.gelu_inverse(x, torch.zeros(6, dtype=torch.uint8, device=device)[2:], "none"),
         RuntimeError, ["gelu_inverse", "mask", "4-byte boundary"]),
    ]


@pytest.mark.parametrize("idx", range(len(_cases("cpu"))))
def test_error(idx, device):
    fn, exc, words = _cases(device)[idx]
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize("idx", range(len(_cases("cpu"))))
def test_fake_raises_the_same(idx):
    """Under FakeTensorMode the registered fakes run: same exception type."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    _, exc, _ = _cases("cpu")[idx]
    with FakeTensorMode():
        fn, _, words = _cases("cpu")[idx]
        with pytest.raises(exc) as info:
            fn()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_mismatched_devices_meta():
    x = torch.randn(2, 3, device="meta")
    w = torch.ones(3)
    with pytest.raises(RuntimeError, match="weight.*device"):
        F.prelu(x, w)
    assert F.gelu(x).device.type == "meta" and F.gelu(x).shape == x.shape


CRASH_PRONE = r'''
import sys, torch, relu_ext
import relu_ext.functional as F
ops = torch.ops.relu_ext
x = torch.randn(4, 3, 5)
cases = {
    "inplace on expanded (overlapping) memory": lambda: F.relu_(torch.randn(3, 1).expand(3, 4)),
    "inplace on a leaf that requires grad": lambda: F.elu_(torch.randn(3, requires_grad=True)),
    "backward with a broadcast-shaped grad": lambda: ops.gelu_backward(x[:, :1], x, "none"),
    "backward with a mismatched device": lambda: ops.relu_backward(x, x.to("meta")),
    "prelu with an empty weight": lambda: F.prelu(x, torch.ones(0)),
    "prelu with a 2-D weight": lambda: F.prelu(x, torch.ones(1, 3)),
    "prelu weight on another device": lambda: F.prelu(x, torch.ones(3, device="meta")),
    "prelu_backward weight of another dtype":
        lambda: ops.prelu_backward(x, x, torch.ones(3, dtype=torch.float64)),
    "gelu with an unknown form": lambda: ops.gelu(x, "erf"),
    "elu_backward with a wrong-sized grad": lambda: ops.elu_backward(x[0], x, 1.0, False),
    "gelu of a sparse tensor": lambda: F.gelu(x.to_sparse()),  # (torch's error)
    "bias_act of a sparse tensor": lambda: F.bias_act(x.to_sparse(), torch.ones(5)),
    "elu of a quantized tensor":
        lambda: F.elu(torch.quantize_per_tensor(x, 0.1, 0, torch.qint8)),
}
# Accepted as torch accepts them (its overlap check cannot decide these): no crash.
survive = {
    "inplace leaky on an overlapping as_strided view":
        lambda: F.leaky_relu_(torch.randn(10).as_strided((4, 4), (1, 1)), 0.1),
    "elu of a zero-stride view": lambda: F.elu(torch.randn(1).expand(1000)),
    "gelu of a negative-offset slice": lambda: F.gelu(torch.randn(100)[50:].flip(0)),
    "relu of a quantized tensor (torch's function)":
        lambda: F.relu(torch.quantize_per_tensor(x, 0.1, 0, torch.qint8)),
}
for name, fn in survive.items():
    fn()
    print("ok:", name)
for name, fn in cases.items():
    try:
        fn()
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:
        assert str(e), name
        print("ok:", name, "->", type(e).__name__)
        continue
    sys.exit(f"no exception: {name}")
print("all raised")
'''


def test_crash_prone_inputs_raise_in_a_subprocess():
    """Odd memory (overlapping, as_strided), devices, weights, layouts (sparse, quantized):
    each a clear Python exception. Run in a child process, so that a crash (a segfault or
    an abort) fails this test instead of killing the run."""
    from child import run_python

    proc = run_python(CRASH_PRONE)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "all raised" in proc.stdout, proc.stdout


def _typed_cases():
    """(op, arguments, the argument named): each with one argument of a type the op does not
    take there."""
    x, b = torch.randn(2, 4), torch.zeros(4)
    return [
        ("relu", ([1.0],), "input"),
        ("leaky_relu", (x, "0.1"), "negative_slope"),
        ("elu", (x, None, False), "alpha"),
        ("gelu", (x, 3, False), "approximate"),
        ("prelu", (x, None), "weight"),
        ("bias_act", (x, None, -1, "relu", 0.0), "bias"),
        ("bias_act", (x, b, 1.0, "relu", 0.0), "dim"),  # a float for an int
        ("bias_act", (x, b, -1, "relu", 2**1100), "param"),  # an int beyond a double's range
        ("act_stats", (x, 1.0, 1, "relu", 0.0), "weight"),
    ]


@pytest.mark.parametrize("idx", range(len(_typed_cases())))
def test_wrong_argument_types_raise_type_error(idx):
    """relu_ext._C's entry points (what the functional API calls) raise TypeError naming the
    op and the argument for an argument of the wrong type, as torch's functions do (the
    OpOverload raises RuntimeError for most of them, NotImplementedError for a non-tensor
    input)."""
    import relu_ext._C as entry

    name, args, arg = _typed_cases()[idx]
    with pytest.raises(TypeError) as info:
        getattr(entry, name)(*args)
    message = str(info.value)
    assert f"relu_ext::{name}" in message, message
    assert f"'{arg}'" in message or f" {arg} " in message, message  # quoted, or in a sentence
    with pytest.raises((TypeError, RuntimeError, NotImplementedError)):
        getattr(ops, name).default(*args)  # (the OpOverload also refuses it)


def test_functional_wrong_types_raise_type_error():
    x = torch.randn(3, 4)
    for call, arg in [(lambda: F.elu(None), "input"), (lambda: F.gelu(x.tolist()), "input"),
                      (lambda: F.leaky_relu(x, "0.1"), "negative_slope"),
                      (lambda: F.bias_act(x, None), "bias"),
                      (lambda: F.prelu(x, None), "weight"),
                      (lambda: F.gelu(x, approximate=None), "approximate")]:
        with pytest.raises(TypeError, match=arg):
            call()


def test_entry_points_take_what_torch_ops_takes():
    """An int where the schema has a float or a bool, a Parameter for a tensor, None for an
    optional tensor: the same results as the OpOverload's."""
    import relu_ext._C as entry

    x = torch.randn(3, 5)
    w = torch.nn.Parameter(torch.rand(5))
    calls = [("leaky_relu", (x, 2)), ("elu", (x, 3, False)), ("elu", (x, 1.0, 1)),
             ("prelu", (x, w)),
             ("bias_act", (x, w, 1, "elu", 1)), ("act_stats", (x, None, 1, "relu", 0.0)),
             ("gelu", (x, "tanh", False))]
    for name, args in calls:
        ours, theirs = getattr(entry, name)(*args), getattr(ops, name).default(*args)
        for a, b in zip(*(r if isinstance(r, tuple) else (r,) for r in (ours, theirs))):
            assert torch.equal(a, b), name
