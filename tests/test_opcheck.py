"""torch.library.opcheck on every relu_ext op (schema, autograd registration, fake
kernel, AOT dispatch), with gradients on and off, over layouts."""
import pytest
import torch

import relu_ext  # noqa: F401  (loads the ops)

ops = torch.ops.relu_ext


def _samples(device):
    """(op, args) pairs covering every op; tensors made fresh per call."""
    def x(layout="contiguous", rg=False):
        t = torch.randn(4, 3, 5, 6, device=device, dtype=torch.float64)
        if layout == "channels_last":
            t = t.contiguous(memory_format=torch.channels_last)
        elif layout == "transposed":
            t = t.transpose(0, 3)
        return t.requires_grad_(rg)

    out = []
    for layout in ("contiguous", "channels_last", "transposed"):
        for rg in (False, True):
            w3 = torch.rand(x(layout).shape[1], device=device, dtype=torch.float64,
                            requires_grad=rg)
            w1 = torch.rand(1, device=device, dtype=torch.float64, requires_grad=rg)
            g = x(layout, rg)
            out += [
                (ops.relu, (x(layout, rg),)),
                (ops.relu_backward, (g, x(layout, rg))),
                (ops.leaky_relu, (x(layout, rg), 0.2)),
                (ops.leaky_relu_backward, (g, x(layout, rg), 0.2, False)),
                (ops.leaky_relu_backward, (g, x(layout, rg), 0.2, True)),
                (ops.prelu, (x(layout, rg), w3)),
                (ops.prelu, (x(layout, rg), w1)),
                (ops.prelu_backward, (g, x(layout, rg), w3)),
                (ops.prelu_backward, (g, x(layout, rg), w1)),
                (ops.elu, (x(layout, rg), 0.7)),
                (ops.elu_backward, (g, x(layout, rg), 0.7, False)),
                (ops.elu_backward, (g, x(layout, rg), 0.7, True)),
                (ops.gelu, (x(layout, rg), "none")),
                (ops.gelu, (x(layout, rg), "tanh")),
                (ops.gelu_backward, (g, x(layout, rg), "none")),
                (ops.gelu_backward, (g, x(layout, rg), "tanh")),
                # Memory-efficient forms: masks of 1 bit per element.
                (ops.leaky_relu_mask, (x(layout, rg), 0.2)),
                (ops.leaky_relu_mask_backward, (g, ops.leaky_relu_mask(g.detach(), 0.2)[1], 0.2)),
                (ops.elu, (x(layout, rg), 0.7, True)),
                (ops.gelu, (x(layout, rg), "none", True)),
                (ops.gelu, (x(layout, rg), "tanh", True)),
            ]
            # Fused bias + activation, bias along dim 1 and along the last dim.
            for dim in (1, -1):
                size = x(layout).shape[dim]
                b = torch.randn(size, device=device, dtype=torch.float64, requires_grad=rg)
                wb = torch.rand(size, device=device, dtype=torch.float64, requires_grad=rg)
                out += [(ops.bias_act, (x(layout, rg), b, dim, act, 0.2))
                        for act in ("relu", "leaky_relu", "elu", "gelu", "gelu_tanh")]
                out += [
                    (ops.bias_act_backward, (g, x(layout, rg), b, dim, "gelu", 0.0)),
                    (ops.bias_prelu, (x(layout, rg), b, wb, dim)),
                    (ops.bias_prelu, (x(layout, rg), b, w1, dim)),
                    (ops.bias_prelu_backward, (g, x(layout, rg), b, wb, dim)),
                    # act_stats with a bias (a watched LinearAct): bias_act's values, counted
                    (ops.act_stats, (x(layout, rg), None, dim, "elu", 0.7, b)),
                    (ops.act_stats, (x(layout, rg), wb, dim, "prelu", 0.0, b)),
                ]
            out += [(ops.act_stats, (x(layout, rg), None, dim, act, 0.2))
                    for act, dim in (("relu", 1), ("leaky_relu", -1), ("elu", 0), ("gelu", 1),
                                     ("gelu_tanh", 2))]
            out.append((ops.act_stats, (x(layout, rg), w3, 1, "prelu", 0.0)))
            for approximate in ("none", "tanh"):
                y, mask = ops.gelu_mask(x(layout), approximate)
                out += [
                    (ops.gelu_mask, (x(layout, rg), approximate)),
                    (ops.gelu_backward_from_result, (g, y.clone().requires_grad_(rg), mask,
                                                     approximate)),
                    (ops.gelu_inverse, (y.clone().requires_grad_(rg), mask, approximate)),
                ]
        # In-place ops mutate their argument: no leaf requiring grad.
        out += [
            (ops.relu_, (x(layout),)),
            (ops.leaky_relu_, (x(layout), 0.2)),
            (ops.elu_, (x(layout), 0.7)),
        ]
    out.append((ops.gelu, (torch.randn((), device=device, dtype=torch.float32), "none")))
    out.append((ops.relu, (torch.randn(0, 3, device=device, dtype=torch.bfloat16),)))
    return out


def test_every_op_is_covered():
    covered = {op._qualified_op_name.split("::")[1] for op, _ in _samples("cpu")}
    declared = {s.name.split("::")[1] for s in torch._C._jit_get_all_schemas()
                if s.name.startswith("relu_ext::")}
    assert declared == covered and len(declared) == 23


@pytest.mark.parametrize("idx", range(len(_samples("cpu"))))
def test_opcheck(idx, device):
    op, args = _samples(device)[idx]
    torch.library.opcheck(op, args)
