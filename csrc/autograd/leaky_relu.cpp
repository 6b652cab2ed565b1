// Autograd for leaky_relu, leaky_relu_, leaky_relu_backward.
//   leaky_relu:          saves the input x (the in-place form: its output, valid for slope >= 0)
//                        grad_input = leaky_relu_backward(g, x) = g * (x > 0 ? 1 : slope)
//   leaky_relu_backward: d/dg = (x > 0 ? 1 : slope) (leaky_relu_backward again); d/dx = 0 a.e.
#include "autograd.h"

namespace relu_ext {
namespace {

class LeakyReluBackwardFunction : public Function<LeakyReluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                            double slope, bool is_result) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["is_result"] = is_result;
    return ops::leaky_relu_backward(grad, x, slope, is_result);
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    const auto x = ctx->get_saved_variables()[0];
    return {ops::leaky_relu_backward(gg[0], x, ctx->saved_data["slope"].toDouble(),
                                     ctx->saved_data["is_result"].toBool()),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The backward op through autograd: Function::apply only when the call is recorded
// (double backward); the forward Functions' backward calls this too.
at::Tensor leaky_relu_backward_autograd(const at::Tensor& grad, const at::Tensor& x, double slope,
                                        bool is_result) {
  if (!needs_autograd(grad, x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::leaky_relu_backward(grad, x, slope, is_result);
  }
  return LeakyReluBackwardFunction::apply(grad, x, slope, is_result);
}

class LeakyReluFunction : public Function<LeakyReluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double slope) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x});
    ctx->saved_data["slope"] = slope;
    return ops::leaky_relu(x, slope);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {leaky_relu_backward_autograd(grad[0], ctx->get_saved_variables()[0],
                                             ctx->saved_data["slope"].toDouble(), false),
            at::Tensor()};
  }
};

class LeakyReluInplaceFunction : public Function<LeakyReluInplaceFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor& self, double slope) {
    {
      at::AutoDispatchBelowADInplaceOrView guard;  // mark_dirty bumps the version
      ops::leaky_relu_(self, slope);
    }
    ctx->mark_dirty({self});
    ctx->save_for_backward({self});
    ctx->saved_data["slope"] = slope;
    return self;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {leaky_relu_backward_autograd(grad[0], ctx->get_saved_variables()[0],
                                             ctx->saved_data["slope"].toDouble(), true),
            at::Tensor()};
  }
};

at::Tensor leaky_relu_autograd(const at::Tensor& x, double slope) {
  if (!needs_autograd(x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::leaky_relu(x, slope);
  }
  return LeakyReluFunction::apply(x, slope);
}

void leaky_relu_inplace_autograd(at::Tensor& self, double slope) {
  if (!needs_autograd(self)) {
    at::AutoDispatchBelowAutograd guard;
    ops::leaky_relu_(self, slope);
    return;
  }
  LeakyReluInplaceFunction::apply(self, slope);
}

void leaky_relu_inplace_view(at::Tensor& self, double slope) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    ops::leaky_relu_(self, slope);
  }
  torch::autograd::increment_version(self);
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("leaky_relu", &leaky_relu_autograd);
  m.impl("leaky_relu_", &leaky_relu_inplace_autograd);
  m.impl("leaky_relu_backward", &leaky_relu_backward_autograd);
}

TORCH_LIBRARY_IMPL(relu_ext, ADInplaceOrView, m) {
  m.impl("leaky_relu_", &leaky_relu_inplace_view);
}

}  // namespace relu_ext
