// Fused bias + activation on CUDA: y = act(x + b[c]), c the index along `dim`; backward:
// grad_input = g * act'(x + b[c]) with grad_bias[c] (PReLU: and grad_weight) reduced in the
// same pass: each block takes a fixed piece of the data (loops.cuh: channel_sums), writes
// grad_input and reduces its share in a fixed order (no atomics); a second, tiny kernel sums
// each channel's slices in order (as prelu.cu). Bitwise deterministic run to run. Math:
// ../common.h act_fwd/act_bwd.
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

template <Act A>
at::Tensor forward(const at::Tensor& self, const at::Tensor& bias, const at::Tensor* weight,
                   int64_t dim, double param) {
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = as_dense(self);
  auto out = at::empty_like(x);
  const int64_t n = x.numel();
  if (n == 0) return out;
  const auto b = bias.contiguous();
  const auto w = weight ? weight->contiguous() : at::Tensor();
  const int64_t channels = x.size(dim);
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    const auto pc = channel_param<scalar_t>(w, param);
    cuda_channel_elementwise<scalar_t>(
        out, x, channel_inner(x, channels, dim), channels,
        [=] __device__(opmath_t v, int64_t c) {
          return act_fwd_stored<A, scalar_t>(v + static_cast<opmath_t>(bp[c]), pc(c));
        });
  });
  return out;
}

template <Act A>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_output,
                                                        const at::Tensor& self,
                                                        const at::Tensor& bias,
                                                        const at::Tensor* weight, int64_t dim,
                                                        double param) {
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = as_dense(self);
  const auto g = in_layout_of(grad_output, x);
  auto gi = at::empty_like(x);
  // 1-D, so stride 1 (or one element): channel_totals writes them in place
  auto gb = at::empty_like(bias);
  auto gw = weight ? at::empty_like(*weight) : at::Tensor();
  const int64_t n = x.numel();
  if (n == 0) {
    gb.zero_();
    if (gw.defined()) gw.zero_();
    return {gi, gb, gw};
  }
  const auto b = bias.contiguous();
  const auto w = weight ? weight->contiguous() : at::Tensor();
  const int64_t channels = x.size(dim);
  const auto split =
      channel_split(n, channels, channel_inner(x, channels, dim), vector_width(gi, g, x));
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using acc_t = sum_t<scalar_t>;
    constexpr int K = A == Act::kPrelu ? 2 : 1;  // grad_bias (and PReLU's grad_weight) terms
    auto partials = at::empty({K * split.parts()},
                              x.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    const auto pc = channel_param<scalar_t>(w, param);
    channel_sums<acc_t, K, scalar_t>(
        split,
        [=] __device__(int64_t c, Sums<acc_t, K>& sums, opmath_t gv, opmath_t xv) {
          const opmath_t z = xv + static_cast<opmath_t>(bp[c]);
          const opmath_t d = act_bwd_stored<A, scalar_t>(gv, z, pc(c));
          sums.v[0] += static_cast<acc_t>(d);
          if constexpr (A == Act::kPrelu) {
            sums.v[1] += static_cast<acc_t>(prelu_bwd_weight(gv, z));
          }
          return d;
        },
        partials.data_ptr<acc_t>(), gi, g, x);
    channel_totals(partials.const_data_ptr<acc_t>(), split, false, gb.data_ptr<scalar_t>());
    if (gw.defined()) {
      channel_totals(partials.const_data_ptr<acc_t>() + split.parts(), split,
                     gw.numel() == 1, gw.data_ptr<scalar_t>());
    }
  });
  return {gi, gb, gw};
}

at::Tensor bias_act_cuda(const at::Tensor& self, const at::Tensor& bias, int64_t dim,
                         c10::string_view activation, double param) {
  const Act act = parse_activation(activation, "relu_ext::bias_act");
  dim = check_bias(self, bias, dim, "relu_ext::bias_act");
  return with_activation(act, [&](auto a) {
    return forward<decltype(a)::value>(self, bias, nullptr, dim, param);
  });
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward_cuda(const at::Tensor& grad_output,
                                                          const at::Tensor& self,
                                                          const at::Tensor& bias, int64_t dim,
                                                          c10::string_view activation,
                                                          double param) {
  constexpr const char* op = "relu_ext::bias_act_backward";
  const Act act = parse_activation(activation, op);
  dim = check_bias(self, bias, dim, op);
  check_like(grad_output, self, op, "grad_output", "self");
  auto [gi, gb, gw] = with_activation(act, [&](auto a) {
    return backward<decltype(a)::value>(grad_output, self, bias, nullptr, dim, param);
  });
  return {gi, gb};
}

at::Tensor bias_prelu_cuda(const at::Tensor& self, const at::Tensor& bias,
                           const at::Tensor& weight, int64_t dim) {
  dim = check_bias(self, bias, dim, "relu_ext::bias_prelu");
  check_bias_weight(self, weight, dim, "relu_ext::bias_prelu");
  return forward<Act::kPrelu>(self, bias, &weight, dim, 0.0);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bias_prelu_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& bias,
    const at::Tensor& weight, int64_t dim) {
  constexpr const char* op = "relu_ext::bias_prelu_backward";
  dim = check_bias(self, bias, dim, op);
  check_bias_weight(self, weight, dim, op);
  check_like(grad_output, self, op, "grad_output", "self");
  return backward<Act::kPrelu>(grad_output, self, bias, &weight, dim, 0.0);
}

// CUDA kernels for bias_act, bias_act_backward, bias_prelu, bias_prelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("bias_act", &bias_act_cuda);
  m.impl("bias_act_backward", &bias_act_backward_cuda);
  m.impl("bias_prelu", &bias_prelu_cuda);
  m.impl("bias_prelu_backward", &bias_prelu_backward_cuda);
}

}  // namespace relu_ext::cuda
