"""Inputs relu_ext's kernels do not take as they are, and what _C's entry points
(csrc/python.cpp) and the traced functional API call for them instead: tensors of another
layout (sparse, quantized, nested, MKL-DNN) go to torch's own function; DTensors to
relu_ext's op on their local shard (the elementwise ops, bias_act) or to torch's function
(in place, PReLU)."""
import sys

import torch

from . import _C

_ops = torch.ops.relu_ext
_is_compiling = torch.compiler.is_dynamo_compiling

# Inputs of a layout relu_ext's kernels do not take (sparse, quantized, nested, MKL-DNN) go
# to torch's own function, called by _C's entry points with the same arguments: torch's
# result and torch's errors. (torch._C's functions, never torch.relu: patch() replaces that.)
TORCH_FUNCTIONS = {
    "relu": torch._C._VariableFunctions.relu,
    "relu_": torch._C._VariableFunctions.relu_,
    "leaky_relu": torch._C._nn.leaky_relu,
    "leaky_relu_": torch._C._nn.leaky_relu_,
    "prelu": torch._C._VariableFunctions.prelu,
    "elu": lambda input, alpha, memory_efficient: torch._C._nn.elu(input, alpha),
    "elu_": torch._C._nn.elu_,
    "gelu": lambda input, approximate, memory_efficient: torch._C._nn.gelu(
        input, approximate=approximate),
}


def _dtensor_type():
    module = sys.modules.get("torch.distributed.tensor")  # (no DTensor before its import)
    return getattr(module, "DTensor", None)


def is_dtensor(input):
    dtensor = _dtensor_type()
    return dtensor is not None and isinstance(input, dtensor)


def _on_local_shard(name):
    """An elementwise op on a DTensor: relu_ext's op on the local shard, the result with the
    input's placements (partial sums are summed first: the op is not linear). Autograd goes
    through DTensor's to_local and from_local."""
    def run(input, *args):
        from torch.distributed.tensor import DTensor, Replicate
        op = getattr(_ops, name).default if _is_compiling() else getattr(_C, name)
        placements = tuple(Replicate() if p.is_partial() else p for p in input.placements)
        if placements != tuple(input.placements):
            input = input.redistribute(input.device_mesh, placements)
        return DTensor.from_local(op(input.to_local(), *args), input.device_mesh, placements,
                                  run_check=False, shape=input.shape, stride=input.stride())
    return run


def _bias_act_on_local_shards(input, bias, dim, activation, param):
    """bias_act on a DTensor: relu_ext's op on the local shards. Along a mesh dim where the
    input is sharded by the bias's dim, the bias is too (as after a column-wise parallel
    Linear); along any other, the bias is whole, and where the input is sharded (by rows) its
    gradient there is a partial sum."""
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard
    op = _ops.bias_act.default if _is_compiling() else _C.bias_act
    mesh = input.device_mesh
    d = dim % input.ndim
    placements = tuple(Replicate() if p.is_partial() else p for p in input.placements)
    if placements != tuple(input.placements):
        input = input.redistribute(mesh, placements)
    by_channel = [p.is_shard(d) for p in placements]
    if not isinstance(bias, DTensor):
        bias = DTensor.from_local(bias, mesh, [Replicate()] * mesh.ndim, run_check=False)
    want = tuple(Shard(0) if c else Replicate() for c in by_channel)
    if tuple(bias.placements) != want:
        bias = bias.redistribute(mesh, want)
    grads = [Shard(0) if c else Partial() if p.is_shard() else Replicate()
             for c, p in zip(by_channel, placements)]
    local = op(input.to_local(), bias.to_local(grad_placements=grads), dim, activation, param)
    return DTensor.from_local(local, mesh, placements, run_check=False, shape=input.shape,
                              stride=input.stride())


# DTensor inputs: the elementwise ops and bias_act on the local shards; the in-place ones and
# PReLU by torch's function; the others (bias_act with PReLU, act_stats) have no rule.
DTENSOR_FUNCTIONS = {
    **{name: _on_local_shard(name) for name in ("relu", "leaky_relu", "elu", "gelu")},
    **{name: TORCH_FUNCTIONS[name] for name in ("relu_", "leaky_relu_", "elu_", "prelu")},
    "bias_act": _bias_act_on_local_shards,
}


def other_function(name, input):
    """What _C's entry point for op `name` calls instead, given an input (a tensor subclass,
    or a tensor of another layout) its kernels do not take as it is; None: the op as usual."""
    if is_dtensor(input):
        return DTENSOR_FUNCTIONS.get(name)
    if input.layout != torch.strided or input.is_quantized or input.is_nested:
        return TORCH_FUNCTIONS.get(name)
    return None
