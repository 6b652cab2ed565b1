// ELU on CUDA: y = x if x > 0 else alpha * (exp(x) - 1);
// d/dx = 1 if x > 0 else alpha * exp(x), which equals y + alpha from the output.
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

// memory_efficient changes only what autograd saves (the output); it is checked here too,
// so a bad call fails the same way with and without gradients.
at::Tensor elu_forward_cuda(const at::Tensor& self, double alpha, bool memory_efficient) {
  check_input(self, "relu_ext::elu", "self");
  check_elu_memory_efficient(memory_efficient, alpha, "relu_ext::elu");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "elu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto a = static_cast<opmath_t>(alpha);
    cuda_elementwise<scalar_t>(out, [a] __device__(opmath_t x) { return elu_fwd(x, a); }, self);
  });
  return out;
}

void elu_inplace_cuda(at::Tensor& self, double alpha) {
  check_input(self, "relu_ext::elu_", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  RELU_EXT_DISPATCH(self.scalar_type(), "elu_inplace_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto a = static_cast<opmath_t>(alpha);
    cuda_elementwise<scalar_t>(self, [a] __device__(opmath_t x) { return elu_fwd(x, a); }, self);
  });
}

at::Tensor elu_backward_cuda(const at::Tensor& grad_output, const at::Tensor& self_or_result,
                            double alpha, bool is_result) {
  check_input(self_or_result, "relu_ext::elu_backward", "self_or_result");
  check_like(grad_output, self_or_result, "relu_ext::elu_backward", "grad_output",
             "self_or_result");
  check_inplace_backward(is_result, alpha, "relu_ext::elu_backward", "elu", "alpha");
  const c10::cuda::CUDAGuard guard(self_or_result.device());
  auto grad_input = at::empty_like(self_or_result);
  RELU_EXT_DISPATCH(self_or_result.scalar_type(), "elu_backward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto a = static_cast<opmath_t>(alpha);
    if (is_result) {
      cuda_elementwise<scalar_t>(
          grad_input, [a] __device__(opmath_t g, opmath_t y) { return elu_bwd_from_result(g, y, a); },
          grad_output, self_or_result);
    } else {
      cuda_elementwise<scalar_t>(
          grad_input, [a] __device__(opmath_t g, opmath_t x) { return elu_bwd(g, x, a); }, grad_output,
          self_or_result);
    }
  });
  return grad_input;
}

// CUDA kernels for elu, elu_, elu_backward
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("elu", &elu_forward_cuda);
  m.impl("elu_", &elu_inplace_cuda);
  m.impl("elu_backward", &elu_backward_cuda);
}

}  // namespace relu_ext::cuda
