// GELU on CUDA, exact (erf) and tanh forms; the formulas and their derivatives
// are in ../common.h (gelu_fwd/gelu_bwd, gelu_tanh_fwd/gelu_tanh_bwd):
//   exact: y = x * Phi(x),               dy/dx = Phi(x) + x * phi(x)
//   tanh:  y = x/2 * (1 + tanh(u)),      dy/dx = (1 + t)/2 + x/2 (1 - t^2) u'(x)
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

at::Tensor gelu_forward_cuda(const at::Tensor& self, c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu");
  check_input(self, "relu_ext::gelu", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (use_tanh) {
      cuda_elementwise<scalar_t>(out, [] __device__(opmath_t x) { return gelu_tanh_fwd(x); }, self);
    } else {
      cuda_elementwise<scalar_t>(out, [] __device__(opmath_t x) { return gelu_fwd(x); }, self);
    }
  });
  return out;
}

at::Tensor gelu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& self,
                             c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu_backward");
  check_input(self, "relu_ext::gelu_backward", "self");
  check_like(grad_output, self, "relu_ext::gelu_backward", "grad_output", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  auto grad_input = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (use_tanh) {
      cuda_elementwise<scalar_t>(
          grad_input, [] __device__(opmath_t g, opmath_t x) { return gelu_tanh_bwd(g, x); }, grad_output,
          self);
    } else {
      cuda_elementwise<scalar_t>(
          grad_input, [] __device__(opmath_t g, opmath_t x) { return gelu_bwd(g, x); }, grad_output, self);
    }
  });
  return grad_input;
}

// CUDA kernels for gelu, gelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("gelu", &gelu_forward_cuda);
  m.impl("gelu_backward", &gelu_backward_cuda);
}

}  // namespace relu_ext::cuda
