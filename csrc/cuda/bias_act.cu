// Fused bias + activation on CUDA: y = act(x + b[c]), c the index along `dim`; backward:
// grad_input = g * act'(x + b[c]) with grad_bias[c] (PReLU: and grad_weight) reduced in the
// same pass: each block takes a fixed slice of one channel, writes grad_input and reduces
// its share with a fixed tree (no atomics); a second, tiny kernel sums each channel's slices
// in order (as prelu.cu). Bitwise deterministic run to run. Math: ../common.h act_fwd/act_bwd.
// Also act_stats: the activation alone, counting per channel the inputs with x > 0 in the
// same pass, the same way (relu_ext.DeadUnitMonitor).
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

template <Act A, typename scalar_t>
__global__ void bias_forward_kernel(int64_t n, const scalar_t* x, const scalar_t* b,
                                    const scalar_t* w, int64_t w_per_channel, double param,
                                    scalar_t* out, int64_t inner, int64_t channels) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t m = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; m < n; m += stride) {
    const int64_t c = (m / inner) % channels;
    const opmath_t p = w ? static_cast<opmath_t>(w[w_per_channel ? c : 0]) : opmath_t(param);
    out[m] = static_cast<scalar_t>(
        act_fwd<A>(static_cast<opmath_t>(x[m]) + static_cast<opmath_t>(b[c]), p));
  }
}

// Block b: slice s = b % slices of channel c = b / slices (the channel's elements k in
// [s * per_slice, (s + 1) * per_slice), at memory position ((k / inner) * C + c) * inner +
// k % inner). Partial sums of grad_input (and PReLU's weight term) per block.
template <Act A, typename scalar_t, typename acc_t>
__global__ void bias_backward_kernel(const scalar_t* grad, const scalar_t* x, const scalar_t* b,
                                     const scalar_t* w, int64_t w_per_channel, double param,
                                     scalar_t* grad_input, acc_t* part_b, acc_t* part_w,
                                     int64_t per_channel, int64_t per_slice, int64_t slices,
                                     int64_t inner, int64_t channels) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x / slices, s = blockIdx.x % slices;
  const opmath_t bc = static_cast<opmath_t>(b[c]);
  const opmath_t p = w ? static_cast<opmath_t>(w[w_per_channel ? c : 0]) : opmath_t(param);
  const int64_t begin = s * per_slice;
  const int64_t end = std::min(per_channel, begin + per_slice);
  acc_t sum_b = 0, sum_w = 0;
  for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
    const int64_t outer = k / inner;
    const int64_t m = (outer * channels + c) * inner + (k - outer * inner);
    const auto g = static_cast<opmath_t>(grad[m]);
    const opmath_t z = static_cast<opmath_t>(x[m]) + bc;
    const opmath_t d = act_bwd<A>(g, z, p);
    grad_input[m] = static_cast<scalar_t>(d);
    sum_b += static_cast<acc_t>(d);
    if constexpr (A == Act::kPrelu) sum_w += static_cast<acc_t>(prelu_bwd_weight(g, z));
  }
  sum_b = block_sum(sum_b);
  if (threadIdx.x == 0) part_b[blockIdx.x] = sum_b;
  if constexpr (A == Act::kPrelu) {
    sum_w = block_sum(sum_w);
    if (threadIdx.x == 0) part_w[blockIdx.x] = sum_w;
  }
}

// One thread per channel: its slices' partial sums in slice order (all channels into one
// value when `reduce_all`, PReLU's shared weight).
template <typename scalar_t, typename acc_t>
__global__ void channel_sum_kernel(const acc_t* partials, int64_t slices, int64_t channels,
                                   bool reduce_all, scalar_t* out) {
  const int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (reduce_all) {
    if (c != 0) return;
    double sum = 0;
    for (int64_t i = 0; i < slices * channels; ++i) sum += static_cast<double>(partials[i]);
    out[0] = static_cast<scalar_t>(sum);
    return;
  }
  if (c >= channels) return;
  double sum = 0;
  for (int64_t s = 0; s < slices; ++s) sum += static_cast<double>(partials[c * slices + s]);
  out[c] = static_cast<scalar_t>(sum);
}

// act(x) over one slice of one channel per block (as bias_backward_kernel), with the block's
// count of x > 0 (exact in float: a slice has at most 8192 elements).
template <Act A, typename scalar_t>
__global__ void stats_kernel(const scalar_t* x, const scalar_t* w, int64_t w_per_channel,
                             double param, scalar_t* out, float* part, int64_t per_channel,
                             int64_t per_slice, int64_t slices, int64_t inner, int64_t channels) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x / slices, s = blockIdx.x % slices;
  const opmath_t p = w ? static_cast<opmath_t>(w[w_per_channel ? c : 0]) : opmath_t(param);
  const int64_t begin = s * per_slice;
  const int64_t end = std::min(per_channel, begin + per_slice);
  float count = 0;
  for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
    const int64_t outer = k / inner;
    const int64_t m = (outer * channels + c) * inner + (k - outer * inner);
    const auto xv = static_cast<opmath_t>(x[m]);
    out[m] = static_cast<scalar_t>(act_fwd<A>(xv, p));
    count += xv > opmath_t(0) ? 1.0f : 0.0f;
  }
  count = block_sum(count);
  if (threadIdx.x == 0) part[blockIdx.x] = count;
}

