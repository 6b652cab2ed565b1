// GELU on CUDA, exact (erf) and tanh forms; the formulas and their derivatives
// are in ../common.h (gelu_fwd/gelu_bwd, for float16/bfloat16 gelu_half_fwd/gelu_bwd<.., true>
// as loops.cuh act_fwd_stored picks them, gelu_tanh_fwd/gelu_tanh_bwd):
//   exact: y = x * Phi(x),               dy/dx = Phi(x) + x * phi(x)
//   tanh:  y = x/2 * (1 + tanh(u)),      dy/dx = (1 + t)/2 + x/2 (1 - t^2) u'(x)
// Memory-efficient form: gelu_mask also writes bit = (x >= x_min); the backward recovers x
// from (y, bit) (../gelu_inverse.h) and applies the same dy/dx.
#include <torch/library.h>

#include "../gelu_inverse.h"
#include "loops.cuh"

namespace relu_ext::cuda {

// The form's value and derivative for scalar_t storage (loops.cuh: act_fwd_stored).
template <typename scalar_t, bool kTanh, typename T>
__device__ __forceinline__ T gelu_act(T x) {
  return act_fwd_stored<kTanh ? Act::kGeluTanh : Act::kGelu, scalar_t>(x, T(0));
}
template <typename scalar_t, bool kTanh, typename T>
__device__ __forceinline__ T gelu_act_bwd(T g, T x) {
  return act_bwd_stored<kTanh ? Act::kGeluTanh : Act::kGelu, scalar_t>(g, x, T(0));
}

// memory_efficient changes only what autograd saves (gelu_mask's result and mask).
at::Tensor gelu_forward_cuda(const at::Tensor& self, c10::string_view approximate,
                            bool /*memory_efficient*/) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu");
  check_input(self, "relu_ext::gelu", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (use_tanh) {
      cuda_elementwise<scalar_t>(
          out, [] __device__(opmath_t x) { return gelu_act<scalar_t, true>(x); }, self);
    } else {
      cuda_elementwise<scalar_t>(
          out, [] __device__(opmath_t x) { return gelu_act<scalar_t, false>(x); }, self);
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
          grad_input,
          [] __device__(opmath_t g, opmath_t x) { return gelu_act_bwd<scalar_t, true>(g, x); },
          grad_output, self);
    } else {
      cuda_elementwise<scalar_t>(
          grad_input,
          [] __device__(opmath_t g, opmath_t x) { return gelu_act_bwd<scalar_t, false>(g, x); },
          grad_output, self);
    }
  });
  return grad_input;
}

// The memory-efficient kernels for one dtype and form (device lambdas cannot live in the
// generic lambdas the CPU file uses to pick the form).
template <typename scalar_t, bool kTanh>
void launch_gelu_mask(const at::Tensor& out, const at::Tensor& mask, const at::Tensor& x) {
  using opmath_t = at::opmath_type<scalar_t>;
  cuda_elementwise_bits_out<scalar_t>(
      out, mask,
      [] __device__(opmath_t v) { return gelu_act<scalar_t, kTanh>(v); },
      [] __device__(opmath_t v) { return gelu_right_branch<opmath_t, kTanh>(v); }, x);
}

template <typename scalar_t, bool kTanh>
void launch_gelu_backward_from_result(const at::Tensor& grad_input, const at::Tensor& mask,
                                      const at::Tensor& grad, const at::Tensor& result) {
  using opmath_t = at::opmath_type<scalar_t>;
  cuda_elementwise_bits_in<scalar_t>(
      grad_input, mask,
      [] __device__(bool right, opmath_t g, opmath_t y) {
        return g * gelu_slope_from_result<opmath_t, kTanh>(y, right);
      },
      grad, result);
}

template <typename scalar_t, bool kTanh>
void launch_gelu_inverse(const at::Tensor& x, const at::Tensor& mask, const at::Tensor& result) {
  using opmath_t = at::opmath_type<scalar_t>;
  cuda_elementwise_bits_in<scalar_t>(
      x, mask,
      [] __device__(bool right, opmath_t y) {
        return gelu_inverse<ScalarGeluPolicy<opmath_t>, kTanh>(y, right);
      },
      result);
}

std::tuple<at::Tensor, at::Tensor> gelu_mask_cuda(const at::Tensor& self,
                                                  c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu_mask");
  check_input(self, "relu_ext::gelu_mask", "self");
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = as_dense(self);
  auto out = at::empty_like(x);
  auto mask = empty_bitmask(x);
  RELU_EXT_DISPATCH(x.scalar_type(), "gelu_mask_cuda", [&] {
    use_tanh ? launch_gelu_mask<scalar_t, true>(out, mask, x)
             : launch_gelu_mask<scalar_t, false>(out, mask, x);
  });
  return {out, mask};
}

at::Tensor gelu_backward_from_result_cuda(const at::Tensor& grad_output, const at::Tensor& result,
                                          const at::Tensor& mask, c10::string_view approximate) {
  constexpr const char* op = "relu_ext::gelu_backward_from_result";
  const bool use_tanh = gelu_is_tanh(approximate, op);
  check_input(result, op, "result");
  check_like(grad_output, result, op, "grad_output", "result");
  check_dense(result, op, "result");
  check_bitmask(mask, result, op, "result");
  const c10::cuda::CUDAGuard guard(result.device());
  const auto grad = in_layout_of(grad_output, result);
  auto grad_input = at::empty_like(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "gelu_backward_from_result_cuda", [&] {
    use_tanh ? launch_gelu_backward_from_result<scalar_t, true>(grad_input, mask, grad, result)
             : launch_gelu_backward_from_result<scalar_t, false>(grad_input, mask, grad, result);
  });
  return grad_input;
}

at::Tensor gelu_inverse_cuda(const at::Tensor& result, const at::Tensor& mask,
                             c10::string_view approximate) {
  constexpr const char* op = "relu_ext::gelu_inverse";
  const bool use_tanh = gelu_is_tanh(approximate, op);
  check_input(result, op, "result");
  check_dense(result, op, "result");
  check_bitmask(mask, result, op, "result");
  const c10::cuda::CUDAGuard guard(result.device());
  auto x = at::empty_like(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "gelu_inverse_cuda", [&] {
    use_tanh ? launch_gelu_inverse<scalar_t, true>(x, mask, result)
             : launch_gelu_inverse<scalar_t, false>(x, mask, result);
  });
  return x;
}

// CUDA kernels for gelu, gelu_backward, gelu_mask, gelu_backward_from_result, gelu_inverse
TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("gelu_mask", &gelu_mask_cuda);
  m.impl("gelu_backward_from_result", &gelu_backward_from_result_cuda);
  m.impl("gelu_inverse", &gelu_inverse_cuda);
  m.impl("gelu", &gelu_forward_cuda);
  m.impl("gelu_backward", &gelu_backward_cuda);
}

}  // namespace relu_ext::cuda
