"""Largest error of memory-efficient GELU's recovered gradient gelu'(x) against float64, by
distance from GELU's minimum x_min, next to ATen's gradient from the input, on 10^7 inputs
(3 N(0,1)) per form and dtype; prints the README's Markdown table.

    python benchmarks/gelu_inverse_error.py [N]
"""
import math
import sys

import torch

import relu_ext  # noqa: F401  (loads the ops)

ops = torch.ops.relu_ext
X_MIN = {"none": -0.7517915246935645, "tanh": -0.7524614220710162}


def slope64(x, approximate):
    """gelu'(x) in float64, from formulas accurate in the left tail."""
    x = x.double()
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        z = 2 * k * (x + 0.044715 * x**3)
        s = torch.sigmoid(z)
        return s + x * s * torch.sigmoid(-z) * 2 * k * (1 + 3 * 0.044715 * x * x)
    return (0.5 * torch.special.erfc(-x / math.sqrt(2))
            + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi))


def main(n=10**7):
    torch.manual_seed(0)
    print("| form | dtype | < 0.02 | 0.02–0.1 | farther |\n|---|---|---|---|---|")
    for approximate in ("none", "tanh"):
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            x = (torch.randn(n) * 3).to(dtype)
            y, mask = ops.gelu_mask(x, approximate)
            ones = torch.ones_like(x)
            ours = ops.gelu_backward_from_result(ones, y, mask, approximate).double()
            aten = torch.ops.aten.gelu_backward(ones, x, approximate=approximate).double()
            ref = slope64(x, approximate)
            dist = (x.double() - X_MIN[approximate]).abs()
            cells = []
            for lo, hi in ((0, 0.02), (0.02, 0.1), (0.1, math.inf)):
                sel = (dist >= lo) & (dist < hi)
                cells.append(f"{(ours - ref)[sel].abs().max():.1e} "
                             f"({(aten - ref)[sel].abs().max():.1e})")
            form = "exact" if approximate == "none" else "tanh"
            print(f"| {form} | {str(dtype)[6:]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10**7)
