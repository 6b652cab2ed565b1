"""Fake (meta) kernels for every relu_ext op, in one place.

They run the same argument checks as the C++ kernels (csrc/common.h) and return
the same sizes, strides and dtype, so torch.compile and torch.export trace the
ops without running them, and bad calls fail at trace time.
"""
import torch
from torch._prims_common import is_non_overlapping_and_dense_or_false

_SUPPORTED = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_input(t, op, arg):
    if t.dtype not in _SUPPORTED:
        raise NotImplementedError(
            f"{op}: expected {arg} to be a floating-point tensor (float32, float64, float16 "
            f"or bfloat16), but got {t.dtype}"
        )


def _check_like(t, ref, op, arg, ref_arg):
    if t.dtype != ref.dtype:
        raise RuntimeError(
            f"{op}: expected {arg} to have the same dtype as {ref_arg} ({ref.dtype}), "
            f"but got {t.dtype}"
        )
    if t.device != ref.device:
        raise RuntimeError(
            f"{op}: expected {arg} to be on the same device as {ref_arg} ({ref.device}), "
            f"but got {t.device}"
        )
    if t.shape != ref.shape:
        raise RuntimeError(
            f"{op}: expected {arg} to have the same size as {ref_arg} {list(ref.shape)}, "
            f"but got {list(t.shape)}"
        )


def _check_approximate(approximate, op):
    if approximate not in ("none", "tanh"):
        raise RuntimeError(
            f"{op}: approximate argument must be either 'none' or 'tanh', but got '{approximate}'"
        )


def _check_prelu_weight(self, weight, op):
    if weight.dim() > 1:
        raise RuntimeError(
            f"{op}: expected weight to be a scalar or 1-D tensor, but got ndim = {weight.dim()}"
        )
    if weight.dtype != self.dtype:
        raise RuntimeError(
            f"{op}: expected weight to have the same dtype as self ({self.dtype}), "
            f"but got {weight.dtype}"
        )
    if weight.device != self.device:
        raise RuntimeError(
            f"{op}: expected weight to be on the same device as self ({self.device}), "
            f"but got {weight.device}"
        )
    if weight.numel() != 1:
        if self.dim() == 0:
            raise RuntimeError(
                f"{op}: a zero-dim input needs a weight with 1 element, got {weight.numel()}"
            )
        channels = self.shape[1] if self.dim() > 1 else 1
        if weight.numel() != channels:
            raise RuntimeError(
                f"{op}: weight has {weight.numel()} elements but the input has {channels} "
                f"channels (dim 1); expected 1 or {channels}"
            )


def _check_inplace_slope(is_result, value, op, what):
    if is_result and value < 0:
        raise RuntimeError(
            f"{op}: in-place {op.split('::')[1].replace('_backward', '')} backward was "
            f"triggered with a negative {what}, which is not supported. This is caused by "
            f"calling the in-place forward with a negative {what}; call the out-of-place "
            f"version instead."
        )


def _check_elu_memory_efficient(memory_efficient, alpha, op):
    if memory_efficient and alpha < 0:
        raise RuntimeError(
            f"{op}: memory_efficient=True needs alpha >= 0 (the gradient is recovered from the "
            f"output, which is ambiguous for a negative alpha), but got alpha={alpha}"
        )


def _dense(t):
    return t.is_contiguous() or is_non_overlapping_and_dense_or_false(t)


