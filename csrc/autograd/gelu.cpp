// Autograd for gelu, gelu_backward.
//   gelu:          saves the input x; grad_input = gelu_backward(g, x) = g * gelu'(x)
//   gelu_backward: d/dg = gelu'(x) (gelu_backward again); d/dx = g * gelu''(x), with
//     exact: gelu''(x) = phi(x) * (2 - x^2)
//     tanh:  gelu''(x) = (1 - t^2) * (u' - x t u'^2 + x u'' / 2),
//            u = k (x + c x^3), u' = k (1 + 3 c x^2), u'' = 6 k c x, t = tanh(u)
#include <cmath>

#include "autograd.h"

namespace relu_ext {
namespace {

at::Tensor gelu_second_derivative(const at::Tensor& x, bool use_tanh) {
  if (!use_tanh) {
    const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;
    const auto x2 = x * x;
    return (x2 * -0.5).exp() * inv_sqrt_2pi * (2.0 - x2);
  }
  const double k = M_SQRT2 * M_2_SQRTPI * 0.5, c = 0.044715;
  const auto x2 = x * x;
  const auto t = ((x + x2 * x * c) * k).tanh();
  const auto du = (x2 * (3 * c) + 1) * k;
  const auto d2u = x * (6 * k * c);
  return (1 - t * t) * (du - x * t * du * du + x * d2u * 0.5);
}

class GeluBackwardFunction : public Function<GeluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                            const std::string& approximate) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x});
    ctx->saved_data["approximate"] = approximate;
    return ops::gelu_backward(grad, x, approximate);
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    const auto saved = ctx->get_saved_variables();
    const auto approximate = ctx->saved_data["approximate"].toStringRef();
    at::Tensor grad_grad, grad_x;
    if (ctx->needs_input_grad(0)) grad_grad = ops::gelu_backward(gg[0], saved[1], approximate);
    if (ctx->needs_input_grad(1)) {
      grad_x = gg[0] * saved[0] * gelu_second_derivative(saved[1], approximate == "tanh");
    }
    return {grad_grad, grad_x, at::Tensor()};
  }
};

// The backward op through autograd: Function::apply only when the call is recorded
// (double backward); the forward Functions' backward calls this too.
at::Tensor gelu_backward_autograd(const at::Tensor& grad, const at::Tensor& x,
                                  c10::string_view approximate) {
  if (!needs_autograd(grad, x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::gelu_backward(grad, x, approximate);
  }
  return GeluBackwardFunction::apply(grad, x, std::string(approximate));
}

class GeluFunction : public Function<GeluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const std::string& approximate) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x});
    ctx->saved_data["approximate"] = approximate;
    return ops::gelu(x, approximate);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {gelu_backward_autograd(grad[0], ctx->get_saved_variables()[0],
                                        ctx->saved_data["approximate"].toStringRef()),
            at::Tensor()};
  }
};

at::Tensor gelu_autograd(const at::Tensor& x, c10::string_view approximate) {
  if (!needs_autograd(x)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::gelu(x, approximate);
  }
  return GeluFunction::apply(x, std::string(approximate));
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("gelu", &gelu_autograd);
  m.impl("gelu_backward", &gelu_backward_autograd);
}

}  // namespace relu_ext
