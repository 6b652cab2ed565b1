"""More than 2^31 elements (64-bit indexing): values right at both ends and the middle.
bfloat16, ~4.3 GB a tensor; marked slow (seconds here, memory-heavy). On the CPU and, when one
is present, the GPU (`device`, conftest.py)."""
import pytest
import torch

import relu_ext.functional as F

N = 2**31 + 77
pytestmark = pytest.mark.slow


def _probe_indices():
    return [0, 1, 2**30, 2**31 - 1, 2**31, 2**31 + 1, N - 2, N - 1]


def _input(device):
    x = torch.full((N,), -2.0, dtype=torch.bfloat16, device=device)
    idx = torch.tensor(_probe_indices(), device=device)
    x[idx[::2]] = 3.0  # alternate signs at the probes
    return x, idx


def test_relu_and_leaky_relu_inplace_beyond_2_31(device):
    x, idx = _input(device)
    y = F.relu(x)
    torch.testing.assert_close(y[idx], torch.relu(x[idx]))
    assert y[N // 2].item() == 0.0  # not a probe: negative input
    del y
    F.leaky_relu_(x, 0.25)
    expect = torch.tensor([3.0, -0.5] * 4, dtype=torch.bfloat16, device=device)
    torch.testing.assert_close(x[idx], expect)
    assert x[N // 2 + 3].item() == -0.5


def test_strided_gelu_beyond_2_31(device):
    """A non-contiguous view (every other element of 2N) goes through the strided path."""
    x, idx = _input(device)
    view = x.as_strided((N // 2,), (2,))  # 2^30 elements spanning > 2^31 storage positions
    y = F.gelu(view)
    probe = torch.tensor([0, N // 4, N // 2 - 1], device=device)
    torch.testing.assert_close(y[probe], torch.nn.functional.gelu(view[probe]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_prelu_backward_beyond_2_31_cuda():
    """Input and weight gradients over one channel of > 2^31 elements: the weight gradient is
    an analytic sum, the input gradient w·g on the negative side and g elsewhere. On the GPU
    only: four 4.3 GB tensors are more than the CI host's memory leaves beside the other
    tests (the CPU's 64-bit paths are the two tests above)."""
    device = "cuda"
    x, idx = _input(device)
    x = x.view(1, 1, N)  # one channel: w has one entry
    w = torch.tensor([0.25], dtype=torch.bfloat16, device=device, requires_grad=True)
    xg = x.detach().requires_grad_()
    y = F.prelu(xg, w)
    g = torch.ones_like(y)
    gx, gw = torch.autograd.grad(y, (xg, w), g)
    # Inputs are -2 except +3 at four probes: dL/dw = sum of the negative inputs.
    expect_gw = torch.tensor([-2.0 * (N - 4)], dtype=torch.float64)
    torch.testing.assert_close(gw.double().cpu(), expect_gw, rtol=1e-2, atol=0)
    flat = gx.view(-1)
    expect = torch.tensor([1.0, 0.25] * 4, dtype=torch.bfloat16, device=device)
    torch.testing.assert_close(flat[idx], expect)
    assert flat[N // 2].item() == 0.25