def _with_mask(self):
    """The forward's result (self's layout, contiguous when self is not dense) and its mask:
    uint8, 4 * ceil(numel / 32) bytes."""
    x = self if _dense(self) else self.contiguous()
    return torch.empty_like(x), self.new_empty(((self.numel() + 31) // 32 * 4,), dtype=torch.uint8)


def _check_dense(t, op, arg):
    if not _dense(t):
        raise RuntimeError(
            f"{op}: expected {arg} to be non-overlapping and dense (the mask's bits follow its "
            f"memory order), but got sizes {list(t.shape)} and strides {list(t.stride())}"
        )


def _check_bitmask(mask, ref, op, ref_arg):
    nbytes = (ref.numel() + 31) // 32 * 4
    if mask.dtype != torch.uint8:
        raise RuntimeError(f"{op}: expected mask to be a uint8 tensor, but got {mask.dtype}")
    if mask.device != ref.device:
        raise RuntimeError(
            f"{op}: expected mask to be on the same device as {ref_arg} ({ref.device}), "
            f"but got {mask.device}"
        )
    if mask.dim() != 1 or not mask.is_contiguous() or mask.numel() != nbytes:
        raise RuntimeError(
            f"{op}: expected mask to be a contiguous 1-D tensor of {nbytes} bytes (1 bit per "
            f"element of {ref_arg}, in 32-bit words), but got size {list(mask.shape)}"
        )
    if mask.storage_offset() % 4:  # the real kernels check the address itself
        raise RuntimeError(
            f"{op}: expected mask to start on a 4-byte boundary (32-bit words), but it starts "
            f"at byte offset {mask.storage_offset()} of its storage"
        )


def _relu_check(self, op):
    if self.dtype.is_floating_point:
        _check_input(self, op, "self")
    elif self.is_complex():
        raise NotImplementedError(f"{op}: expected self to be a real tensor, but got {self.dtype}")
    elif self.dtype == torch.bool:
        raise RuntimeError("Boolean inputs not supported for relu")


@torch.library.register_fake("relu_ext::relu")
def _(self):
    _relu_check(self, "relu_ext::relu")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::relu_")
def _(self):
    _relu_check(self, "relu_ext::relu_")


@torch.library.register_fake("relu_ext::relu_backward")
def _(grad_output, result):
    _check_input(result, "relu_ext::relu_backward", "result")
    _check_like(grad_output, result, "relu_ext::relu_backward", "grad_output", "result")
    return torch.empty_like(result)


@torch.library.register_fake("relu_ext::leaky_relu")
def _(self, negative_slope):
    _check_input(self, "relu_ext::leaky_relu", "self")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::leaky_relu_")
def _(self, negative_slope):
    _check_input(self, "relu_ext::leaky_relu_", "self")


@torch.library.register_fake("relu_ext::leaky_relu_backward")
def _(grad_output, self, negative_slope, self_is_result):
    op = "relu_ext::leaky_relu_backward"
    _check_input(self, op, "self")
    _check_like(grad_output, self, op, "grad_output", "self")
    _check_inplace_slope(self_is_result, negative_slope, op, "slope")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::leaky_relu_mask")
def _(self, negative_slope):
    _check_input(self, "relu_ext::leaky_relu_mask", "self")
    return _with_mask(self)


@torch.library.register_fake("relu_ext::leaky_relu_mask_backward")
def _(grad_output, mask, negative_slope):
    op = "relu_ext::leaky_relu_mask_backward"
    _check_input(grad_output, op, "grad_output")
    _check_dense(grad_output, op, "grad_output")
    _check_bitmask(mask, grad_output, op, "grad_output")
    return torch.empty_like(grad_output)


@torch.library.register_fake("relu_ext::prelu")
def _(self, weight):
    _check_input(self, "relu_ext::prelu", "self")
    _check_prelu_weight(self, weight, "relu_ext::prelu")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::prelu_backward")
def _(grad_output, self, weight):
    op = "relu_ext::prelu_backward"
    _check_input(self, op, "self")
    _check_like(grad_output, self, op, "grad_output", "self")
    _check_prelu_weight(self, weight, op)
    return torch.empty_like(self), torch.empty_like(weight)


@torch.library.register_fake("relu_ext::elu")
def _(self, alpha, memory_efficient=False):
    _check_input(self, "relu_ext::elu", "self")
    _check_elu_memory_efficient(memory_efficient, alpha, "relu_ext::elu")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::elu_")
def _(self, alpha):
    _check_input(self, "relu_ext::elu_", "self")


@torch.library.register_fake("relu_ext::elu_backward")
def _(grad_output, self_or_result, alpha, is_result):
    op = "relu_ext::elu_backward"
    _check_input(self_or_result, op, "self_or_result")
    _check_like(grad_output, self_or_result, op, "grad_output", "self_or_result")
    _check_inplace_slope(is_result, alpha, op, "alpha")
    return torch.empty_like(self_or_result)


@torch.library.register_fake("relu_ext::gelu")
def _(self, approximate, memory_efficient=False):
    _check_approximate(approximate, "relu_ext::gelu")
    _check_input(self, "relu_ext::gelu", "self")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::gelu_backward")
def _(grad_output, self, approximate):
    op = "relu_ext::gelu_backward"
    _check_approximate(approximate, op)
    _check_input(self, op, "self")
    _check_like(grad_output, self, op, "grad_output", "self")
    return torch.empty_like(self)


@torch.library.register_fake("relu_ext::gelu_mask")
def _(self, approximate):
    _check_approximate(approximate, "relu_ext::gelu_mask")
    _check_input(self, "relu_ext::gelu_mask", "self")
    return _with_mask(self)


@torch.library.register_fake("relu_ext::gelu_backward_from_result")
def _(grad_output, result, mask, approximate):
    op = "relu_ext::gelu_backward_from_result"
    _check_approximate(approximate, op)
    _check_input(result, op, "result")
    _check_like(grad_output, result, op, "grad_output", "result")
    _check_dense(result, op, "result")
    _check_bitmask(mask, result, op, "result")
    return torch.empty_like(result)


@torch.library.register_fake("relu_ext::gelu_inverse")
def _(result, mask, approximate):
    op = "relu_ext::gelu_inverse"
    _check_approximate(approximate, op)
    _check_input(result, op, "result")
    _check_dense(result, op, "result")
    _check_bitmask(mask, result, op, "result")
    return torch.empty_like(result)


_ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "gelu_tanh")


def _check_bias(self, bias, dim, op):
    _check_input(self, op, "self")
    if self.dim() == 0:
        raise RuntimeError(f"{op}: expected self to have at least 1 dimension (the bias's), "
                           f"but got a 0-dim tensor")
    d = dim % self.dim() if -self.dim() <= dim < self.dim() else None
    if d is None:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-self.dim()}, {self.dim() - 1}], but got {dim})")
    if bias.dim() != 1 or bias.shape[0] != self.shape[d]:
        raise RuntimeError(f"{op}: expected bias to be a 1-D tensor of size self.size({d}) = "
                           f"{self.shape[d]}, but got size {list(bias.shape)}")
    if bias.dtype != self.dtype:
        raise RuntimeError(f"{op}: expected bias to have the same dtype as self ({self.dtype}), "
                           f"but got {bias.dtype}")
    if bias.device != self.device:
        raise RuntimeError(f"{op}: expected bias to be on the same device as self "
                           f"({self.device}), but got {bias.device}")
    return d


