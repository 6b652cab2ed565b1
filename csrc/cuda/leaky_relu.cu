// LeakyReLU on CUDA: y = x if x > 0 else slope * x;  d/dx = 1 if x > 0 else slope.
// With a mask (what autograd saves): bit = x > 0, and d/dx = 1 if bit else slope.
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

at::Tensor leaky_relu_forward_cuda(const at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cuda_elementwise<scalar_t>(out, [slope] __device__(opmath_t x) { return leaky_relu_fwd(x, slope); }, self);
  });
  return out;
}

void leaky_relu_inplace_cuda(at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu_", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_inplace_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cuda_elementwise<scalar_t>(self, [slope] __device__(opmath_t x) { return leaky_relu_fwd(x, slope); }, self);
  });
}

at::Tensor leaky_relu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& self,
                                   double negative_slope, bool self_is_result) {
  check_input(self, "relu_ext::leaky_relu_backward", "self");
  check_like(grad_output, self, "relu_ext::leaky_relu_backward", "grad_output", "self");
  check_inplace_backward(self_is_result, negative_slope, "relu_ext::leaky_relu_backward",
                         "leaky_relu", "slope");
  const c10::cuda::CUDAGuard guard(self.device());
  auto grad_input = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cuda_elementwise<scalar_t>(
        grad_input, [slope] __device__(opmath_t g, opmath_t x) { return leaky_relu_bwd(g, x, slope); },
        grad_output, self);
  });
  return grad_input;
}

// (result, mask): as the CPU kernel (cpu/leaky_relu.cpp).
std::tuple<at::Tensor, at::Tensor> leaky_relu_mask_cuda(const at::Tensor& self,
                                                        double negative_slope) {
  check_input(self, "relu_ext::leaky_relu_mask", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = as_dense(self);
  auto out = at::empty_like(x);
  auto mask = empty_bitmask(x);
  RELU_EXT_DISPATCH(x.scalar_type(), "leaky_relu_mask_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cuda_elementwise_bits_out<scalar_t>(
        out, mask, [slope] __device__(opmath_t v) { return leaky_relu_fwd(v, slope); },
        [] __device__(opmath_t v) { return v > opmath_t(0); }, x);
  });
  return {out, mask};
}

at::Tensor leaky_relu_mask_backward_cuda(const at::Tensor& grad_output, const at::Tensor& mask,
                                         double negative_slope) {
  constexpr const char* op = "relu_ext::leaky_relu_mask_backward";
  check_input(grad_output, op, "grad_output");
  check_dense(grad_output, op, "grad_output");
  check_bitmask(mask, grad_output, op, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  auto grad_input = at::empty_like(grad_output);
  RELU_EXT_DISPATCH(grad_output.scalar_type(), "leaky_relu_mask_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cuda_elementwise_bits_in<scalar_t>(
        grad_input, mask, [slope] __device__(bool bit, opmath_t g) { return bit ? g : g * slope; },
        grad_output);
  });
  return grad_input;
}

// CUDA kernels for leaky_relu, leaky_relu_, leaky_relu_backward, leaky_relu_mask,
// leaky_relu_mask_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("leaky_relu_mask", &leaky_relu_mask_cuda);
  m.impl("leaky_relu_mask_backward", &leaky_relu_mask_backward_cuda);
  m.impl("leaky_relu", &leaky_relu_forward_cuda);
  m.impl("leaky_relu_", &leaky_relu_inplace_cuda);
  m.impl("leaky_relu_backward", &leaky_relu_backward_cuda);
}

}  // namespace relu_ext::cuda
