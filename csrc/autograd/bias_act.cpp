// Autograd for the fused bias + activation ops (bias_act, bias_prelu and their backward ops).
//   bias_act(x, b):      saves x and b; (grad_input, grad_bias) = bias_act_backward(g, x, b):
//                        grad_input = g * act'(z), z = x + b (b along dim), grad_bias = grad_input
//                        summed over every other dim; tangent: act'(z) * (dx + db)
//   bias_prelu(x, b, w): the same with PReLU (weight along dim); grad_weight = sum of
//                        g * (z > 0 ? 0 : z); tangent: act'(z) * (dx + db) + (z > 0 ? 0 : z) dw
//   the backward ops:    with a gradient or tangent to record, computed as the composite of
//                        differentiable ops (the activations' own backward ops, sums), so
//                        every order of derivative follows; otherwise the fused kernel.
#include "autograd.h"

namespace relu_ext {
namespace {

// b (1-D, C values) viewed to broadcast along dim of a tensor with ndim dims.
at::Tensor along(const at::Tensor& b, int64_t ndim, int64_t dim) {
  std::vector<c10::SymInt> shape(ndim, 1);
  shape[dim] = b.sym_numel();
  return b.reshape_symint(shape);
}

at::Tensor sum_but(const at::Tensor& t, int64_t dim) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d != dim) dims.push_back(d);
  }
  return dims.empty() ? t : t.sum(dims);
}

// g * act'(z) through the activations' own (differentiable) backward ops.
at::Tensor act_grad(const at::Tensor& g, const at::Tensor& z, c10::string_view activation,
                    double param) {
  if (activation == "relu") return ops::leaky_relu_backward(g, z, 0.0, false);
  if (activation == "leaky_relu") return ops::leaky_relu_backward(g, z, param, false);
  if (activation == "elu") return ops::elu_backward(g, z, param, false);
  return ops::gelu_backward(g, z, activation == "gelu_tanh" ? "tanh" : "none");
}

struct BiasActBackward : Node<BiasActBackward, 2> {  // saved: x, b
  static constexpr const char* kName = "BiasActBackward";
  int64_t dim = 0;
  std::string activation;
  double param = 0;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 2>& s) {
    variable_list out(2);
    if (!g[0].defined()) return out;
    auto [gi, gb] = ops::bias_act_backward(g[0], s[0], s[1], dim, activation, param);
    if (should_compute(0)) out[0] = gi;
    if (should_compute(1)) out[1] = gb;
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(dim);
    f(activation);
    f(param);
  }
};

at::Tensor bias_act_autograd_no_weight(const at::Tensor& x, const at::Tensor& b, int64_t dim,
                                       c10::string_view activation, double param,
                                       c10::function_ref<at::Tensor()> forward) {
  auto node = make_node<BiasActBackward>(x, b);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = forward();
  }
  const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
  if (node) {
    node->dim = d;
    node->activation = std::string(activation);
    node->param = param;
    node->save(0, x, false);
    node->save(1, b, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x) || has_tangent(b)) {
    const auto z = primal(x) + along(primal(b), x.dim(), d);
    at::Tensor dz = has_tangent(x) ? tangent(x) : at::zeros_like(z);
    if (has_tangent(b)) dz = dz + along(tangent(b), x.dim(), d);
    set_tangent(y, act_grad(dz, z, activation, param));
  }
  return y;
}

