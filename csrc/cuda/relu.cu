// ReLU on CUDA: y = max(x, 0);  d/dx = (y > 0), computed from the saved output.
// The math (relu_fwd, relu_bwd) is shared with the CPU kernels in ../common.h.
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

at::Tensor relu_forward_cuda(const at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu")) return at::relu(self);
  check_input(self, "relu_ext::relu", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    cuda_elementwise<scalar_t>(out, [] __device__(opmath_t x) { return relu_fwd(x); }, self);
  });
  return out;
}

void relu_inplace_cuda(at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu_")) {
    at::relu_(self);
    return;
  }
  check_input(self, "relu_ext::relu_", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_inplace_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    cuda_elementwise<scalar_t>(self, [] __device__(opmath_t x) { return relu_fwd(x); }, self);
  });
}

at::Tensor relu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& result) {
  check_input(result, "relu_ext::relu_backward", "result");
  check_like(grad_output, result, "relu_ext::relu_backward", "grad_output", "result");
  const c10::cuda::CUDAGuard guard(result.device());
  auto grad_input = at::empty_like(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "relu_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    cuda_elementwise<scalar_t>(
        grad_input, [] __device__(opmath_t g, opmath_t y) { return relu_bwd(g, y); },
        grad_output, result);
  });
  return grad_input;
}

// CUDA kernels for relu, relu_, relu_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("relu", &relu_forward_cuda);
  m.impl("relu_", &relu_inplace_cuda);
  m.impl("relu_backward", &relu_backward_cuda);
}

}  // namespace relu_ext::cuda
