// Autograd for prelu, prelu_backward.
//   prelu:          saves x and w; (grad_input, grad_weight) = prelu_backward(g, x, w):
//                   grad_input = g * (x > 0 ? 1 : w[c]),  grad_weight[c] = sum_c g * (x > 0 ? 0 : x)
//   prelu_backward: with gg_i, gg_w the gradients of grad_input and grad_weight,
//                   d/dg = gg_i * (x > 0 ? 1 : w[c]) + gg_w[c] * (x > 0 ? 0 : x)
//                   d/dx = gg_w[c] * g * (x > 0 ? 0 : 1)
//                   d/dw[c] = sum_c gg_i * g * (x > 0 ? 0 : 1)
#include "autograd.h"

namespace relu_ext {
namespace {

// The weight viewed as [1, C, 1, ...] (or a scalar) to broadcast against x.
// Symbolic sizes throughout: this also runs under torch.compile with dynamic shapes.
at::Tensor weight_as_input(const at::Tensor& weight, const at::Tensor& x) {
  if (weight.sym_numel() == 1 || x.dim() < 2) return weight.reshape({});
  std::vector<c10::SymInt> sizes(x.dim(), 1);
  sizes[1] = weight.sym_numel();
  return weight.reshape_symint(sizes);
}

// The inverse: sum a tensor shaped like x down to the weight's shape.
at::Tensor sum_to_weight(const at::Tensor& t, const at::Tensor& weight) {
  if (weight.sym_numel() == 1 || t.dim() < 2) return t.sum().reshape_symint(weight.sym_sizes());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d != 1) dims.push_back(d);
  }
  return t.sum(dims).reshape_symint(weight.sym_sizes());
}

class PreluBackwardFunction : public Function<PreluBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                               const at::Tensor& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x, w});
    auto [grad_input, grad_weight] = ops::prelu_backward(grad, x, w);
    return {grad_input, grad_weight};
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    const auto saved = ctx->get_saved_variables();
    const auto &grad = saved[0], &x = saved[1], &w = saved[2];
    const auto &gg_input = gg[0], &gg_weight = gg[1];
    const auto positive = x > 0;
    const auto gg_w = weight_as_input(gg_weight, x);
    at::Tensor d_grad, d_x, d_w;
    if (ctx->needs_input_grad(0)) {
      d_grad = std::get<0>(ops::prelu_backward(gg_input, x, w)) +
               at::where(positive, 0, x * gg_w);
    }
    if (ctx->needs_input_grad(1)) d_x = at::where(positive, 0, gg_w * grad);
    if (ctx->needs_input_grad(2)) d_w = sum_to_weight(at::where(positive, 0, gg_input * grad), w);
    return {d_grad, d_x, d_w};
  }
};

// The backward op through autograd: Function::apply only when the call is recorded
// (double backward); the forward Functions' backward calls this too.
std::tuple<at::Tensor, at::Tensor> prelu_backward_autograd(const at::Tensor& grad,
                                                           const at::Tensor& x,
                                                           const at::Tensor& w) {
  if (!needs_autograd(grad, x, w)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::prelu_backward(grad, x, w);
  }
  auto out = PreluBackwardFunction::apply(grad, x, w);
  return {out[0], out[1]};
}

class PreluFunction : public Function<PreluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x, w});
    return ops::prelu(x, w);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_input, grad_weight] = prelu_backward_autograd(grad[0], saved[0], saved[1]);
    return {grad_input, grad_weight};
  }
};

at::Tensor prelu_autograd(const at::Tensor& x, const at::Tensor& w) {
  if (!needs_autograd(x, w)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return ops::prelu(x, w);
  }
  return PreluFunction::apply(x, w);
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("prelu", &prelu_autograd);
  m.impl("prelu_backward", &prelu_backward_autograd);
}

}  // namespace relu_ext