template <Act A>
std::tuple<at::Tensor, at::Tensor> stats(const at::Tensor& self, const at::Tensor* weight,
                                         int64_t dim, double param) {
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = self.is_non_overlapping_and_dense() ? self : self.contiguous();
  auto out = at::empty_like(x);
  const int64_t channels = x.size(dim);
  auto fired = at::zeros({channels}, x.options().dtype(at::kLong));
  const int64_t n = x.numel();
  if (n == 0) return {out, fired};
  const auto w = weight ? weight->contiguous() : at::Tensor();
  const int64_t inner = channels == 1 ? n : x.stride(dim);
  const int64_t per_channel = n / channels;
  const int64_t slices = std::min<int64_t>(4096, (per_channel + 8191) / 8192);
  const int64_t per_slice = (per_channel + slices - 1) / slices;
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto part = at::empty({channels * slices}, x.options().dtype(at::kFloat));
  RELU_EXT_DISPATCH(x.scalar_type(), "act_stats_cuda", [&] {
    stats_kernel<A, scalar_t><<<channels * slices, kBlockSize, 0, stream>>>(
        x.const_data_ptr<scalar_t>(), w.defined() ? w.const_data_ptr<scalar_t>() : nullptr,
        w.defined() && w.numel() > 1, param, out.data_ptr<scalar_t>(), part.data_ptr<float>(),
        per_channel, per_slice, slices, inner, channels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  channel_sum_kernel<int64_t, float>
      <<<static_cast<int>((channels + kBlockSize - 1) / kBlockSize), kBlockSize, 0, stream>>>(
          part.const_data_ptr<float>(), slices, channels, false, fired.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {out, fired};
}

template <Act A>
at::Tensor forward(const at::Tensor& self, const at::Tensor& bias, const at::Tensor* weight,
                   int64_t dim, double param) {
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = self.is_non_overlapping_and_dense() ? self : self.contiguous();
  auto out = at::empty_like(x);
  const int64_t n = x.numel();
  if (n == 0) return out;
  const auto b = bias.contiguous();
  const auto w = weight ? weight->contiguous() : at::Tensor();
  const int64_t channels = x.size(dim);
  const int64_t inner = channels == 1 ? n : x.stride(dim);
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_cuda", [&] {
    bias_forward_kernel<A, scalar_t>
        <<<grid_for(n), kBlockSize, 0, at::cuda::getCurrentCUDAStream()>>>(
            n, x.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(),
            w.defined() ? w.const_data_ptr<scalar_t>() : nullptr,
            w.defined() && w.numel() > 1, param, out.data_ptr<scalar_t>(), inner, channels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
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
  const auto x = self.is_non_overlapping_and_dense() ? self : self.contiguous();
  const auto g = same_dense_layout(x, grad_output) ? grad_output
                                                   : at::empty_like(x).copy_(grad_output);
  auto gi = at::empty_like(x);
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
  const int64_t inner = channels == 1 ? n : x.stride(dim);
  const int64_t per_channel = n / channels;
  const int64_t slices = std::min<int64_t>(4096, (per_channel + 8191) / 8192);
  const int64_t per_slice = (per_channel + slices - 1) / slices;
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto gb_c = at::empty({channels}, bias.options());
  auto gw_c = gw.defined() ? at::empty({gw.numel()}, gw.options()) : at::Tensor();
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_backward_cuda", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto acc_opts = x.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    auto part_b = at::empty({channels * slices}, acc_opts);
    auto part_w = at::empty({A == Act::kPrelu ? channels * slices : 0}, acc_opts);
    bias_backward_kernel<A, scalar_t, acc_t><<<channels * slices, kBlockSize, 0, stream>>>(
        g.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(),
        w.defined() ? w.const_data_ptr<scalar_t>() : nullptr, w.defined() && w.numel() > 1,
        param, gi.data_ptr<scalar_t>(), part_b.data_ptr<acc_t>(), part_w.data_ptr<acc_t>(),
        per_channel, per_slice, slices, inner, channels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int blocks = static_cast<int>((channels + kBlockSize - 1) / kBlockSize);
    channel_sum_kernel<scalar_t, acc_t><<<blocks, kBlockSize, 0, stream>>>(
        part_b.const_data_ptr<acc_t>(), slices, channels, false, gb_c.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (gw.defined()) {
      channel_sum_kernel<scalar_t, acc_t><<<blocks, kBlockSize, 0, stream>>>(
          part_w.const_data_ptr<acc_t>(), slices, channels, gw.numel() == 1,
          gw_c.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  gb.copy_(gb_c.view(gb.sizes()));
  if (gw.defined()) gw.copy_(gw_c.view(gw.sizes()));
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

std::tuple<at::Tensor, at::Tensor> act_stats_cuda(const at::Tensor& self,
                                                  const std::optional<at::Tensor>& weight,
                                                  int64_t dim, c10::string_view activation,
                                                  double param) {
  constexpr const char* op = "relu_ext::act_stats";
  const Act act = parse_stats_activation(activation, weight, op);
  check_input(self, op, "self");
  TORCH_CHECK(self.dim() > 0, op, ": expected self to have at least 1 dimension, but got a "
              "0-dim tensor");
  dim = c10::maybe_wrap_dim(dim, self.dim());
  if (weight) check_prelu_weight(self, *weight, op);
  TORCH_CHECK(!weight || weight->numel() == 1 || dim == 1, op,
              ": PReLU with a weight per channel counts along dim 1 (its channels), got dim ", dim);
  const at::Tensor* w = weight ? &*weight : nullptr;
  return with_activation(act, [&](auto a) {
    return stats<decltype(a)::value>(self, w, dim, param);
  });
}

// CUDA kernels for bias_act, bias_act_backward, bias_prelu, bias_prelu_backward, act_stats
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("act_stats", &act_stats_cuda);
  m.impl("bias_act", &bias_act_cuda);
  m.impl("bias_act_backward", &bias_act_backward_cuda);
  m.impl("bias_prelu", &bias_prelu_cuda);
  m.impl("bias_prelu_backward", &bias_prelu_backward_cuda);
}

}  // namespace relu_ext::cuda
