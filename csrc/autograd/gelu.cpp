// Autograd for gelu, gelu_backward.
//   gelu:          saves the input x; grad_input = gelu_backward(g, x) = g * gelu'(x);
//                  tangent: gelu_backward(dx, x)
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

struct GeluBackwardBackward : Node<GeluBackwardBackward, 2> {  // saved: g, x
  static constexpr const char* kName = "GeluBackwardBackward";
  std::string approximate;
  variable_list backward(const variable_list& gg, const std::array<at::Tensor, 2>& s) {
    variable_list out(2);
    if (!gg[0].defined()) return out;
    if (should_compute(0)) out[0] = ops::gelu_backward(gg[0], s[1], approximate);
    if (should_compute(1)) {
      out[1] = gg[0] * s[0] * gelu_second_derivative(s[1], approximate == "tanh");
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(approximate);
  }
};

at::Tensor gelu_backward_autograd(const at::Tensor& grad, const at::Tensor& x,
                                  c10::string_view approximate) {
  auto node = make_node<GeluBackwardBackward>(grad, x);
  at::Tensor grad_input;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    grad_input = ops::gelu_backward(grad, x, approximate);
  }
  if (node) {
    node->approximate = std::string(approximate);
    node->save(0, grad, false);
    node->save(1, x, false);
    set_grad_fn({grad_input}, node);
  }
  if (has_tangent(grad) || has_tangent(x)) {  // gelu_backward(dg, x) + g * dx * gelu''(x)
    const auto xp = primal(x);
    at::Tensor t;
    if (has_tangent(grad)) t = ops::gelu_backward(tangent(grad), xp, approximate);
    if (has_tangent(x)) {
      auto term = primal(grad) * tangent(x) * gelu_second_derivative(xp, approximate == "tanh");
      t = t.defined() ? t + term : term;
    }
    set_tangent(grad_input, t);
  }
  return grad_input;
}

struct GeluBackward : Node<GeluBackward, 1> {  // saved: x
  static constexpr const char* kName = "GeluBackward";
  std::string approximate;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(1);
    if (g[0].defined() && should_compute(0)) {
      out[0] = ops::gelu_backward(g[0], s[0], approximate);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(approximate);
  }
};

at::Tensor gelu_autograd(const at::Tensor& x, c10::string_view approximate) {
  auto node = make_node<GeluBackward>(x);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::gelu(x, approximate);
  }
  if (node) {
    node->approximate = std::string(approximate);
    node->save(0, x, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x)) set_tangent(y, ops::gelu_backward(tangent(x), primal(x), approximate));
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("gelu", &gelu_autograd);
  m.impl("gelu_backward", &gelu_backward_autograd);
}

}  // namespace relu_ext
