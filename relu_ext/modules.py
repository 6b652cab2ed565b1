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


def _memory_efficient_repr(module, base: str) -> str:
    return base + ", memory_efficient=True" if module.memory_efficient else base


class ELU(nn.ELU):
    """``ELU(alpha=1.0, inplace=False, memory_efficient=False)``, as :class:`torch.nn.ELU`;
    ``memory_efficient=True`` (``alpha >= 0``) keeps the output for backward instead of the
    input (see :func:`relu_ext.functional.elu`)."""

    memory_efficient = False  # modules made by relu_ext.convert() get it from here

    def __init__(self, alpha: float = 1.0, inplace: bool = False,
                 memory_efficient: bool = False) -> None:
        super().__init__(alpha, inplace)
        if memory_efficient and alpha < 0:
            raise ValueError(f"ELU: memory_efficient=True needs alpha >= 0, got alpha={alpha}")
        self.memory_efficient = memory_efficient

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace, self.memory_efficient)

    def extra_repr(self) -> str:
        return _memory_efficient_repr(self, super().extra_repr())


class GELU(nn.GELU):
    """``GELU(approximate='none', memory_efficient=False)``, as :class:`torch.nn.GELU`;
    ``memory_efficient=True`` keeps the output and 1 bit per element for backward instead of
    the input (see :func:`relu_ext.functional.gelu`)."""

    memory_efficient = False

    def __init__(self, approximate: str = "none", memory_efficient: bool = False) -> None:
        super().__init__(approximate)
        self.memory_efficient = memory_efficient

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate, self.memory_efficient)

    def extra_repr(self) -> str:
        return _memory_efficient_repr(self, super().extra_repr())
