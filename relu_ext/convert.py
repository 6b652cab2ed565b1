"""Swap torch.nn activations in a built model for relu_ext's, and back."""
from typing import Iterable, Optional, Union

from torch import nn

from . import modules

# torch.nn type -> (relu_ext type, name accepted by ``types=``)
_PAIRS = {
    nn.ReLU: (modules.ReLU, "relu"),
    nn.LeakyReLU: (modules.LeakyReLU, "leaky_relu"),
    nn.PReLU: (modules.PReLU, "prelu"),
    nn.ELU: (modules.ELU, "elu"),
    nn.GELU: (modules.GELU, "gelu"),
}
_NAMES = {name: torch_type for torch_type, (_, name) in _PAIRS.items()}


def _rebuild(module, cls):
    """A module of class ``cls`` with ``module``'s hyperparameters, the same Parameter
    objects (values, device, dtype, requires_grad: optimizer state keeps working), hooks
    and training mode: a new instance of the other class over the same ``__dict__``."""
    new = cls.__new__(cls)
    new.__dict__ = {k: (v.copy() if isinstance(v, dict) else v)
                    for k, v in module.__dict__.items()}
    return new


def _swap(model, pick):
    new_cls = pick(model)
    if new_cls is not None:
        return _rebuild(model, new_cls)
    for name, child in model.named_children():
        new_child = _swap(child, pick)
        if new_child is not child:
            setattr(model, name, new_child)
    return model


def _torch_types(types):
    if types is None:
        return set(_PAIRS)
    out = set()
    for t in types:
        if isinstance(t, str):
            if t not in _NAMES:
                raise ValueError(f"relu_ext.convert: unknown activation {t!r} in types; "
                                 f"choose from {sorted(_NAMES)} or torch.nn classes")
            out.add(_NAMES[t])
        elif t in _PAIRS:
            out.add(t)
        else:
            raise ValueError(f"relu_ext.convert: types must name torch.nn.ReLU, LeakyReLU, "
                             f"PReLU, ELU or GELU (a class or {sorted(_NAMES)}), got {t!r}")
    return out


def convert(model: nn.Module,
            types: Optional[Iterable[Union[str, type]]] = None) -> nn.Module:
    """Replace, in place, every submodule whose type is exactly torch.nn.ReLU, LeakyReLU,
    PReLU, ELU or GELU with relu_ext's, at any depth (Sequential, ModuleList, ModuleDict,
    activations held as attributes such as ``TransformerEncoderLayer(activation=GELU())``).

    Hyperparameters, parameters (the same Parameter objects: values, device, dtype,
    requires_grad, optimizer state), hooks and training mode are kept. ``types`` limits the
    swap to some activations: torch.nn classes or names (``"relu"``, ``"leaky_relu"``,
    ``"prelu"``, ``"elu"``, ``"gelu"``). Subclasses of those types are left alone: they may
    change the behaviour. Returns ``model``, or its replacement when ``model`` itself is such
    an activation. :func:`revert` is the exact inverse.
    """
    wanted = _torch_types(types)
    return _swap(model, lambda m: _PAIRS[type(m)][0] if type(m) in wanted else None)


_BACK = {ours: theirs for theirs, (ours, _) in _PAIRS.items()}


def revert(model: nn.Module) -> nn.Module:
    """Undo :func:`convert`: every relu_ext activation module becomes the torch.nn one with
    the same hyperparameters, Parameters, hooks and training mode (for example before
    ``torch.save`` of a whole model that must load without relu_ext). In place; returns
    ``model``, or its replacement when ``model`` itself is a relu_ext activation."""
    return _swap(model, lambda m: _BACK.get(type(m)))
