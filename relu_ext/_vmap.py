"""Batching rules for torch.func.vmap (and jacrev/jacfwd/hessian, which use it): each op runs
once on the whole batch instead of once per sample (PyTorch's fallback). Python runs only
under vmap; eager calls never reach this file.

The elementwise ops take the batch as a leading dimension (an unbatched operand is expanded
to it). PReLU's channel dimension is dim 1 of each sample, so the batch is folded into dim 0
when the weight is shared, and its weight gradient (per sample) is summed per sample.
bias_act, bias_prelu and act_stats merge the batch into the channel dim when a bias, weight
or count is per sample (below).
"""
import torch
from torch import Tensor

_ops = torch.ops.relu_ext


def _front(info, t, dim):
    """t with its batch dimension first; an unbatched tensor expanded to the batch."""
    if dim is None:
        return t.expand(info.batch_size, *t.shape)
    return t.movedim(dim, 0)


def _elementwise(name):
    op = getattr(_ops, name).default

    def rule(info, in_dims, *args):
        args = [_front(info, a, d) if isinstance(a, Tensor) else a for a, d in zip(args, in_dims)]
        return op(*args), 0

    torch.library.register_vmap(f"relu_ext::{name}", rule)


for _name in ("relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu",
              "elu_backward", "gelu", "gelu_backward"):
    _elementwise(_name)


def _weight_view(wb, sample_dim):
    """A batched weight (B, C) shaped to broadcast against a batched input (B, sample...)."""
    shape = [wb.shape[0]] + [1] * sample_dim
    if sample_dim >= 2:
        shape[2] = wb.shape[1]
    return wb.reshape(shape)


def _prelu_rule(info, in_dims, x, w):
    xd, wd = in_dims
    xb = _front(info, x, xd)
    sample_dim = xb.dim() - 1
    if wd is None:
        if sample_dim >= 2:  # fold the batch into dim 0: channels stay at dim 1
            return _ops.prelu(xb.reshape(-1, *xb.shape[2:]), w).reshape(xb.shape), 0
        return _ops.prelu(xb, w), 0  # one weight element: elementwise
    wb = _weight_view(_front(info, w, wd).reshape(info.batch_size, -1), sample_dim)
    return torch.where(xb > 0, xb, wb * xb), 0


def _prelu_backward_rule(info, in_dims, grad, x, w):
    gd, xd, wd = in_dims
    gb, xb = _front(info, grad, gd), _front(info, x, xd)
    sample_dim = xb.dim() - 1
    wb = _weight_view(_front(info, w, wd).reshape(info.batch_size, -1), sample_dim)
    negative = ~(xb > 0)
    grad_input = torch.where(negative, wb * gb, gb)
    per_element = torch.where(negative, xb * gb, torch.zeros_like(gb))
    if w.numel() // (info.batch_size if wd is not None else 1) == 1 or sample_dim < 2:
        grad_weight = per_element.reshape(info.batch_size, -1).sum(1)
    else:
        dims = [d for d in range(1, per_element.dim()) if d != 2]
        grad_weight = per_element.sum(dims)
    sample_w_shape = w.shape if wd is None else w.movedim(wd, 0).shape[1:]
    return (grad_input, grad_weight.reshape(info.batch_size, *sample_w_shape)), (0, 0)


torch.library.register_vmap("relu_ext::prelu", _prelu_rule)
torch.library.register_vmap("relu_ext::prelu_backward", _prelu_backward_rule)


# LeakyReLU's 1-bit masks (ops.cpp): bit i of a sample's mask is its i-th element in memory
# order. Each sample is padded to whole 32-bit words, so the batch's mask splits into the
# samples' masks.
def _words(n):
    return (n + 31) // 32 * 32


