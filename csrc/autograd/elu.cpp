// Autograd for elu, elu_, elu_backward.
//   elu:          saves the input x (the in-place form: its output y, valid for alpha >= 0)
//                 grad_input = elu_backward(g, x) = g * (x > 0 ? 1 : alpha * exp(x))
//                                                 = g * (y > 0 ? 1 : y + alpha)
//   elu_backward: d/dg = elu_backward again;
//                 d/dx = g * (x > 0 ? 0 : alpha * exp(x)), or from y: g * (y > 0 ? 0 : 1)
#include "autograd.h"

namespace relu_ext {
namespace {

class EluBackwardFunction : public Function<EluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad,
                            const at::Tensor& x_or_y, double alpha, bool is_result) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x_or_y});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["is_result"] = is_result;
    return ops::elu_backward(grad, x_or_y, alpha, is_result);
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    const auto saved = ctx->get_saved_variables();
    const auto& grad = saved[0];
    const auto& x_or_y = saved[1];
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const bool is_result = ctx->saved_data["is_result"].toBool();
    at::Tensor grad_grad, grad_x;
    if (ctx->needs_input_grad(0)) {
      grad_grad = ops::elu_backward(gg[0], x_or_y, alpha, is_result);
    }
    if (ctx->needs_input_grad(1)) {
      const auto nonpositive = x_or_y <= 0;
      const auto slope = is_result ? nonpositive.to(x_or_y.scalar_type())
                                   : at::where(nonpositive, x_or_y.exp() * alpha, 0);
      grad_x = gg[0] * grad * slope;
    }
    return {grad_grad, grad_x, at::Tensor(), at::Tensor()};
  }
};

// The backward op through autograd: Function::apply only when the call is recorded
// (double backward); the forward Functions' backward calls this too.
at::Tensor elu_backward_autograd(const at::Tensor& grad, const at::Tensor& x_or_y, double alpha,
                                 bool is_result) {
  if (!needs_autograd(grad, x_or_y)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::elu_backward(grad, x_or_y, alpha, is_result);
  }
  return EluBackwardFunction::apply(grad, x_or_y, alpha, is_result);
}

class EluFunction : public Function<EluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x});
    ctx->saved_data["alpha"] = alpha;
    return ops::elu(x, alpha);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {elu_backward_autograd(grad[0], ctx->get_saved_variables()[0],
                                       ctx->saved_data["alpha"].toDouble(), false),
            at::Tensor()};
  }
};

class EluInplaceFunction : public Function<EluInplaceFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor& self, double alpha) {
    {
      at::AutoDispatchBelowADInplaceOrView guard;  // mark_dirty bumps the version
      ops::elu_(self, alpha);
    }
    ctx->mark_dirty({self});
    ctx->save_for_backward({self});
    ctx->saved_data["alpha"] = alpha;
    return self;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {elu_backward_autograd(grad[0], ctx->get_saved_variables()[0],
                                       ctx->saved_data["alpha"].toDouble(), true),
            at::Tensor()};
  }
};

at::Tensor elu_autograd(const at::Tensor& x, double alpha) {
  if (!needs_autograd(x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::elu(x, alpha);
  }
  return EluFunction::apply(x, alpha);
}

void elu_inplace_autograd(at::Tensor& self, double alpha) {
  if (!needs_autograd(self)) {
    at::AutoDispatchBelowAutograd guard;
    ops::elu_(self, alpha);
    return;
  }
  EluInplaceFunction::apply(self, alpha);
}

void elu_inplace_view(at::Tensor& self, double alpha) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    ops::elu_(self, alpha);
  }
  torch::autograd::increment_version(self);
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("elu", &elu_autograd);
  m.impl("elu_", &elu_inplace_autograd);
  m.impl("elu_backward", &elu_backward_autograd);
}

TORCH_LIBRARY_IMPL(relu_ext, ADInplaceOrView, m) {
  m.impl("elu_", &elu_inplace_view);
}

}  // namespace relu_ext
