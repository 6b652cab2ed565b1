// PReLU on CUDA: y = x if x > 0 else w[c] * x, c the channel (dim 1).
//   d/dx = 1 if x > 0 else w[c];   d/dw[c] = sum over channel c of (x > 0 ? 0 : x) * g.
// The backward computes both in one pass over the data: each block takes a
// fixed piece of the data (a slice of one channel, or a slice of rows of 32
// columns when a channel's runs are shorter than 32: loops.cuh, channel_sums), writes
// grad_input and reduces its share of the weight gradient in a fixed order (no
// atomics); a second, tiny kernel sums each channel's slices in order. Bitwise
// deterministic run to run.
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

at::Tensor prelu_forward_cuda(const at::Tensor& self, const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  const auto w = weight.contiguous();
  const int64_t n = self.numel();
  if (n == 0) return out;
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (!same_dense_layout(out, self)) {
      cuda_elementwise<scalar_t>(
          out, [] __device__(opmath_t x, opmath_t wc) { return prelu_fwd(x, wc); }, self,
          broadcast_weight(w, self));
      return;
    }
    const scalar_t* wp = w.const_data_ptr<scalar_t>();
    cuda_channel_elementwise<scalar_t>(
        out, self, channel_inner(self, w.numel()), w.numel(),
        [wp] __device__(opmath_t x, int64_t c) {
          return prelu_fwd(x, static_cast<opmath_t>(wp[c]));
        });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> prelu_backward_cuda(const at::Tensor& grad_output,
                                                       const at::Tensor& self,
                                                       const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu_backward", "self");
  check_like(grad_output, self, "relu_ext::prelu_backward", "grad_output", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu_backward");
  const c10::cuda::CUDAGuard guard(self.device());
  auto grad_input = at::empty_like(self);
  auto grad_weight = at::empty_like(weight);
  const auto w = weight.contiguous();
  const int64_t channels = w.numel();
  const int64_t n = self.numel();
  if (n == 0) {
    grad_weight.zero_();
    return {grad_input, grad_weight};
  }
  // Other layouts (broadcast or strided grad, non-dense input) are made dense
  // first: a copy, off the fast path.
  const bool dense = same_dense_layout(grad_input, grad_output, self);
  const auto x = dense ? self : self.contiguous();
  const auto g = in_layout_of(grad_output, x);  // x's strides exactly
  auto gi = dense ? grad_input : at::empty_like(x);
  // Per-channel slices fixed by the shape and the vector width (loops.cuh: channel_sums).
  const auto split =
      channel_split(n, channels, channel_inner(x, channels), vector_width(gi, g, x));
  const int64_t gw_stride = channels > 1 ? grad_weight.stride(0) : 0;
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using acc_t = sum_t<scalar_t>;
    auto partials = at::empty({split.parts()},
                              x.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    const scalar_t* wp = w.const_data_ptr<scalar_t>();
    channel_sums<acc_t, 1, scalar_t>(
        split,
        [=] __device__(int64_t c, Sums<acc_t, 1>& sums, opmath_t gv, opmath_t xv) {
          sums.v[0] += static_cast<acc_t>(prelu_bwd_weight(gv, xv));
          return prelu_bwd_input(gv, xv, static_cast<opmath_t>(wp[c]));
        },
        partials.data_ptr<acc_t>(), gi, g, x);
    channel_totals(partials.const_data_ptr<acc_t>(), split, false,
                   grad_weight.data_ptr<scalar_t>(), gw_stride);
  });
  if (!dense) grad_input.copy_(gi);
  return {grad_input, grad_weight};
}

// CUDA kernels for prelu, prelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("prelu", &prelu_forward_cuda);
  m.impl("prelu_backward", &prelu_backward_cuda);
}

}  // namespace relu_ext::cuda