def _leaky_relu_mask_rule(info, in_dims, x, negative_slope):
    xb = _front(info, x, in_dims[0])
    sample = xb.shape[1:]
    n = xb[0].numel()
    flat = torch.nn.functional.pad(xb.reshape(info.batch_size, n), (0, _words(n) - n))
    y, mask = _ops.leaky_relu_mask(flat, negative_slope)
    return (y[:, :n].reshape(info.batch_size, *sample), mask.view(info.batch_size, -1)), (0, 0)


def _dense_strides(t):
    """Strides of a dense tensor with t's sizes whose memory order is t's."""
    order = sorted(range(t.dim()), key=lambda d: t.stride(d), reverse=True)
    strides, step = [0] * t.dim(), 1
    for d in reversed(order):
        strides[d] = step
        step *= t.shape[d]
    return strides


def _leaky_relu_mask_backward_rule(info, in_dims, grad, mask, negative_slope):
    gb = _front(info, grad, in_dims[0])
    sample = gb[0]
    n = sample.numel()
    mb = mask.unsqueeze(0) if in_dims[1] is None else mask.movedim(in_dims[1], 0)
    shifts = torch.arange(8, device=mask.device, dtype=torch.uint8)
    bits = ((mb.unsqueeze(-1) >> shifts) & 1).bool().reshape(mb.shape[0], -1)[:, :n]
    positive = bits.contiguous().as_strided((mb.shape[0], *sample.shape),
                                            (n, *_dense_strides(sample)))
    return torch.where(positive, gb, gb * negative_slope), 0


torch.library.register_vmap("relu_ext::leaky_relu_mask", _leaky_relu_mask_rule)
torch.library.register_vmap("relu_ext::leaky_relu_mask_backward", _leaky_relu_mask_backward_rule)


# Fused bias + activation and act_stats: the bias (and PReLU's weight, and act_stats's counts)
# run along the sample's channel dim d. An unbatched bias broadcasts over the batch as over
# any other dim (the op at dim d + 1); otherwise the batch is merged into the channel dim:
# moved next to it, (B, C) -> B * C channels, each sample's own bias, weight and counts.
def _channel_dim(dim, sample_ndim, op):
    if sample_ndim == 0:
        raise RuntimeError(f"{op}: expected self to have at least 1 dimension, but got a "
                           "0-dim tensor")
    if not -sample_ndim <= dim < sample_ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-sample_ndim}, {sample_ndim - 1}], but got {dim})")
    return dim % sample_ndim


def _merge(xb, d):
    """xb (B, *sample) -> (sample[:d], B * C, sample[d+1:]) and the inverse for results."""
    moved = xb.movedim(0, d)
    shape = moved.shape
    merged = moved.reshape(*shape[:d], shape[d] * shape[d + 1], *shape[d + 2:])
    return merged, lambda t: t.reshape(shape).movedim(d, 0)


def _per_sample(info, t, t_dim, channels):
    """A per-channel tensor (C or 1 values a sample), as B * C values in merged order."""
    tb = t.reshape(1, -1) if t_dim is None else _front(info, t, t_dim).reshape(info.batch_size, -1)
    return tb.expand(info.batch_size, channels).reshape(-1)


def _bias_act_rule(info, in_dims, x, bias, dim, activation, param):
    xb = _front(info, x, in_dims[0])
    d = _channel_dim(dim, xb.dim() - 1, "relu_ext::bias_act")
    if in_dims[1] is None:
        return _ops.bias_act(xb, bias, d + 1, activation, param), 0
    merged, unmerge = _merge(xb, d)
    b = _per_sample(info, bias, in_dims[1], xb.shape[d + 1])
    return unmerge(_ops.bias_act(merged, b, d, activation, param)), 0


def _bias_act_backward_rule(info, in_dims, grad, x, bias, dim, activation, param):
    gb, xb = _front(info, grad, in_dims[0]), _front(info, x, in_dims[1])
    d = _channel_dim(dim, xb.dim() - 1, "relu_ext::bias_act_backward")
    C = xb.shape[d + 1]
    (gm, unmerge), (xm, _) = _merge(gb, d), _merge(xb, d)
    gi, gbias = _ops.bias_act_backward(gm, xm, _per_sample(info, bias, in_dims[2], C), d,
                                       activation, param)
    return (unmerge(gi), gbias.reshape(info.batch_size, C)), (0, 0)