def _check_activation(activation, op):
    if activation not in _ACTIVATIONS:
        raise RuntimeError(f"{op}: activation must be one of 'relu', 'leaky_relu', 'elu', "
                           f"'gelu', 'gelu_tanh', but got '{activation}'")


def _check_bias_weight(self, weight, d, op):
    if weight.dim() > 1 or weight.numel() not in (1, self.shape[d]):
        raise RuntimeError(f"{op}: expected weight to have 1 or self.size({d}) = {self.shape[d]} "
                           f"elements, but got size {list(weight.shape)}")
    if weight.dtype != self.dtype:
        raise RuntimeError(f"{op}: expected weight to have the same dtype as self ({self.dtype}), "
                           f"but got {weight.dtype}")
    if weight.device != self.device:
        raise RuntimeError(f"{op}: expected weight to be on the same device as self "
                           f"({self.device}), but got {weight.device}")


def _dense_like(self):
    return torch.empty_like(self if _dense(self) else self.contiguous())


@torch.library.register_fake("relu_ext::bias_act")
def _(self, bias, dim, activation, param):
    _check_activation(activation, "relu_ext::bias_act")
    _check_bias(self, bias, dim, "relu_ext::bias_act")
    return _dense_like(self)


@torch.library.register_fake("relu_ext::bias_act_backward")
def _(grad_output, self, bias, dim, activation, param):
    op = "relu_ext::bias_act_backward"
    _check_activation(activation, op)
    _check_bias(self, bias, dim, op)
    _check_like(grad_output, self, op, "grad_output", "self")
    return _dense_like(self), torch.empty_like(bias)


@torch.library.register_fake("relu_ext::bias_prelu")
def _(self, bias, weight, dim):
    d = _check_bias(self, bias, dim, "relu_ext::bias_prelu")
    _check_bias_weight(self, weight, d, "relu_ext::bias_prelu")
    return _dense_like(self)


@torch.library.register_fake("relu_ext::bias_prelu_backward")
def _(grad_output, self, bias, weight, dim):
    op = "relu_ext::bias_prelu_backward"
    d = _check_bias(self, bias, dim, op)
    _check_bias_weight(self, weight, d, op)
    _check_like(grad_output, self, op, "grad_output", "self")
    return _dense_like(self), torch.empty_like(bias), torch.empty_like(weight)


@torch.library.register_fake("relu_ext::act_stats")
def _(self, weight, dim, activation, param, bias=None):
    op = "relu_ext::act_stats"
    if activation != "prelu":
        _check_activation(activation, op)
    if (activation == "prelu") != (weight is not None):
        raise RuntimeError(f"{op}: weight must be given for activation 'prelu' and only for it")
    if bias is not None:  # as bias_act / bias_prelu: weight and bias along dim
        d = _check_bias(self, bias, dim, op)
        if weight is not None:
            _check_bias_weight(self, weight, d, op)
        return _dense_like(self), self.new_empty((self.shape[d],), dtype=torch.int64)
    _check_input(self, op, "self")
    if self.dim() == 0:
        raise RuntimeError(f"{op}: expected self to have at least 1 dimension, but got a 0-dim "
                           f"tensor")
    if not -self.dim() <= dim < self.dim():
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-self.dim()}, {self.dim() - 1}], but got {dim})")
    d = dim % self.dim()
    if weight is not None:
        _check_prelu_weight(self, weight, op)
        if weight.numel() != 1 and d != 1:
            raise RuntimeError(f"{op}: PReLU with a weight per channel counts along dim 1 (its "
                               f"channels), got dim {d}")
    return _dense_like(self), self.new_empty((self.shape[d],), dtype=torch.int64)
