"""Route torch's functional activations to relu_ext, for code that calls them itself.

    relu_ext.patch()              # from now on
    with relu_ext.patch(): ...    # or for a block
    relu_ext.unpatch()

Patched: ``torch.nn.functional.{relu, relu_, leaky_relu, leaky_relu_, prelu, elu, elu_,
gelu}`` and ``torch.relu``, ``torch.relu_`` (also what torch.nn's own activation modules
call). Tensors relu_ext does not take (other devices, complex dtypes; integer dtypes except
for relu; sparse, quantized, nested and MKL-DNN layouts; tensor subclasses other than
DTensor) go to torch's function unchanged.

What it cannot reach: a function bound before patching (``from torch.nn.functional import
gelu``, or ``activation=F.gelu`` stored in a module built earlier, as
``nn.TransformerEncoderLayer`` does by default); tensor methods (``x.relu()``); code
compiled before patching; code scripted by ``torch.jit.script`` (at any time: it compiles
torch's functions; relu_ext's own modules script to relu_ext's ops).
"""
import functools

import torch
from torch.jit import _builtins as _jit_builtins

from . import functional as F
from ._other_inputs import is_dtensor
from ._library import backend_info

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_TARGETS = [  # (module, name, relu_ext's function, whether integer tensors are taken)
    (torch.nn.functional, "relu", F.relu, True),
    (torch.nn.functional, "relu_", F.relu_, True),
    (torch.nn.functional, "leaky_relu", F.leaky_relu, False),
    (torch.nn.functional, "leaky_relu_", F.leaky_relu_, False),
    (torch.nn.functional, "prelu", F.prelu, False),
    (torch.nn.functional, "elu", F.elu, False),
    (torch.nn.functional, "elu_", F.elu_, False),
    (torch.nn.functional, "gelu", F.gelu, False),
    (torch, "relu", F.relu, True),
    (torch, "relu_", F.relu_, True),
]
_originals = {}
_CUDA = backend_info()["cuda"]


def _takes(input, integers):
    if type(input) is not torch.Tensor and not is_dtensor(input):
        return False  # other subclasses keep torch's dispatch
    device = input.device.type
    if device != "cpu" and not (device == "cuda" and _CUDA):
        return False
    return input.dtype in _FLOATS or (integers and not input.dtype.is_floating_point
                                      and not input.dtype.is_complex
                                      and input.dtype != torch.bool)


def _route(ours, original, integers):
    @functools.wraps(original)
    def routed(input, *args, **kwargs):
        if _takes(input, integers):
            return ours(input, *args, **kwargs)
        return original(input, *args, **kwargs)

    routed.__relu_ext_original__ = original
    # torch.jit.script compiles torch's function in its place: an ATen op by the JIT's table
    # of builtins (entry removed by unpatch), or the Python function's own code
    op = _jit_builtins._find_builtin(original)
    if op is not None:
        _jit_builtins._register_builtin(routed, op)
    else:
        routed.__prepare_scriptable__ = lambda: original
    return routed


class _Patched:
    """Returned by :func:`patch`; as a context manager, unpatches on exit."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        unpatch()
        return False


def patch() -> _Patched:
    """Route torch's functional activations to relu_ext (see the module docstring for what
    is patched and what cannot be reached). Idempotent; :func:`unpatch` undoes it."""
    for module, name, ours, integers in _TARGETS:
        key = (module.__name__, name)
        if key not in _originals:
            _originals[key] = getattr(module, name)
            setattr(module, name, _route(ours, _originals[key], integers))
    return _Patched()


def unpatch() -> None:
    """Restore torch's functions (a no-op when not patched)."""
    for module, name, _, _ in _TARGETS:
        original = _originals.pop((module.__name__, name), None)
        if original is not None:
            _jit_builtins._get_builtin_table().pop(id(getattr(module, name)), None)
            setattr(module, name, original)


def is_patched() -> bool:
    return bool(_originals)
