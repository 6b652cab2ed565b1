"""Drop-in nn.Module activations backed by relu_ext's fused kernels.

Each subclasses its torch.nn counterpart: same constructor, attributes, ``extra_repr``,
``state_dict`` keys (state dicts load both ways) and ``isinstance`` checks; only
``forward`` differs.
"""
from torch import Tensor, nn

from . import functional as F

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "GELU"]


class ReLU(nn.ReLU):
    """relu_ext's ReLU: ``ReLU(inplace=False)``, as :class:`torch.nn.ReLU`."""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)


class LeakyReLU(nn.LeakyReLU):
    """``LeakyReLU(negative_slope=0.01, inplace=False)``, as :class:`torch.nn.LeakyReLU`."""

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)


class PReLU(nn.PReLU):
    """``PReLU(num_parameters=1, init=0.25, device=None, dtype=None)``, as
    :class:`torch.nn.PReLU`; ``weight`` is the learnable slope, 1 or C = ``input.size(1)``
    values."""

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)


class ELU(nn.ELU):
    """``ELU(alpha=1.0, inplace=False)``, as :class:`torch.nn.ELU`."""

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)


class GELU(nn.GELU):
    """``GELU(approximate='none')``, as :class:`torch.nn.GELU`."""

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)
