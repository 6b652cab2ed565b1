// Autograd for gelu, gelu_backward, and the memory-efficient ops gelu_mask,
// gelu_backward_from_result, gelu_inverse.
//   gelu:          saves the input x; grad_input = gelu_backward(g, x) = g * gelu'(x);
//                  tangent: gelu_backward(dx, x)
//   gelu with memory_efficient (gelu_mask): saves the output y and a 1-bit mask m
//                  (x >= x_min); grad_input = gelu_backward_from_result(g, y, m)
//                  = g * gelu'(gelu_inverse(y, m)). y must not be modified in place before
//                  backward (autograd's version check raises, as for relu).
//   gelu_backward_from_result: differentiated as gelu_backward(g, gelu_inverse(y, m));
//   gelu_inverse:  x(y) on the branch m: dx/dy = 1 / gelu'(x); tangent dy / gelu'(x)
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

struct GeluMemoryEfficientBackward : Node<GeluMemoryEfficientBackward, 2> {  // saved: y, mask
  static constexpr const char* kName = "GeluMemoryEfficientBackward";
  std::string approximate;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 2>& s) {
    variable_list out(1);
    if (g[0].defined() && should_compute(0)) {
      out[0] = ops::gelu_backward_from_result(g[0], s[0], s[1], approximate);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(approximate);
  }
};

std::tuple<at::Tensor, at::Tensor> gelu_mask_autograd(const at::Tensor& x,
                                                      c10::string_view approximate) {
  auto node = make_node<GeluMemoryEfficientBackward>(x);
  at::Tensor y, mask;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::tie(y, mask) = ops::gelu_mask(x, approximate);
  }
  if (node) {
    node->approximate = std::string(approximate);
    node->save(0, y, true);
    node->save(1, mask, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x)) set_tangent(y, ops::gelu_backward(tangent(x), primal(x), approximate));
  return {y, mask};
}

// With a gradient to record (g or y requiring one, or a tangent): the composite, so every
// order of derivative follows from gelu_backward's and gelu_inverse's; otherwise the fused
// kernel.
at::Tensor gelu_backward_from_result_autograd(const at::Tensor& grad, const at::Tensor& y,
                                              const at::Tensor& mask,
                                              c10::string_view approximate) {
  if (torch::autograd::compute_requires_grad(grad, y) || has_tangent(grad) || has_tangent(y)) {
    return ops::gelu_backward(grad, ops::gelu_inverse(y, mask, approximate), approximate);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return ops::gelu_backward_from_result(grad, y, mask, approximate);
}

struct GeluInverseBackward : Node<GeluInverseBackward, 1> {  // saved: x (the output)
  static constexpr const char* kName = "GeluInverseBackward";
  std::string approximate;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(1);
    if (g[0].defined() && should_compute(0)) {
      out[0] = g[0] / ops::gelu_backward(at::ones_like(s[0]), s[0], approximate);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(approximate);
  }
};

at::Tensor gelu_inverse_autograd(const at::Tensor& y, const at::Tensor& mask,
                                 c10::string_view approximate) {
  auto node = make_node<GeluInverseBackward>(y);
  at::Tensor x;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    x = ops::gelu_inverse(y, mask, approximate);
  }
  if (node) {
    node->approximate = std::string(approximate);
    node->save(0, x, true);
    set_grad_fn({x}, node);
  }
  if (has_tangent(y)) {
    set_tangent(x, tangent(y) / ops::gelu_backward(at::ones_like(x), primal(x), approximate));
  }
  return x;
}

at::Tensor gelu_autograd(const at::Tensor& x, c10::string_view approximate,
                         bool memory_efficient) {
  if (memory_efficient && torch::autograd::compute_requires_grad(x)) {
    return std::get<0>(gelu_mask_autograd(x, approximate));
  }
  auto node = make_node<GeluBackward>(x);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::gelu(x, approximate, memory_efficient);
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
  m.impl("gelu_mask", &gelu_mask_autograd);
  m.impl("gelu_backward_from_result", &gelu_backward_from_result_autograd);
  m.impl("gelu_inverse", &gelu_inverse_autograd);
}

}  // namespace relu_ext
