"""Drop-in nn.Module activations backed by relu_ext's fused kernels.

Each subclasses its torch.nn counterpart: same constructor, attributes, ``extra_repr``,
``state_dict`` keys (state dicts load both ways) and ``isinstance`` checks; only
``forward`` differs.
"""
import torch
from torch import Tensor, nn

from . import functional as F

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "GELU", "LinearAct"]


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
    __constants__ = nn.ELU.__constants__ + ["memory_efficient"]  # (for torch.jit.script)

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
    __constants__ = nn.GELU.__constants__ + ["memory_efficient"]

    def __init__(self, approximate: str = "none", memory_efficient: bool = False) -> None:
        super().__init__(approximate)
        self.memory_efficient = memory_efficient

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate, self.memory_efficient)

    def extra_repr(self) -> str:
        return _memory_efficient_repr(self, super().extra_repr())


class LinearAct(nn.Linear):
    """``activation(input @ weight.T + bias)``: a bias-free matmul, then the bias add and the
    activation fused in one pass (:func:`relu_ext.functional.bias_act`; its backward gives
    the input and bias gradients in one pass too).

    ``LinearAct(in_features, out_features, activation="relu", bias=True, device=None,
    dtype=None, **act_kwargs)``: the parameters, their initialization and the state_dict keys
    are :class:`torch.nn.Linear`'s (``weight``, ``bias``); ``activation`` and its keywords
    as in ``bias_act`` (``"relu"``, ``"leaky_relu"`` with ``negative_slope``, ``"elu"`` with
    ``alpha``, ``"gelu"`` with ``approximate``, ``"prelu"`` with ``num_parameters`` and
    ``init``, whose weight is the parameter ``activation_weight``).
    """

    def __init__(self, in_features: int, out_features: int, activation: str = "relu",
                 bias: bool = True, device=None, dtype=None, **act_kwargs) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.activation = activation
        if activation == "prelu":
            num, init = act_kwargs.pop("num_parameters", 1), act_kwargs.pop("init", 0.25)
            if num not in (1, out_features):
                raise ValueError(f"LinearAct: num_parameters must be 1 or out_features "
                                 f"({out_features}), got {num}")
            self.activation_weight = nn.Parameter(
                torch.full((num,), float(init), device=device, dtype=dtype))
        F.bias_act(torch.zeros(1, 1), torch.zeros(1), activation,  # checks the keywords
                   **({"weight": torch.zeros(1)} if activation == "prelu" else act_kwargs))
        self.act_kwargs = dict(act_kwargs)

    def forward(self, input: Tensor) -> Tensor:
        return F.bias_act(nn.functional.linear(input, self.weight), self._bias(),
                          self.activation, **self._act_kwargs())

    def _bias(self) -> Tensor:
        return self.bias if self.bias is not None else torch.zeros_like(self.weight[:, 0])

    def _act_kwargs(self) -> dict:
        """bias_act's keywords (PReLU's weight too; the dead-unit monitor takes them)."""
        kwargs = dict(self.act_kwargs)
        if self.activation == "prelu":
            kwargs["weight"] = self.activation_weight
        return kwargs

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.act_kwargs.items())
        return f"{super().extra_repr()}, activation={self.activation!r}{extra}"

    def __prepare_scriptable__(self) -> nn.Module:
        return _ScriptedLinearAct(self)


class _ScriptedLinearAct(nn.Module):
    """What torch.jit.script compiles for a :class:`LinearAct`: the same parameters (the
    same objects, the same state_dict keys), the activation's keywords as typed constants."""

    __constants__ = ["activation", "negative_slope", "alpha", "approximate"]

    def __init__(self, m: LinearAct) -> None:
        super().__init__()
        self.weight = m.weight
        self.register_parameter("bias", m.bias)
        if m.activation == "prelu":
            self.activation_weight = m.activation_weight
        else:
            self.activation_weight = None
        self.activation = m.activation
        self.negative_slope = float(m.act_kwargs.get("negative_slope", 0.01))
        self.alpha = float(m.act_kwargs.get("alpha", 1.0))
        self.approximate = str(m.act_kwargs.get("approximate", "none"))
        self.train(m.training)

    def forward(self, input: Tensor) -> Tensor:
        y = nn.functional.linear(input, self.weight)
        bias = self.bias
        if bias is None:
            bias = torch.zeros_like(self.weight[:, 0])
        return F.bias_act(y, bias, self.activation, dim=-1,  # (F.bias_act's twin in script)
                          negative_slope=self.negative_slope, alpha=self.alpha,
                          approximate=self.approximate, weight=self.activation_weight)
