// Autograd for leaky_relu, leaky_relu_, leaky_relu_backward, leaky_relu_mask_backward.
//   leaky_relu:          saves a 1-bit mask m = (x > 0) (leaky_relu_mask), 1/32 of a float32
//                        input and still valid if the output is later modified in place;
//                        grad_input = leaky_relu_mask_backward(g, m) = g * (m ? 1 : slope);
//                        (the in-place form saves its output, valid for slope >= 0:
//                        leaky_relu_backward(g, y) = g * (y > 0 ? 1 : slope));
//                        tangent: leaky_relu_backward(dx, x)
//   leaky_relu_mask_backward: d/dg = itself; no gradient for the mask;
//                        tangent: leaky_relu_mask_backward(dg, m)
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
      Inputs == 1 ? "LeakyReluBackward1" : "LeakyReluBackwardBackward";
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
using LeakyReluBackward1 = LeakyReluGradNode<1>;  // the in-place form (as ATen names it)
using LeakyReluBackwardBackward = LeakyReluGradNode<2>;

// The same from the mask: leaky_relu's node (Inputs = 1) and leaky_relu_mask_backward's
// (Inputs = 2: g, mask; the mask gets no gradient). Saved: the mask, and the strides of the
// tensor whose memory order its bits follow (an incoming gradient is laid out so first).
template <size_t Inputs>
struct LeakyReluMaskGradNode : Node<LeakyReluMaskGradNode<Inputs>, 1> {
  static constexpr const char* kName =
      Inputs == 1 ? "LeakyReluBackward" : "LeakyReluMaskBackwardBackward";
  double slope = 0;
  std::vector<c10::SymInt> strides;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(Inputs);
    if (g[0].defined() && this->should_compute(0)) {
      out[0] = ops::leaky_relu_mask_backward(with_strides(g[0], strides), s[0], slope);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(slope);
    f(strides);
  }
};
using LeakyReluBackward = LeakyReluMaskGradNode<1>;
using LeakyReluMaskBackwardBackward = LeakyReluMaskGradNode<2>;

at::Tensor leaky_relu_mask_backward_autograd(const at::Tensor& grad, const at::Tensor& mask,
                                             double slope) {
  auto node = make_node<LeakyReluMaskBackwardBackward>(grad, mask);
  at::Tensor grad_input;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    grad_input = ops::leaky_relu_mask_backward(grad, mask, slope);
  }
  if (node) {
    node->slope = slope;
    node->strides = grad.sym_strides().vec();
    node->save(0, mask, false);
    set_grad_fn({grad_input}, node);
  }
  if (has_tangent(grad)) {
    set_tangent(grad_input, ops::leaky_relu_mask_backward(
                                with_strides(tangent(grad), grad.sym_strides()), mask, slope));
  }
  return grad_input;
}

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

std::tuple<at::Tensor, at::Tensor> leaky_relu_mask_autograd(const at::Tensor& x, double slope) {
  auto node = make_node<LeakyReluBackward>(x);
  at::Tensor y, mask;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::tie(y, mask) = ops::leaky_relu_mask(x, slope);
  }
  if (node) {
    node->slope = slope;
    node->strides = y.sym_strides().vec();
    node->save(0, mask, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x)) set_tangent(y, ops::leaky_relu_backward(tangent(x), primal(x), slope, false));
  return {y, mask};
}

at::Tensor leaky_relu_autograd(const at::Tensor& x, double slope) {
  if (torch::autograd::compute_requires_grad(x)) {
    return std::get<0>(leaky_relu_mask_autograd(x, slope));
  }
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::leaky_relu(x, slope);
  }
  if (has_tangent(x)) set_tangent(y, ops::leaky_relu_backward(tangent(x), primal(x), slope, false));
  return y;
}

void leaky_relu_inplace_autograd(at::Tensor& self, double slope) {
  auto node = make_inplace_node<LeakyReluBackward1>(self);
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
  m.impl("leaky_relu_mask", &leaky_relu_mask_autograd);
  m.impl("leaky_relu_mask_backward", &leaky_relu_mask_backward_autograd);
}

TORCH_LIBRARY_IMPL(relu_ext, ADInplaceOrView, m) {
  m.impl("leaky_relu_", &leaky_relu_inplace_view);
}

}  // namespace relu_ext
