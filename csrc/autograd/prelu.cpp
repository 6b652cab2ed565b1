// Autograd for prelu, prelu_backward.
//   prelu:          saves x and w; (grad_input, grad_weight) = prelu_backward(g, x, w):
//                   grad_input = g * (x > 0 ? 1 : w[c]),  grad_weight[c] = sum_c g * (x > 0 ? 0 : x);
//                   tangent: dx * (x > 0 ? 1 : w[c]) + dw[c] * (x > 0 ? 0 : x)
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

struct PreluBackwardBackward : Node<PreluBackwardBackward, 3> {  // saved: g, x, w
  static constexpr const char* kName = "PreluBackwardBackward";
  variable_list backward(const variable_list& gg, const std::array<at::Tensor, 3>& s) {
    const auto &grad = s[0], &x = s[1], &w = s[2];
    const auto &gg_input = gg[0], &gg_weight = gg[1];  // either may be undefined (zero)
    const auto positive = x > 0;
    const auto gg_w = gg_weight.defined() ? weight_as_input(gg_weight, x) : at::Tensor();
    variable_list out(3);
    if (should_compute(0)) {
      at::Tensor d;
      if (gg_input.defined()) d = std::get<0>(ops::prelu_backward(gg_input, x, w));
      if (gg_w.defined()) {
        auto term = at::where(positive, 0, x * gg_w);
        d = d.defined() ? d + term : term;
      }
      out[0] = d;
    }
    if (should_compute(1) && gg_w.defined()) {
      out[1] = at::where(positive, 0, gg_w * grad);
    }
    if (should_compute(2) && gg_input.defined()) {
      out[2] = sum_to_weight(at::where(positive, 0, gg_input * grad), w);
    }
    return out;
  }
  template <typename F>
  void fields(F&&) {}
};

std::tuple<at::Tensor, at::Tensor> prelu_backward_autograd(const at::Tensor& grad,
                                                           const at::Tensor& x,
                                                           const at::Tensor& w) {
  auto node = make_node<PreluBackwardBackward>(grad, x, w);
  at::Tensor grad_input, grad_weight;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::tie(grad_input, grad_weight) = ops::prelu_backward(grad, x, w);
  }
  if (node) {
    node->save(0, grad, false);
    node->save(1, x, false);
    node->save(2, w, false);
    set_grad_fn({grad_input, grad_weight}, node);
  }
  // tangents: d grad_input = prelu_backward(dg, x, w)[0] + g * (x > 0 ? 0 : dw[c]);
  //           d grad_weight = prelu_backward(dg, x, w)[1] + sum_c (x > 0 ? 0 : g * dx)
  if (has_tangent(grad) || has_tangent(x) || has_tangent(w)) {
    const auto gp = primal(grad), xp = primal(x), wp = primal(w);
    const auto positive = xp > 0;
    at::Tensor ti, tw;
    if (has_tangent(grad)) std::tie(ti, tw) = ops::prelu_backward(tangent(grad), xp, wp);
    if (has_tangent(w)) {
      auto term = at::where(positive, 0, gp * weight_as_input(tangent(w), xp));
      ti = ti.defined() ? ti + term : term;
    }
    if (has_tangent(x)) {
      auto term = sum_to_weight(at::where(positive, 0, gp * tangent(x)), wp);
      tw = tw.defined() ? tw + term : term;
    }
    if (ti.defined()) set_tangent(grad_input, ti);
    if (tw.defined()) set_tangent(grad_weight, tw);
  }
  return {grad_input, grad_weight};
}

struct PreluBackward : Node<PreluBackward, 2> {  // saved: x, w
  static constexpr const char* kName = "PreluBackward";
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 2>& s) {
    variable_list out(2);
    if (g[0].defined() && (should_compute(0) || should_compute(1))) {
      auto [grad_input, grad_weight] = ops::prelu_backward(g[0], s[0], s[1]);
      if (should_compute(0)) out[0] = grad_input;
      if (should_compute(1)) out[1] = grad_weight;
    }
    return out;
  }
  template <typename F>
  void fields(F&&) {}
};

at::Tensor prelu_autograd(const at::Tensor& x, const at::Tensor& w) {
  auto node = make_node<PreluBackward>(x, w);
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = ops::prelu(x, w);
  }
  if (node) {
    node->save(0, x, false);
    node->save(1, w, false);
    set_grad_fn({y}, node);
  }
  // tangent: d/dx dx + d/dw dw = prelu_backward's input gradient for dx, plus
  // (x > 0 ? 0 : x) * dw[c].
  if (has_tangent(x) || has_tangent(w)) {
    const auto xp = primal(x), wp = primal(w);
    at::Tensor t;
    if (has_tangent(x)) t = std::get<0>(ops::prelu_backward(tangent(x), xp, wp));
    if (has_tangent(w)) {
      auto term = at::where(xp > 0, 0, xp * weight_as_input(tangent(w), xp));
      t = t.defined() ? t + term : term;
    }
    set_tangent(y, t);
  }
  return y;
}

// Autocast: as torch's prelu (a "lower precision" op on CPU and CUDA), input and weight
// are cast to the autocast dtype, so an fp32 weight meets a bf16/fp16 activation.
template <c10::DeviceType device>
at::Tensor prelu_autocast(const at::Tensor& x, const at::Tensor& w) {
  const Autocast<device> autocast;
  return ops::prelu(autocast.lower(x), autocast.lower(w));
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, AutocastCPU, m) {
  m.impl("prelu", &prelu_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(relu_ext, AutocastCUDA, m) {
  m.impl("prelu", &prelu_autocast<c10::DeviceType::CUDA>);
}

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("prelu", &prelu_autograd);
  m.impl("prelu_backward", &prelu_backward_autograd);
}

}  // namespace relu_ext