def _bias_prelu_rule(info, in_dims, x, bias, weight, dim):
    xb = _front(info, x, in_dims[0])
    d = _channel_dim(dim, xb.dim() - 1, "relu_ext::bias_prelu")
    if in_dims[1] is None and in_dims[2] is None:
        return _ops.bias_prelu(xb, bias, weight, d + 1), 0
    C = xb.shape[d + 1]
    merged, unmerge = _merge(xb, d)
    return unmerge(_ops.bias_prelu(merged, _per_sample(info, bias, in_dims[1], C),
                                   _per_sample(info, weight, in_dims[2], C), d)), 0


def _bias_prelu_backward_rule(info, in_dims, grad, x, bias, weight, dim):
    gb, xb = _front(info, grad, in_dims[0]), _front(info, x, in_dims[1])
    d = _channel_dim(dim, xb.dim() - 1, "relu_ext::bias_prelu_backward")
    C = xb.shape[d + 1]
    (gm, unmerge), (xm, _) = _merge(gb, d), _merge(xb, d)
    gi, gbias, gw = _ops.bias_prelu_backward(gm, xm, _per_sample(info, bias, in_dims[2], C),
                                             _per_sample(info, weight, in_dims[3], C), d)
    sample_w = weight.shape if in_dims[3] is None else weight.movedim(in_dims[3], 0).shape[1:]
    gw = gw.reshape(info.batch_size, C)
    if sample_w.numel() == 1:  # one weight a sample: the sum over its channels
        gw = gw.sum(1)
    return ((unmerge(gi), gbias.reshape(info.batch_size, C),
             gw.reshape(info.batch_size, *sample_w)), (0, 0, 0))


def _act_stats_rule(info, in_dims, x, weight, dim, activation, param, bias=None):
    xb = _front(info, x, in_dims[0])
    d = _channel_dim(dim, xb.dim() - 1, "relu_ext::act_stats")
    C = xb.shape[d + 1]
    w = weight
    if bias is not None:  # weight and bias along d, as bias_act's: each sample's own
        merged, unmerge = _merge(xb, d)
        if weight is not None:
            w = _per_sample(info, weight, in_dims[1], C)
        y, fired = _ops.act_stats(merged, w, d, activation, param,
                                  _per_sample(info, bias, in_dims[5], C))
        return (unmerge(y), fired.reshape(info.batch_size, C)), (0, 0)
    if weight is not None and (in_dims[1] is not None or weight.numel() > 1):
        sample_w = weight if in_dims[1] is None else weight.movedim(in_dims[1], 0)[0]
        if sample_w.numel() == 1 and d != 1:  # one weight a sample, counted along dim d
            wb = _front(info, weight, in_dims[1]).reshape(info.batch_size, *[1] * (xb.dim() - 1))
            positive = xb > 0
            fired = positive.movedim(d + 1, -1).reshape(info.batch_size, -1, C).sum(1)
            return (torch.where(positive, xb, wb * xb), fired), (0, 0)
        w = _per_sample(info, weight, in_dims[1], C)
    merged, unmerge = _merge(xb, d)
    y, fired = _ops.act_stats(merged, w, d, activation, param)
    return (unmerge(y), fired.reshape(info.batch_size, C)), (0, 0)


torch.library.register_vmap("relu_ext::bias_act", _bias_act_rule)
torch.library.register_vmap("relu_ext::bias_act_backward", _bias_act_backward_rule)
torch.library.register_vmap("relu_ext::bias_prelu", _bias_prelu_rule)
torch.library.register_vmap("relu_ext::bias_prelu_backward", _bias_prelu_backward_rule)
torch.library.register_vmap("relu_ext::act_stats", _act_stats_rule)
