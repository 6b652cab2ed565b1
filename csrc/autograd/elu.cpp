// Autograd for elu, elu_, elu_backward.
//   elu:          saves the input x (the in-place form, and memory_efficient: its output y,
//                 valid for alpha >= 0)
//                 grad_input = elu_backward(g, x) = g * (x > 0 ? 1 : alpha * exp(x))
//                                                 = g * (y > 0 ? 1 : y + alpha);
//                 tangent: elu_backward(dx, x)
//   elu_backward: d/dg = elu_backward again;
//                 d/dx = g * (x > 0 ? 0 : alpha * exp(x)), or from y: g * (y > 0 ? 0 : 1);
//                 tangent: elu_backward(dg, x) + g * dx * (that factor)
#include "autograd.h"

namespace relu_ext {
namespace {

// d/dx of elu_backward(g, x) divided by g: (x > 0 ? 0 : alpha * exp(x)), or from the
// output y: (y > 0 ? 0 : 1).
at::Tensor elu_second_factor(const at::Tensor& x_or_y, double alpha, bool is_result) {
  const auto nonpositive = x_or_y <= 0;
  return is_result ? nonpositive.to(x_or_y.scalar_type())
                   : at::where(nonpositive, x_or_y.exp() * alpha, 0);
}

struct EluBackwardBackward : Node<EluBackwardBackward, 2> {  // saved: g, x (or y)
  static constexpr const char* kName = "EluBackwardBackward";
  double alpha = 0;
  bool is_result = false;
  variable_list backward(const variable_list& gg, const std::array<at::Tensor, 2>& s) {
    const auto &grad = s[0], &x_or_y = s[1];
    variable_list out(2);
    if (!gg[0].defined()) return out;
    if (should_compute(0)) {
      out[0] = ops::elu_backward(gg[0], x_or_y, alpha, is_result);
    }
    if (should_compute(1)) out[1] = gg[0] * grad * elu_second_factor(x_or_y, alpha, is_result);
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(alpha);
    f(is_result);
  }
};

at::Tensor elu_backward_autograd(const at::Tensor& grad, const at::Tensor& x_or_y, double alpha,
                                 bool is_result) {
  auto node = make_node<EluBackwardBackward>(grad, x_or_y);
  at::Tensor grad_input;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    grad_input = ops::elu_backward(grad, x_or_y, alpha, is_result);
  }
  if (node) {
    node->alpha = alpha;
    node->is_result = is_result;
    node->save(0, grad, false);
    node->save(1, x_or_y, false);
    set_grad_fn({grad_input}, node);
  }
  if (has_tangent(grad) || has_tangent(x_or_y)) {
    const auto xp = primal(x_or_y);
    at::Tensor t;
    if (has_tangent(grad)) t = ops::elu_backward(tangent(grad), xp, alpha, is_result);
    if (has_tangent(x_or_y)) {
      auto term = primal(grad) * tangent(x_or_y) * elu_second_factor(xp, alpha, is_result);
      t = t.defined() ? t + term : term;
    }
    set_tangent(grad_input, t);
  }
  return grad_input;
}

struct EluBackward : Node<EluBackward, 1> {  // saved: x, or y when is_result
  static constexpr const char* kName = "EluBackward";
  double alpha = 0;
  bool is_result = false;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(1);
    if (g[0].defined() && should_compute(0)) {
      out[0] = ops::elu_backward(g[0], s[0], alpha, is_result);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(alpha);
    f(is_result);
  }
};

at::Tensor elu_autograd(const at::Tensor& x, double alpha, bool memory_efficient) {
  auto node = make_node<EluBackward>(x);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::elu(x, alpha, memory_efficient);
  }
  if (node) {
    node->alpha = alpha;
    node->is_result = memory_efficient;
    if (memory_efficient) {
      node->save(0, y, true);
    } else {
      node->save(0, x, false);
    }
    set_grad_fn({y}, node);
  }
  if (has_tangent(x)) set_tangent(y, ops::elu_backward(tangent(x), primal(x), alpha, false));
  return y;
}

void elu_inplace_autograd(at::Tensor& self, double alpha) {
  auto node = make_inplace_node<EluBackward>(self);
  // The new tangent, from the input (before it is overwritten).
  const auto t =
      has_tangent(self) ? ops::elu_backward(tangent(self), primal(self), alpha, false) : at::Tensor();
  {
    at::AutoDispatchBelowAutograd guard;  // the ADInplaceOrView kernel bumps the version
    ops::elu_(self, alpha);
  }
  if (node) {
    node->alpha = alpha;
    node->is_result = true;
    rebase_grad_fn(self, node);
    node->save(0, self, true, /*inplace=*/true);
  }
  if (t.defined()) set_tangent(self, t, true);
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
