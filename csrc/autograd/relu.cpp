// Autograd for relu, relu_, relu_backward.
//   relu:          saves the output y; grad_input = relu_backward(g, y) = g * (y > 0)
//   relu_backward: d/dg = (y > 0) (relu_backward again); d/dy = 0 almost everywhere
#include "autograd.h"

namespace relu_ext {
namespace {

class ReluBackwardFunction : public Function<ReluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& y) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({y});
    return ops::relu_backward(grad, y);
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    const auto y = ctx->get_saved_variables()[0];
    return {ops::relu_backward(gg[0], y), at::Tensor()};
  }
};

// The backward op through autograd: Function::apply only when the call is recorded
// (double backward); the forward Functions' backward calls this too.
at::Tensor relu_backward_autograd(const at::Tensor& grad, const at::Tensor& y) {
  if (!needs_autograd(grad, y)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::relu_backward(grad, y);
  }
  return ReluBackwardFunction::apply(grad, y);
}

class ReluFunction : public Function<ReluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto y = ops::relu(x);
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {relu_backward_autograd(grad[0], ctx->get_saved_variables()[0])};
  }
};

class ReluInplaceFunction : public Function<ReluInplaceFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor& self) {
    {
      at::AutoDispatchBelowADInplaceOrView guard;  // mark_dirty bumps the version
      ops::relu_(self);
    }
    ctx->mark_dirty({self});
    ctx->save_for_backward({self});
    return self;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {relu_backward_autograd(grad[0], ctx->get_saved_variables()[0])};
  }
};

at::Tensor relu_autograd(const at::Tensor& x) {
  if (!needs_autograd(x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::relu(x);
  }
  return ReluFunction::apply(x);
}

void relu_inplace_autograd(at::Tensor& self) {
  if (!needs_autograd(self)) {
    at::AutoDispatchBelowAutograd guard;
    ops::relu_(self);
    return;
  }
  ReluInplaceFunction::apply(self);
}

// ADInplaceOrView: bump the version counter, as torch's own in-place ops do
// (also inside inference_mode, where the Autograd kernel does not run).
void relu_inplace_view(at::Tensor& self) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    ops::relu_(self);
  }
  torch::autograd::increment_version(self);
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("relu", &relu_autograd);
  m.impl("relu_", &relu_inplace_autograd);
  m.impl("relu_backward", &relu_backward_autograd);
}

TORCH_LIBRARY_IMPL(relu_ext, ADInplaceOrView, m) {
  m.impl("relu_", &relu_inplace_view);
}

}  // namespace relu_ext
