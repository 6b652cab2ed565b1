"""More than 2^31 elements (64-bit indexing): values right at both ends and the middle.
bfloat16, ~4.3 GB a tensor; marked slow (seconds here, memory-heavy)."""
import pytest
import torch

import relu_ext.functional as F

N = 2**31 + 77
pytestmark = pytest.mark.slow


def _probe_indices():
    return [0, 1, 2**30, 2**31 - 1, 2**31, 2**31 + 1, N - 2, N - 1]


def _input():
    x = torch.full((N,), -2.0, dtype=torch.bfloat16)
    idx = torch.tensor(_probe_indices())
    x[idx[::2]] = 3.0  # alternate signs at the probes
    return x, idx


def test_relu_and_leaky_relu_inplace_beyond_2_31():
    x, idx = _input()
    y = F.relu(x)
    torch.testing.assert_close(y[idx], torch.relu(x[idx]))
    assert y[N // 2].item() == 0.0  # not a probe: negative input
    del y
    F.leaky_relu_(x, 0.25)
    expect = torch.tensor([3.0, -0.5] * 4, dtype=torch.bfloat16)
    torch.testing.assert_close(x[idx], expect)
    assert x[N // 2 + 3].item() == -0.5


def test_strided_gelu_beyond_2_31():
    """A non-contiguous view (every other element of 2N) goes through the strided path."""
    x, idx = _input()
    view = x.as_strided((N // 2,), (2,))  # 2^30 elements spanning > 2^31 storage positions
    y = F.gelu(view)
    probe = torch.tensor([0, N // 4, N // 2 - 1])
    torch.testing.assert_close(y[probe], torch.nn.functional.gelu(view[probe]))
