"""torch.nn.functional-compatible activations backed by relu_ext's fused kernels.

Signatures and defaults are those of torch.nn.functional. Every function accepts a
tensor of any shape and memory layout and returns a tensor of the same shape, dtype and
layout (float32, float64, float16, bfloat16; relu also takes integer tensors). Sparse,
quantized, nested and MKL-DNN tensors go to torch's own function; DTensors to relu_ext's
op on their local shards (in-place calls to torch's function): see _other_inputs.py.
"""
from types import SimpleNamespace
from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._other_inputs import DTENSOR_FUNCTIONS, is_dtensor

_ops = torch.ops.relu_ext
_NAMES = ("relu", "relu_", "leaky_relu", "leaky_relu_", "prelu", "elu", "elu_", "gelu",
          "bias_act", "bias_prelu")
_is_compiling = torch.compiler.is_dynamo_compiling


def _traced_op(name):
    """What torch.compile traces for op `name`: its OpOverload, or for a DTensor input what
    _other_inputs.DTENSOR_FUNCTIONS names (_C's entry points ask _other_inputs themselves)."""
    op = getattr(_ops, name).default
    if name not in DTENSOR_FUNCTIONS:
        return op

    def traced(input, *args):
        if is_dtensor(input):
            return DTENSOR_FUNCTIONS[name](input, *args)
        return op(input, *args)
    return traced


# Each op twice: its OpOverload (looked up once), which torch.compile traces, and _C's entry
# point for it (csrc/python.cpp), which every other call takes: the same dispatcher call with
# typed argument conversion, about 0.4 µs a call less than the OpOverload, and with one Python
# frame less. Dynamo cannot trace into the C++ function, and never meets it: it takes
# is_dynamo_compiling() (False when run) for True. Calls pass every schema argument.
_traced = SimpleNamespace(**{n: _traced_op(n) for n in _NAMES})
_direct = SimpleNamespace(**{n: getattr(_C, n) for n in _NAMES})


