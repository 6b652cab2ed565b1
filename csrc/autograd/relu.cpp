// Autograd for relu, relu_, relu_backward.
//   relu:          saves the output y; grad_input = relu_backward(g, y) = g * (y > 0);
//                  tangent: relu_backward(dx, y)
//   relu_backward: d/dg = (y > 0) (relu_backward again); d/dy = 0 almost everywhere;
//                  tangent: relu_backward(dg, y)
#include "autograd.h"

namespace relu_ext {
namespace {

// relu_backward(g, y) is relu's gradient and, in g, also its own: one node for both.
// Inputs: 1 for relu (x), 2 for relu_backward (g, y; d/dy = 0). Saved: y.
template <size_t Inputs>
struct ReluGradNode : Node<ReluGradNode<Inputs>, 1> {
  static constexpr const char* kName = Inputs == 1 ? "ReluBackward" : "ReluBackwardBackward";
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 1>& s) {
    variable_list out(Inputs);
    if (g[0].defined() && this->should_compute(0)) out[0] = ops::relu_backward(g[0], s[0]);
    return out;
  }
  template <typename F>
  void fields(F&&) {}
};
using ReluBackward = ReluGradNode<1>;
using ReluBackwardBackward = ReluGradNode<2>;

at::Tensor relu_backward_autograd(const at::Tensor& grad, const at::Tensor& y) {
  auto node = make_node<ReluBackwardBackward>(grad, y);
  at::Tensor grad_input;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    grad_input = ops::relu_backward(grad, y);
  }
  if (node) {
    node->save(0, y, false);
    set_grad_fn({grad_input}, node);
  }
  // tangent: relu_backward(dg, y) (y's tangent contributes 0 almost everywhere)
  if (has_tangent(grad)) set_tangent(grad_input, ops::relu_backward(tangent(grad), primal(y)));
  return grad_input;
}

at::Tensor relu_autograd(const at::Tensor& x) {
  auto node = make_node<ReluBackward>(x);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::relu(x);
  }
  if (node) {
    set_grad_fn({y}, node);
    node->save(0, y, true);
  }
  if (has_tangent(x)) set_tangent(y, ops::relu_backward(tangent(x), y));
  return y;
}

void relu_inplace_autograd(at::Tensor& self) {
  auto node = make_inplace_node<ReluBackward>(self);
  // The new tangent, from the input (x <= 0 exactly where relu(x) <= 0).
  const auto t = has_tangent(self) ? ops::relu_backward(tangent(self), primal(self)) : at::Tensor();
  {
    at::AutoDispatchBelowAutograd guard;  // the ADInplaceOrView kernel bumps the version
    ops::relu_(self);
  }
  if (node) {
    rebase_grad_fn(self, node);
    node->save(0, self, true, /*inplace=*/true);
  }
  if (t.defined()) set_tangent(self, t, true);
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
