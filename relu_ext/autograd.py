"""Public torch.autograd.Function classes, one per activation.

Thin wrappers over the same forward and backward ops the modules use (the derivative's
math lives once, in the backward kernels); the backward ops are differentiable, so
double backward works. Most code wants :mod:`relu_ext.functional` instead: it records
the same graph from C++ without running any Python per call.

    y = GELUFunction.apply(x, "tanh")
"""
import torch

_ops = torch.ops.relu_ext

__all__ = ["ReLUFunction", "LeakyReLUFunction", "PReLUFunction", "ELUFunction", "GELUFunction"]


def _arg(inputs, i, default):
    return inputs[i] if len(inputs) > i else default


class ReLUFunction(torch.autograd.Function):
    """``ReLUFunction.apply(input)``"""

    @staticmethod
    def forward(input):
        return _ops.relu(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return _ops.relu_backward(grad_output, result)


class LeakyReLUFunction(torch.autograd.Function):
    """``LeakyReLUFunction.apply(input, negative_slope=0.01)``"""

    @staticmethod
    def forward(input, negative_slope=0.01):
        return _ops.leaky_relu(input, negative_slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.negative_slope = _arg(inputs, 1, 0.01)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return _ops.leaky_relu_backward(grad_output, input, ctx.negative_slope, False), None


class PReLUFunction(torch.autograd.Function):
    """``PReLUFunction.apply(input, weight)``"""

    @staticmethod
    def forward(input, weight):
        return _ops.prelu(input, weight)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return _ops.prelu_backward(grad_output, input, weight)


class ELUFunction(torch.autograd.Function):
    """``ELUFunction.apply(input, alpha=1.0)``"""

    @staticmethod
    def forward(input, alpha=1.0):
        return _ops.elu(input, alpha)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.alpha = _arg(inputs, 1, 1.0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return _ops.elu_backward(grad_output, input, ctx.alpha, False), None


class GELUFunction(torch.autograd.Function):
    """``GELUFunction.apply(input, approximate='none')``"""

    @staticmethod
    def forward(input, approximate="none"):
        return _ops.gelu(input, approximate)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.approximate = _arg(inputs, 1, "none")

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return _ops.gelu_backward(grad_output, input, ctx.approximate), None
