"""Inputs relu_ext's kernels do not take as they are, and what _C's entry points
(csrc/python.cpp) and the traced functional API call for them instead: tensors of another
layout (sparse, quantized, nested, MKL-DNN) go to torch's own function; DTensors to
relu_ext's op on their local shards (the elementwise ops, PReLU, bias_act, act_stats) or
to torch's function (in place)."""
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


def plain_layout(input):
    """Whether `input` has a layout relu_ext's kernels take (csrc/python.cpp: plain_layout)."""
    return input.layout == torch.strided and not (input.is_quantized or input.is_nested)


def _op(name):
    """relu_ext's op `name` for a local shard: _C's entry point, or the OpOverload when traced."""
    return getattr(_ops, name).default if _is_compiling() else getattr(_C, name)


def _channel_placements(placements, d, per_channel=True):
    """For a tensor of C values along dim `d` of an input with `placements` (or of 1 value:
    per_channel=False): its placements on the local shards (sharded where the input is sharded
    by `d`, else whole), and those of a sum over the input's shard (its gradient, or act_stats's
    counts): sharded alike, else a partial sum where the input is sharded otherwise."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    split = [per_channel and p.is_shard(d) for p in placements]
    return (tuple(Shard(0) if s else Replicate() for s in split),
            [Shard(0) if s else Partial() if p.is_shard() else Replicate()
             for s, p in zip(split, placements)])


def _localize(input, dim, params):
    """A DTensor input for a per-channel op (channels along `dim`) on the local shards: the
    input with its partial sums reduced (the ops are not linear), its placements, and the local
    shards of the per-channel parameters (a bias, a PReLU weight). Along a mesh dim where the
    input is sharded by `dim`, a parameter of C values is sharded too (as after a column-wise
    parallel Linear); along any other, it is whole, and where the input is sharded its
    gradient there is a partial sum. A parameter of 1 value is whole everywhere."""
    from torch.distributed.tensor import DTensor, Replicate
    mesh = input.device_mesh
    placements = tuple(Replicate() if p.is_partial() else p for p in input.placements)
    if placements != tuple(input.placements):
        input = input.redistribute(mesh, placements)
    d = dim % input.ndim
    local_params = []
    for param in params:
        want, grads = _channel_placements(placements, d, per_channel=param.numel() != 1)
        if not isinstance(param, DTensor):
            param = DTensor.from_local(param, mesh, [Replicate()] * mesh.ndim, run_check=False)
        if tuple(param.placements) != want:
            param = param.redistribute(mesh, want)
        local_params.append(param.to_local(grad_placements=grads))
    return input, placements, local_params


def _like(local, input, placements):
    from torch.distributed.tensor import DTensor
    return DTensor.from_local(local, input.device_mesh, placements, run_check=False,
                              shape=input.shape, stride=input.stride())


def _on_local_shard(name):
    """An elementwise op on a DTensor: relu_ext's op on the local shard, the result with the
    input's placements. Autograd goes through DTensor's to_local and from_local."""
    def run(input, *args):
        input, placements, _ = _localize(input, 0, [])
        return _like(_op(name)(input.to_local(), *args), input, placements)
    return run


def _prelu_on_local_shards(input, weight):
    input, placements, (w,) = _localize(input, 1 if input.ndim > 1 else 0, [weight])
    return _like(_op("prelu")(input.to_local(), w), input, placements)


def _bias_act_on_local_shards(input, bias, dim, activation, param):
    input, placements, (b,) = _localize(input, dim, [bias])
    return _like(_op("bias_act")(input.to_local(), b, dim, activation, param), input, placements)


def _bias_prelu_on_local_shards(input, bias, weight, dim):
    input, placements, (b, w) = _localize(input, dim, [bias, weight])
    return _like(_op("bias_prelu")(input.to_local(), b, w, dim), input, placements)


def _act_stats_on_local_shards(input, weight, dim, activation, param, bias=None):
    """act_stats (the dead-unit monitor's op) on a DTensor: the activation as the elementwise
    ops (with a bias, as bias_act), and the per-channel counts as a DTensor: sharded where the
    input is sharded by channels, a partial sum where it is sharded otherwise (full_tensor()
    adds them up)."""
    from torch.distributed.tensor import DTensor
    given = [t for t in (weight, bias) if t is not None]
    input, placements, local = _localize(input, dim, given)
    local = iter(local)
    w = None if weight is None else next(local)
    b = None if bias is None else next(local)
    y, counts = _op("act_stats")(input.to_local(), w, dim, activation, param, b)
    d = dim % input.ndim
    _, count_placements = _channel_placements(placements, d)
    return _like(y, input, placements), DTensor.from_local(
        counts, input.device_mesh, count_placements, run_check=False, shape=(input.shape[d],),
        stride=(1,))


# DTensor inputs: the elementwise ops, PReLU, bias_act and act_stats on the local shards; the
# in-place ones by torch's function.
DTENSOR_FUNCTIONS = {
    **{name: _on_local_shard(name) for name in ("relu", "leaky_relu", "elu", "gelu")},
    **{name: TORCH_FUNCTIONS[name] for name in ("relu_", "leaky_relu_", "elu_")},
    "prelu": _prelu_on_local_shards,
    "bias_act": _bias_act_on_local_shards,
    "bias_prelu": _bias_prelu_on_local_shards,
    "act_stats": _act_stats_on_local_shards,
}


def other_function(name, input):
    """What _C's entry point for op `name` calls instead, given an input (a tensor subclass,
    or a tensor of another layout) its kernels do not take as it is; None: the op as usual."""
    if is_dtensor(input):
        return DTENSOR_FUNCTIONS.get(name)
    if not plain_layout(input):
        return TORCH_FUNCTIONS.get(name)
    return None