__all__ = ["relu", "relu_", "leaky_relu", "leaky_relu_", "prelu", "elu", "elu_", "gelu",
           "bias_act"]


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0), elementwise. ``inplace=True`` overwrites ``input`` and returns it."""
    ops = _traced if _is_compiling() else _direct
    if inplace:
        ops.relu_(input)
        return input
    return ops.relu(input)


def relu_(input: Tensor) -> Tensor:
    """In-place :func:`relu`; returns ``input``."""
    ops = _traced if _is_compiling() else _direct
    ops.relu_(input)
    return input


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, ``negative_slope * input`` elsewhere."""
    ops = _traced if _is_compiling() else _direct
    if inplace:
        ops.leaky_relu_(input, negative_slope)
        return input
    return ops.leaky_relu(input, negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place :func:`leaky_relu`; returns ``input``."""
    ops = _traced if _is_compiling() else _direct
    ops.leaky_relu_(input, negative_slope)
    return input


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``input`` where positive, ``weight[c] * input`` elsewhere.

    ``weight`` has 1 element (shared) or C elements, C = ``input.size(1)`` (dim 1 is the
    channel dimension, as in torch); same dtype and device as ``input``.
    """
    ops = _traced if _is_compiling() else _direct
    return ops.prelu(input, weight)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False,
        memory_efficient: bool = False) -> Tensor:
    """``input`` where positive, ``alpha * (exp(input) - 1)`` elsewhere.

    ``memory_efficient=True`` (needs ``alpha >= 0``): autograd keeps the output instead of
    the input (the gradient, ``output + alpha`` where ``input <= 0``, is as accurate as the
    output in absolute terms, not relatively where the output nears ``-alpha``); the output
    must then not be modified in place before backward (autograd raises if it is).
    """
    ops = _traced if _is_compiling() else _direct
    if inplace:
        ops.elu_(input, alpha)
        return input
    return ops.elu(input, alpha, memory_efficient)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`elu`; returns ``input``."""
    ops = _traced if _is_compiling() else _direct
    ops.elu_(input, alpha)
    return input


def gelu(input: Tensor, approximate: str = "none", memory_efficient: bool = False) -> Tensor:
    """``input * Phi(input)``; ``approximate='tanh'`` uses the tanh approximation.

    ``memory_efficient=True``: autograd keeps the output (which the next layer usually
    keeps anyway) and 1 bit per element instead of the input, and the backward recovers the
    input from them (a few Newton steps; gradient error measured in the README). The output
    must then not be modified in place before backward (autograd raises if it is).
    """
    ops = _traced if _is_compiling() else _direct
    return ops.gelu(input, approximate, memory_efficient)


_ACT_KWARGS = {"relu": (), "leaky_relu": ("negative_slope",), "elu": ("alpha",),
               "gelu": ("approximate",), "prelu": ("weight",)}


def bias_act(input: Tensor, bias: Tensor, activation: str = "relu", *, dim: int = -1,
             **act_kwargs) -> Tensor:
    """``activation(input + bias)`` in one pass (and its backward in one pass: grad_input and
    grad_bias together, the bias gradient reduced in the kernel, deterministically).

    ``bias`` has ``C = input.size(dim)`` elements and is broadcast along every other dim:
    ``dim=-1`` (default) is the layout after ``nn.Linear`` (..., C); ``dim=1`` that after a
    convolution (N, C, ...). ``activation``: ``"relu"``, ``"leaky_relu"`` (``negative_slope``,
    default 0.01), ``"elu"`` (``alpha``, default 1.0), ``"gelu"`` (``approximate``, ``"none"``
    or ``"tanh"``), ``"prelu"`` (``weight``: 1 or C values, along ``dim`` too). The
    activation's keywords and defaults are torch.nn.functional's. ``bias`` (and ``weight``)
    have the input's dtype; under autocast ``bias`` is cast to it, as ``nn.Linear``'s is (with
    ``"prelu"``, as torch's prelu: input, bias and weight to the autocast dtype).
    """
    ops = _traced if _is_compiling() else _direct
    activation, param, weight = _bias_act_args(activation, act_kwargs)
    if weight is not None:
        return ops.bias_prelu(input, bias, weight, dim)
    return ops.bias_act(input, bias, dim, activation, param)


def _bias_act_args(activation, act_kwargs):
    """bias_act's activation and keywords, checked, as its ops (and act_stats) take them:
    (activation: one of relu, leaky_relu, elu, gelu, gelu_tanh, prelu; param; PReLU's weight
    or None)."""
    if activation not in _ACT_KWARGS:
        raise ValueError(f"bias_act: activation must be one of {sorted(_ACT_KWARGS)}, "
                         f"got {activation!r}")
    unknown = set(act_kwargs) - set(_ACT_KWARGS[activation])
    if unknown:
        raise TypeError(f"bias_act: {activation} takes no argument {sorted(unknown)[0]!r} "
                        f"(it takes {list(_ACT_KWARGS[activation]) or 'none'})")
    if activation == "prelu":
        if "weight" not in act_kwargs:
            raise TypeError("bias_act: prelu needs weight=")
        return "prelu", 0.0, act_kwargs["weight"]
    if activation == "gelu":
        approximate = act_kwargs.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise ValueError(f"bias_act: approximate must be 'none' or 'tanh', got {approximate!r}")
        return "gelu_tanh" if approximate == "tanh" else "gelu", 0.0, None
    name, default = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}.get(
        activation, (None, 0.0))
    return activation, _number("bias_act", name, act_kwargs.get(name, default)), None


def _number(fn, name, value):
    """value as a float: a number, or a one-element tensor, as torch.nn.functional takes it."""
    if not isinstance(value, str):
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
    raise TypeError(f"{fn}: {name} must be a number, got {value!r}")


# --------------------------------------------------------------------------- TorchScript --
# torch.jit.script compiles these in place of the functions above (each function's
# __prepare_scriptable__, set below, names its twin), as code calling them in a scripted
# model or function: the ops themselves, the same arguments and defaults (bias_act's keywords
# as parameters). Scripted code has no fallback to torch for other layouts.


def _relu_script(input: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        _ops.relu_(input)
        return input
    return _ops.relu(input)


def _relu__script(input: Tensor) -> Tensor:
    _ops.relu_(input)
    return input


def _leaky_relu_script(input: Tensor, negative_slope: float = 0.01,
                       inplace: bool = False) -> Tensor:
    if inplace:
        _ops.leaky_relu_(input, negative_slope)
        return input
    return _ops.leaky_relu(input, negative_slope)


def _leaky_relu__script(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    _ops.leaky_relu_(input, negative_slope)
    return input


def _prelu_script(input: Tensor, weight: Tensor) -> Tensor:
    return _ops.prelu(input, weight)


def _elu_script(input: Tensor, alpha: float = 1.0, inplace: bool = False,
                memory_efficient: bool = False) -> Tensor:
    if inplace:
        _ops.elu_(input, alpha)
        return input
    return _ops.elu(input, alpha, memory_efficient)


def _elu__script(input: Tensor, alpha: float = 1.0) -> Tensor:
    _ops.elu_(input, alpha)
    return input


def _gelu_script(input: Tensor, approximate: str = "none",
                 memory_efficient: bool = False) -> Tensor:
    return _ops.gelu(input, approximate, memory_efficient)


def _bias_act_script(input: Tensor, bias: Tensor, activation: str = "relu", dim: int = -1,
                     negative_slope: float = 0.01, alpha: float = 1.0,
                     approximate: str = "none", weight: Optional[Tensor] = None) -> Tensor:
    if activation == "prelu":
        if weight is None:
            raise TypeError("bias_act: prelu needs weight=")
        return _ops.bias_prelu(input, bias, weight, dim)
    if activation == "gelu":
        if approximate != "none" and approximate != "tanh":
            raise ValueError("bias_act: approximate must be 'none' or 'tanh', got " + approximate)
        return _ops.bias_act(input, bias, dim,
                                    "gelu_tanh" if approximate == "tanh" else "gelu", 0.0)
    if activation == "leaky_relu":
        return _ops.bias_act(input, bias, dim, activation, negative_slope)
    if activation == "elu":
        return _ops.bias_act(input, bias, dim, activation, alpha)
    if activation != "relu":
        raise ValueError("bias_act: activation must be one of ['elu', 'gelu', 'leaky_relu', "
                         "'prelu', 'relu'], got " + activation)
    return _ops.bias_act(input, bias, dim, activation, 0.0)


for _fn, _twin in [(relu, _relu_script), (relu_, _relu__script),
                   (leaky_relu, _leaky_relu_script), (leaky_relu_, _leaky_relu__script),
                   (prelu, _prelu_script), (elu, _elu_script), (elu_, _elu__script),
                   (gelu, _gelu_script), (bias_act, _bias_act_script)]:
    _fn.__prepare_scriptable__ = (lambda twin=_twin: twin)
del _fn, _twin
