// Autograd for leaky_relu, leaky_relu_, leaky_relu_backward.
//   leaky_relu:          saves the input x (the in-place form: its output, valid for slope >= 0)
//                        grad_input = leaky_relu_backward(g, x) = g * (x > 0 ? 1 : slope);
//                        tangent: leaky_relu_backward(dx, x)
//   leaky_relu_backward: d/dg = (x > 0 ? 1 : slope) (leaky_relu_backward again); d/dx = 0 a.e.;
//                        tangent: leaky_relu_backward(dg, x)
#include "autograd.h"

namespace relu_ext {
namespace {

// leaky_relu_backward(g, x) is leaky_relu's gradient and, in g, also its own: one node for
// both. Inputs: 1 for leaky_relu (x), 2 for leaky_relu_backward (g, x; d/dx = 0).
// Saved: x, or y when is_result.
template <size_t Inputs>
struct LeakyReluGradNode : Node<LeakyReluGradNode<Inputs>, 1> {
  static constexpr const char* kName =
      Inputs == 1 ? "LeakyReluBackward" : "LeakyReluBackwardBackward";
  double slope = 0;
  bool is_result = false;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(Inputs);
    if (g[0].defined() && this->should_compute(0)) {
      out[0] = ops::leaky_relu_backward(g[0], s[0], slope, is_result);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(slope);
    f(is_result);
  }
};
using LeakyReluBackward = LeakyReluGradNode<1>;
using LeakyReluBackwardBackward = LeakyReluGradNode<2>;

at::Tensor leaky_relu_backward_autograd(const at::Tensor& grad, const at::Tensor& x, double slope,
                                        bool is_result) {
  auto node = make_node<LeakyReluBackwardBackward>(grad, x);
  at::Tensor grad_input;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    grad_input = ops::leaky_relu_backward(grad, x, slope, is_result);
  }
  if (node) {
    node->slope = slope;
    node->is_result = is_result;
    node->save(0, x, false);
    set_grad_fn({grad_input}, node);
  }
  if (has_tangent(grad)) {  // x's tangent contributes 0 almost everywhere
    set_tangent(grad_input, ops::leaky_relu_backward(tangent(grad), primal(x), slope, is_result));
  }
  return grad_input;
}

at::Tensor leaky_relu_autograd(const at::Tensor& x, double slope) {
  auto node = make_node<LeakyReluBackward>(x);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::leaky_relu(x, slope);
  }
  if (node) {
    node->slope = slope;
    node->save(0, x, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x)) set_tangent(y, ops::leaky_relu_backward(tangent(x), primal(x), slope, false));
  return y;
}

void leaky_relu_inplace_autograd(at::Tensor& self, double slope) {
  auto node = make_inplace_node<LeakyReluBackward>(self);
  // The new tangent, from the input (before it is overwritten).
  const auto t = has_tangent(self) ? ops::leaky_relu_backward(tangent(self), primal(self), slope, false)
                                   : at::Tensor();
  {
    at::AutoDispatchBelowAutograd guard;  // the ADInplaceOrView kernel bumps the version
    ops::leaky_relu_(self, slope);
  }
  if (node) {
    node->slope = slope;
    node->is_result = true;
    rebase_grad_fn(self, node);
    node->save(0, self, true, /*inplace=*/true);
  }
  if (t.defined()) set_tangent(self, t, true);
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
