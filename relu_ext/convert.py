"""Swap torch.nn activations in a built model for relu_ext's."""
from torch import nn

from . import modules

_REPLACEMENTS = {
    nn.ReLU: lambda m: modules.ReLU(inplace=m.inplace),
    nn.LeakyReLU: lambda m: modules.LeakyReLU(m.negative_slope, inplace=m.inplace),
    nn.ELU: lambda m: modules.ELU(m.alpha, inplace=m.inplace),
    nn.GELU: lambda m: modules.GELU(approximate=m.approximate),
    nn.PReLU: lambda m: _prelu(m),
}


def _prelu(m):
    # Built on the meta device (nothing allocated), then given the same Parameter, so that
    # optimizer state keeps working.
    new = modules.PReLU(m.num_parameters, m.init, device="meta")
    new.weight = m.weight
    return new


def _replacement(module):
    make = _REPLACEMENTS.get(type(module))
    if make is None:
        return None
    new = make(module)
    new.train(module.training)
    return new


def convert(model: nn.Module) -> nn.Module:
    """Replace, in place, every submodule whose type is exactly torch.nn.ReLU, LeakyReLU,
    PReLU, ELU or GELU with relu_ext's, keeping hyperparameters, parameters (the same
    Parameter objects: values, device, dtype, requires_grad) and training mode.

    Returns ``model``, or its replacement when ``model`` itself is such an activation.
    Subclasses of those types are left alone: they may change the behaviour.
    """
    new = _replacement(model)
    if new is not None:
        return new
    for name, child in model.named_children():
        new = _replacement(child)
        if new is not None:
            setattr(model, name, new)
        else:
            convert(child)
    return model
