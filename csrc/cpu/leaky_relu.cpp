// LeakyReLU on CPU: y = x if x > 0 else slope * x;  d/dx = 1 if x > 0 else slope.
// With a mask (what autograd saves): bit = x > 0, and d/dx = 1 if bit else slope.
#include <torch/library.h>

#include "act_vec.h"
#include "loops.h"

namespace relu_ext {
namespace {

// out = leaky_relu(self) (out may be self). The inputs prefetched for the half types only, as
// relu's forward (relu.cpp): on a Zen 4 at 16M elements (NOTES §42) float32 1.36x ATen's
// without the prefetch and 1.13x with it, float64 1.55x and 1.34x, bfloat16 1.47x and 1.68x.
template <typename scalar_t>
void leaky_relu_forward_loop(const at::Tensor& out, const at::Tensor& self,
                             double negative_slope) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto slope = static_cast<opmath_t>(negative_slope);
  cpu_elementwise_vec<scalar_t, /*kPrefetch=*/sizeof(scalar_t) == 2>(
      out, [slope](opmath_t x) { return leaky_relu_fwd(x, slope); },
      [slope](auto v) { return leaky_relu_fwd_vec(v, decltype(v)(slope)); }, self);
}

at::Tensor leaky_relu_forward_cpu(const at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu", "self");
  auto out = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_forward_cpu",
                    [&] { leaky_relu_forward_loop<scalar_t>(out, self, negative_slope); });
  return out;
}

void leaky_relu_inplace_cpu(at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu_", "self");
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_inplace_cpu",
                    [&] { leaky_relu_forward_loop<scalar_t>(self, self, negative_slope); });
}

at::Tensor leaky_relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self,
                                   double negative_slope, bool self_is_result) {
  check_input(self, "relu_ext::leaky_relu_backward", "self");
  check_like(grad_output, self, "relu_ext::leaky_relu_backward", "grad_output", "self");
  check_inplace_backward(self_is_result, negative_slope, "relu_ext::leaky_relu_backward",
                         "leaky_relu", "slope");
  auto grad_input = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise_vec<scalar_t>(
        grad_input, [slope](opmath_t g, opmath_t x) { return leaky_relu_bwd(g, x, slope); },
        [slope](auto g, auto x) { return leaky_relu_bwd_vec(g, x, decltype(g)(slope)); },
        grad_output, self);
  });
  return grad_input;
}

// (result, mask): the result in self's layout (contiguous when self is not dense), bit i of
// mask = (self > 0) at the result's memory position i.
std::tuple<at::Tensor, at::Tensor> leaky_relu_mask_cpu(const at::Tensor& self,
                                                       double negative_slope) {
  check_input(self, "relu_ext::leaky_relu_mask", "self");
  const auto x = as_dense(self);
  auto out = empty_like_cpu(x);
  auto mask = empty_bitmask_cpu(x);
  RELU_EXT_DISPATCH(x.scalar_type(), "leaky_relu_mask_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using V = at::vec::Vectorized<opmath_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise_bits_out<scalar_t>(
        out, mask, [slope](opmath_t v) { return leaky_relu_fwd(v, slope); },
        [slope](V v) { return leaky_relu_fwd_vec(v, V(slope)); },
        [](opmath_t v) { return v > opmath_t(0); },
        [](V v) { return detail::bits_compare<false>(v, V(0)); }, x);
  });
  return {out, mask};
}

// grad_input = grad_output where the bit is set, slope * grad_output elsewhere; the bits
// follow grad_output's memory order.
at::Tensor leaky_relu_mask_backward_cpu(const at::Tensor& grad_output, const at::Tensor& mask,
                                        double negative_slope) {
  constexpr const char* op = "relu_ext::leaky_relu_mask_backward";
  check_input(grad_output, op, "grad_output");
  check_dense(grad_output, op, "grad_output");
  check_bitmask(mask, grad_output, op, "grad_output");
  auto grad_input = empty_like_cpu(grad_output);
  RELU_EXT_DISPATCH(grad_output.scalar_type(), "leaky_relu_mask_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using V = at::vec::Vectorized<opmath_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise_bits_in<scalar_t>(
        grad_input, mask, [slope](bool bit, opmath_t g) { return bit ? g : g * slope; },
        [slope](V bit, V g) { return V::blendv(g * V(slope), g, bit); }, grad_output);
  });
  return grad_input;
}

}  // namespace

// CPU kernels for leaky_relu, leaky_relu_, leaky_relu_backward, leaky_relu_mask,
// leaky_relu_mask_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("leaky_relu", &leaky_relu_forward_cpu);
  m.impl("leaky_relu_", &leaky_relu_inplace_cpu);
  m.impl("leaky_relu_backward", &leaky_relu_backward_cpu);
  m.impl("leaky_relu_mask", &leaky_relu_mask_cpu);
  m.impl("leaky_relu_mask_backward", &leaky_relu_mask_backward_cpu);
}

}  // namespace relu_ext