at::Tensor bias_act_autograd(const at::Tensor& x, const at::Tensor& b, int64_t dim,
                             c10::string_view activation, double param) {
  return bias_act_autograd_no_weight(x, b, dim, activation, param, [&] {
    return ops::bias_act(x, b, dim, activation, param);
  });
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward_autograd(const at::Tensor& grad,
                                                              const at::Tensor& x,
                                                              const at::Tensor& b, int64_t dim,
                                                              c10::string_view activation,
                                                              double param) {
  if (torch::autograd::compute_requires_grad(grad, x, b) || has_tangent(grad) ||
      has_tangent(x) || has_tangent(b)) {
    const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
    const auto gi = act_grad(grad, x + along(b, x.dim(), d), activation, param);
    return {gi, sum_but(gi, d)};
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return ops::bias_act_backward(grad, x, b, dim, activation, param);
}

struct BiasPreluBackward : Node<BiasPreluBackward, 3> {  // saved: x, b, w
  static constexpr const char* kName = "BiasPreluBackward";
  int64_t dim = 0;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 3>& s) {
    variable_list out(3);
    if (!g[0].defined()) return out;
    auto [gi, gb, gw] = ops::bias_prelu_backward(g[0], s[0], s[1], s[2], dim);
    for (size_t i = 0; i < 3; ++i) {
      if (should_compute(i)) out[i] = i == 0 ? gi : (i == 1 ? gb : gw);
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(dim);
  }
};

// PReLU's weight along dim (a 1-element weight everywhere), for the composites.
at::Tensor weight_along(const at::Tensor& w, int64_t ndim, int64_t dim) {
  return w.sym_numel() == 1 ? w.reshape({}) : along(w.reshape({-1}), ndim, dim);
}

at::Tensor bias_prelu_autograd_of(const at::Tensor& x, const at::Tensor& b, const at::Tensor& w,
                                  int64_t dim, c10::function_ref<at::Tensor()> forward) {
  auto node = make_node<BiasPreluBackward>(x, b, w);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = forward();
  }
  const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
  if (node) {
    node->dim = d;
    node->save(0, x, false);
    node->save(1, b, false);
    node->save(2, w, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x) || has_tangent(b) || has_tangent(w)) {
    const auto z = primal(x) + along(primal(b), x.dim(), d);
    const auto positive = z > 0;
    at::Tensor dz = has_tangent(x) ? tangent(x) : at::zeros_like(z);
    if (has_tangent(b)) dz = dz + along(tangent(b), x.dim(), d);
    auto t = at::where(positive, dz, weight_along(primal(w), x.dim(), d) * dz);
    if (has_tangent(w)) {
      t = t + at::where(positive, at::zeros_like(z), z * weight_along(tangent(w), x.dim(), d));
    }
    set_tangent(y, t);
  }
  return y;
}

at::Tensor bias_prelu_autograd(const at::Tensor& x, const at::Tensor& b, const at::Tensor& w,
                               int64_t dim) {
  return bias_prelu_autograd_of(x, b, w, dim, [&] { return ops::bias_prelu(x, b, w, dim); });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bias_prelu_backward_autograd(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& b, const at::Tensor& w,
    int64_t dim) {
  if (torch::autograd::compute_requires_grad(grad, x, b, w) || has_tangent(grad) ||
      has_tangent(x) || has_tangent(b) || has_tangent(w)) {
    const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
    const auto z = x + along(b, x.dim(), d);
    const auto positive = z > 0;
    const auto gi = at::where(positive, grad, weight_along(w, x.dim(), d) * grad);
    const auto gwe = at::where(positive, at::zeros_like(z), z * grad);
    auto gw = (w.sym_numel() == 1 ? gwe.sum() : sum_but(gwe, d)).reshape_symint(w.sym_sizes());
    return {gi, sum_but(gi, d), gw};
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return ops::bias_prelu_backward(grad, x, b, w, dim);
}

// Autocast: the bias takes the input's dtype, as nn.Linear's bias does under autocast (a
// LinearAct's product comes in the autocast dtype, its bias in fp32), so the result has the
// input's dtype, as the activation alone would. With PReLU, as torch's prelu (a "lower
// precision" op) on x + b: input, bias and weight in the autocast dtype.
template <c10::DeviceType device>
at::Tensor bias_act_autocast(const at::Tensor& x, const at::Tensor& b, int64_t dim,
                             c10::string_view activation, double param) {
  const Autocast<device> autocast;
  return ops::bias_act(x, autocast.like(x, b), dim, activation, param);
}
template <c10::DeviceType device>
at::Tensor bias_prelu_autocast(const at::Tensor& x, const at::Tensor& b, const at::Tensor& w,
                               int64_t dim) {
  const Autocast<device> autocast;
  return ops::bias_prelu(autocast.lower(x), autocast.lower(b), autocast.lower(w), dim);
}

}  // namespace

at::Tensor bias_act_autograd_of(const at::Tensor& x, const at::Tensor& b, const at::Tensor* w,
                                int64_t dim, c10::string_view activation, double param,
                                c10::function_ref<at::Tensor()> forward) {
  return w ? bias_prelu_autograd_of(x, b, *w, dim, forward)
           : bias_act_autograd_no_weight(x, b, dim, activation, param, forward);
}

TORCH_LIBRARY_IMPL(relu_ext, AutocastCPU, m) {
  m.impl("bias_act", &bias_act_autocast<c10::DeviceType::CPU>);
  m.impl("bias_prelu", &bias_prelu_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(relu_ext, AutocastCUDA, m) {
  m.impl("bias_act", &bias_act_autocast<c10::DeviceType::CUDA>);
  m.impl("bias_prelu", &bias_prelu_autocast<c10::DeviceType::CUDA>);
}

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("bias_act", &bias_act_autograd);
  m.impl("bias_act_backward", &bias_act_backward_autograd);
  m.impl("bias_prelu", &bias_prelu_autograd);
  m.impl("bias_prelu_backward", &bias_prelu_backward_autograd);
}

}  // namespace relu_ext
