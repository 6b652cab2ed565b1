"""Swap torch.nn activations in a built model for relu_ext's, and back."""
from typing import Iterable, Union

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


def _rebuild(module, cls, drop=()):
    """A module of class ``cls`` with ``module``'s hyperparameters, the same Parameter
    objects (values, device, dtype, requires_grad: optimizer state keeps working), hooks
    and training mode: a new instance of the other class over the same ``__dict__`` (less
    the attributes in ``drop``)."""
    new = cls.__new__(cls)
    new.__dict__ = {k: (v.copy() if isinstance(v, dict) else v)
                    for k, v in module.__dict__.items() if k not in drop}
    return new


def _swap(model, pick):
    new = pick(model)
    if new is not None:
        return new
    for name, child in model.named_children():
        new_child = _swap(child, pick)
        if new_child is not child:
            setattr(model, name, new_child)
    return model


def _check_model(who, model):
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be a torch.nn.Module, got {type(model).__name__}")


def _torch_types(types):
    if types is None:
        return set(_PAIRS)
    if isinstance(types, (str, type)):  # one of them
        types = [types]
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


_MEMORY_EFFICIENT = (nn.ELU, nn.GELU)


def _convert_one(module, qualname, memory_efficient):
    new = _rebuild(module, _PAIRS[type(module)][0])
    if memory_efficient and isinstance(module, _MEMORY_EFFICIENT):
        if isinstance(module, nn.ELU) and module.alpha < 0:
            raise ValueError(f"relu_ext.convert: memory_efficient=True needs alpha >= 0, but "
                             f"the ELU at {qualname or 'the root'} has alpha={module.alpha}")
        new.memory_efficient = True
    return new


class FusedAway(nn.Identity):
    """Holds the place of an activation that ``convert(fuse_bias=True)`` fused into the
    :class:`relu_ext.LinearAct` before it (so the indices of later layers, and the state_dict
    keys, stay as they were); :func:`revert` puts the activation back."""

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.__dict__["_original"] = activation  # not a submodule: no state_dict entries


def _act_spec(module):
    """(activation, keywords) for bias_act, or None when the module cannot be fused."""
    t = type(module)
    if t in (nn.ReLU, modules.ReLU) and not module.inplace:
        return "relu", {}
    if t in (nn.LeakyReLU, modules.LeakyReLU) and not module.inplace:
        return "leaky_relu", {"negative_slope": module.negative_slope}
    lean = getattr(module, "memory_efficient", False)
    if t in (nn.ELU, modules.ELU) and not module.inplace and not lean:
        return "elu", {"alpha": module.alpha}
    if t in (nn.GELU, modules.GELU) and not lean:
        return "gelu", {"approximate": module.approximate}
    return None  # PReLU: its weight would move (state_dict keys change); others: not ours


def _fuse(model, wanted):
    """Linear -> activation pairs in every Sequential become LinearAct -> FusedAway, over the
    same Parameter objects (torch.nn activations: only the types in ``wanted``)."""
    for child in model.children():
        _fuse(child, wanted)
    if not isinstance(model, nn.Sequential):
        return
    names = list(model._modules)
    for first, second in zip(names, names[1:]):
        lin, act = model._modules[first], model._modules[second]
        spec = _act_spec(act)
        excluded = type(act) in _PAIRS and type(act) not in wanted
        if type(lin) is not nn.Linear or spec is None or excluded:
            continue
        fused = _rebuild(lin, modules.LinearAct)
        fused.activation, fused.act_kwargs = spec
        model._modules[first] = fused
        model._modules[second] = FusedAway(act)


def _unfuse(model):
    for child in model.children():
        _unfuse(child)
    if not isinstance(model, nn.Sequential):
        return
    names = list(model._modules)
    for first, second in zip(names, names[1:]):
        lin, placeholder = model._modules[first], model._modules[second]
        if type(lin) is modules.LinearAct and type(placeholder) is FusedAway:
            model._modules[first] = _rebuild(lin, nn.Linear, drop=("activation", "act_kwargs"))
            model._modules[second] = placeholder._original


def convert(model: nn.Module,
            types: Union[str, type, Iterable[Union[str, type]], None] = None,
            memory_efficient: bool = False, fuse_bias: bool = False) -> nn.Module:
    """Replace, in place, every submodule whose type is exactly torch.nn.ReLU, LeakyReLU,
    PReLU, ELU or GELU with relu_ext's, at any depth (Sequential, ModuleList, ModuleDict,
    activations held as attributes such as ``TransformerEncoderLayer(activation=GELU())``).

    Hyperparameters, parameters (the same Parameter objects: values, device, dtype,
    requires_grad, optimizer state), hooks and training mode are kept. ``types`` limits the
    swap to some activations: torch.nn classes or names (``"relu"``, ``"leaky_relu"``,
    ``"prelu"``, ``"elu"``, ``"gelu"``), or one of them alone. Subclasses of those types are
    left alone: they may change the behaviour. ``memory_efficient=True`` makes the ELU and
    GELU modules keep their output instead of their input for backward (see
    :class:`relu_ext.GELU`; ELUs need ``alpha >= 0``); LeakyReLU keeps a 1-bit mask in every
    case. Returns ``model``, or its replacement when ``model`` itself is such an activation.
    ``fuse_bias=True`` also fuses each ``nn.Linear`` followed by a ReLU, LeakyReLU, ELU or
    GELU (not in place, not memory_efficient) inside an ``nn.Sequential`` into a
    :class:`relu_ext.LinearAct` over the same Parameters, the activation's place taken by a
    parameter-free ``FusedAway`` module (indices and state_dict keys unchanged; PReLU pairs
    are left unfused: their weight would change keys). :func:`revert` is the exact inverse.
    """
    _check_model("relu_ext.convert", model)
    wanted = _torch_types(types)
    names = {id(m): n for n, m in model.named_modules()}
    if fuse_bias:
        _fuse(model, wanted)
    return _swap(model, lambda m: _convert_one(m, names.get(id(m)), memory_efficient)
                 if type(m) in wanted else None)


_BACK = {ours: theirs for theirs, (ours, _) in _PAIRS.items()}


def revert(model: nn.Module) -> nn.Module:
    """Undo :func:`convert`: every relu_ext activation module becomes the torch.nn one with
    the same hyperparameters, Parameters, hooks and training mode (for example before
    ``torch.save`` of a whole model that must load without relu_ext). In place; returns
    ``model``, or its replacement when ``model`` itself is a relu_ext activation."""
    _check_model("relu_ext.revert", model)
    _unfuse(model)
    return _swap(model, lambda m: _rebuild(m, _BACK[type(m)], drop=("memory_efficient",))
                 if type(m) in _BACK else None)
