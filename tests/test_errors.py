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
