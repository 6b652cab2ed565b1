"""relu_ext: fused C++/CUDA kernels for the ReLU family (ReLU, LeakyReLU, PReLU, ELU,
GELU in its exact and tanh forms), forward and backward, as drop-in replacements for
torch.nn's modules and torch.nn.functional's functions.

    import relu_ext
    model = relu_ext.convert(model)          # swap torch.nn activations in place
    model = relu_ext.revert(model)           # and back
    with relu_ext.patch(): ...               # torch.nn.functional's activations -> relu_ext
    y = relu_ext.functional.gelu(x, approximate="tanh")
"""
from ._library import backend_info, load as _load

_load()

from . import _fake, _vmap  # noqa: E402,F401  (fake kernels, vmap rules: need the ops loaded)
from . import autograd, functional  # noqa: E402
from .convert import convert, revert  # noqa: E402
from .monitor import DeadUnitMonitor  # noqa: E402
from .patch import patch, unpatch  # noqa: E402
from .modules import ELU, GELU, LeakyReLU, LinearAct, PReLU, ReLU  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "GELU",
    "LinearAct",
    "DeadUnitMonitor",
    "autograd",
    "functional",
    "convert",
    "revert",
    "patch",
    "unpatch",
    "backend_info",
]
