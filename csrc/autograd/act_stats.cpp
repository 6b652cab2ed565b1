// Autograd for act_stats (an activation that also counts, per channel, its inputs in the
// active regime; relu_ext.DeadUnitMonitor): the result's gradient is the activation's own,
// through its backward op (relu: from the result; the others: from the input x; PReLU also
// gives the weight's). The counts get no gradient. Tangent: the same derivative on dx (and
// PReLU's (x > 0 ? 0 : x) dw). With a bias: bias_act's (bias_prelu's) autograd, gradients and
// tangent (bias_act.cpp).
#include "../common.h"
#include "autograd.h"

namespace relu_ext {
namespace {

struct ActStatsBackward : Node<ActStatsBackward, 2> {  // saved: x (relu: the result), weight
  static constexpr const char* kName = "ActStatsBackward";
  std::string activation;
  double param = 0;
  variable_list backward(const variable_list& g, const std::array<at::Tensor, 2>& s) {
    variable_list out(num_outputs());
    if (!g[0].defined()) return out;
    if (activation == "prelu") {
      auto [gi, gw] = ops::prelu_backward(g[0], s[0], s[1]);
      if (should_compute(0)) out[0] = gi;
      if (should_compute(1)) out[1] = gw;
      return out;
    }
    if (!should_compute(0)) return out;
    if (activation == "relu") {
      out[0] = ops::relu_backward(g[0], s[0]);
    } else if (activation == "leaky_relu") {
      out[0] = ops::leaky_relu_backward(g[0], s[0], param, false);
    } else if (activation == "elu") {
      out[0] = ops::elu_backward(g[0], s[0], param, false);
    } else {
      out[0] = ops::gelu_backward(g[0], s[0], activation == "gelu_tanh" ? "tanh" : "none");
    }
    return out;
  }
  template <typename F>
  void fields(F&& f) {
    f(activation);
    f(param);
  }
};

std::tuple<at::Tensor, at::Tensor> act_stats_autograd(const at::Tensor& x,
                                                      const std::optional<at::Tensor>& weight,
                                                      int64_t dim, c10::string_view activation,
                                                      double param,
                                                      const std::optional<at::Tensor>& bias) {
  if (bias) {
    at::Tensor fired;
    const auto y = bias_act_autograd_of(x, *bias, weight ? &*weight : nullptr, dim, activation,
                                        param, [&] {
                                          at::Tensor out;
                                          std::tie(out, fired) = ops::act_stats(
                                              x, weight, dim, activation, param, bias);
                                          return out;
                                        });
    return {y, fired};
  }
  const bool prelu = weight.has_value();
  auto node = prelu ? make_node<ActStatsBackward>(x, *weight) : make_node<ActStatsBackward>(x);
  at::Tensor y, fired;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::tie(y, fired) = ops::act_stats(x, weight, dim, activation, param, std::nullopt);
  }
  if (node) {
    node->activation = std::string(activation);
    node->param = param;
    if (activation == "relu") {
      node->save(0, y, true);
    } else {
      node->save(0, x, false);
    }
    if (prelu) node->save(1, *weight, false);
    set_grad_fn({y}, node);
  }
  if (has_tangent(x) || (prelu && has_tangent(*weight))) {
    const auto xp = primal(x);
    const auto dx = has_tangent(x) ? tangent(x) : at::zeros_like(xp);
    at::Tensor t;
    if (prelu) {
      const auto w = primal(*weight);
      const auto bw = broadcast_weight(w.contiguous(), xp);
      t = at::where(xp > 0, dx, bw * dx);
      if (has_tangent(*weight)) {
        t = t + at::where(xp > 0, at::zeros_like(xp),
                          xp * broadcast_weight(tangent(*weight).contiguous(), xp));
      }
    } else if (activation == "relu") {
      t = ops::relu_backward(dx, y);
    } else if (activation == "leaky_relu") {
      t = ops::leaky_relu_backward(dx, xp, param, false);
    } else if (activation == "elu") {
      t = ops::elu_backward(dx, xp, param, false);
    } else {
      t = ops::gelu_backward(dx, xp, activation == "gelu_tanh" ? "tanh" : "none");
    }
    set_tangent(y, t);
  }
  return {y, fired};
}

// Autocast: as the activation's own op. PReLU's as torch's prelu (input and weight in the
// autocast dtype, csrc/autograd/prelu.cpp); the others are not autocast ops: as they come.
// With a bias, as bias_act's and bias_prelu's (bias_act.cpp): the bias in the input's dtype;
// with PReLU, input, weight and bias in the autocast dtype.
template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor> act_stats_autocast(const at::Tensor& x,
                                                      const std::optional<at::Tensor>& weight,
                                                      int64_t dim, c10::string_view activation,
                                                      double param,
                                                      const std::optional<at::Tensor>& bias) {
  const Autocast<device> autocast;
  if (activation == "prelu" && weight) {
    return ops::act_stats(autocast.lower(x), autocast.lower(*weight), dim, activation, param,
                          bias ? std::optional<at::Tensor>(autocast.lower(*bias)) : std::nullopt);
  }
  return ops::act_stats(x, weight, dim, activation, param,
                        bias ? std::optional<at::Tensor>(autocast.like(x, *bias)) : std::nullopt);
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, AutocastCPU, m) {
  m.impl("act_stats", &act_stats_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(relu_ext, AutocastCUDA, m) {
  m.impl("act_stats", &act_stats_autocast<c10::DeviceType::CUDA>);
}

TORCH_LIBRARY_IMPL(relu_ext, Autograd, m) {
  m.impl("act_stats", &act_stats_autograd);
}

}  // namespace relu_ext
