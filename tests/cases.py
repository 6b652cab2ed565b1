"""The activation forms under test, each paired with its torch.nn.functional reference."""
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as TF

import relu_ext.functional as F

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


@dataclass
class Case:
    id: str
    ours: Callable  # ours(x, weight) -> y
    ref: Callable  # ref(x, weight) -> y, torch.nn.functional on the same input
    inplace: Callable = None  # inplace(x) -> x, mutating x
    ref_inplace: Callable = None
    prelu: str = ""  # "", "1" (one weight) or "C" (per channel)
    kwargs: dict = field(default_factory=dict)

    def __repr__(self):
        return self.id


def _cases():
    out = [
        Case("relu", lambda x, w: F.relu(x), lambda x, w: TF.relu(x),
             lambda x: F.relu_(x), lambda x: TF.relu_(x)),
        Case("relu_inplace_flag", lambda x, w: F.relu(x.clone(), inplace=True),
             lambda x, w: TF.relu(x)),
    ]
    for s in (0.01, 0.2, 0.0, -0.5, 3.0):
        out.append(Case(f"leaky_relu[{s}]", lambda x, w, s=s: F.leaky_relu(x, s),
                        lambda x, w, s=s: TF.leaky_relu(x, s),
                        lambda x, s=s: F.leaky_relu_(x, s), lambda x, s=s: TF.leaky_relu_(x, s)))
    for a in (1.0, 0.5, 2.0, -0.3):
        out.append(Case(f"elu[{a}]", lambda x, w, a=a: F.elu(x, a), lambda x, w, a=a: TF.elu(x, a),
                        lambda x, a=a: F.elu_(x, a), lambda x, a=a: TF.elu_(x, a)))
    for approx in ("none", "tanh"):
        out.append(Case(f"gelu[{approx}]", lambda x, w, a=approx: F.gelu(x, approximate=a),
                        lambda x, w, a=approx: TF.gelu(x, approximate=a)))
    for kind in ("1", "C"):
        out.append(Case(f"prelu[{kind}]", lambda x, w: F.prelu(x, w), lambda x, w: TF.prelu(x, w),
                        prelu=kind))
    return out


CASES = _cases()
INPLACE_CASES = [c for c in CASES if c.inplace is not None]


def prelu_weight(case, x, requires_grad=False):
    """A weight for `case` and input `x` (None for non-PReLU cases)."""
    if not case.prelu:
        return None
    n = x.shape[1] if (case.prelu == "C" and x.dim() > 1) else 1
    w = (torch.rand(n, dtype=torch.float64) * 0.8 - 0.2).to(dtype=x.dtype, device=x.device)
    return w.requires_grad_(requires_grad)


def make_input(layout, dtype, device, requires_grad=False, scale=3.0, n=4):
    """A random input of the given layout; channel dim (1) has 3 entries where there is one;
    n: the batch dim's size in the contiguous, transposed and channels_last layouts."""
    def r(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device).mul(scale).to(dtype)

    if layout == "contiguous":
        x = r(n, 3, 5, 6)
    elif layout == "offset":  # dense, starting one element past a 16-byte boundary
        x = r(4 * 3 * 5 * 6 + 1)[1:].view(4, 3, 5, 6)
    elif layout == "transposed":
        x = r(6, 3, 5, n).transpose(0, 3)
    elif layout == "sliced":
        x = r(8, 3, 10, 6)[::2, :, ::2]
    elif layout == "channels_last":
        x = r(n, 3, 5, 6).contiguous(memory_format=torch.channels_last)
    elif layout == "expanded":
        x = r(1, 3, 1, 6).expand(4, 3, 5, 6)
    elif layout == "0-dim":
        x = r()
    elif layout == "1-d":
        x = r(37)
    elif layout == "empty":
        x = r(0, 3, 5)
    elif layout == "2-d":
        x = r(7, 3)
    else:
        raise ValueError(layout)
    return x.requires_grad_(requires_grad)


LAYOUTS = ["contiguous", "offset", "transposed", "sliced", "channels_last", "expanded", "0-dim", "1-d",
           "empty", "2-d"]
