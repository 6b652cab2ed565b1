// LeakyReLU on CPU: y = x if x > 0 else slope * x;  d/dx = 1 if x > 0 else slope.
#include <torch/library.h>

#include "loops.h"

namespace relu_ext {
namespace {

at::Tensor leaky_relu_forward_cpu(const at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu", "self");
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_forward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise<scalar_t>(out, [slope](opmath_t x) { return leaky_relu_fwd(x, slope); }, self);
  });
  return out;
}

void leaky_relu_inplace_cpu(at::Tensor& self, double negative_slope) {
  check_input(self, "relu_ext::leaky_relu_", "self");
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_inplace_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise<scalar_t>(self, [slope](opmath_t x) { return leaky_relu_fwd(x, slope); }, self);
  });
}

at::Tensor leaky_relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self,
                                   double negative_slope, bool self_is_result) {
  check_input(self, "relu_ext::leaky_relu_backward", "self");
  check_like(grad_output, self, "relu_ext::leaky_relu_backward", "grad_output", "self");
  check_inplace_backward(self_is_result, negative_slope, "relu_ext::leaky_relu_backward",
                         "leaky_relu", "slope");
  auto grad_input = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "leaky_relu_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto slope = static_cast<opmath_t>(negative_slope);
    cpu_elementwise<scalar_t>(
        grad_input, [slope](opmath_t g, opmath_t x) { return leaky_relu_bwd(g, x, slope); },
        grad_output, self);
  });
  return grad_input;
}

}  // namespace

// CPU kernels for leaky_relu, leaky_relu_, leaky_relu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("leaky_relu", &leaky_relu_forward_cpu);
  m.impl("leaky_relu_", &leaky_relu_inplace_cpu);
  m.impl("leaky_relu_backward", &leaky_relu_backward_cpu);
}

}  // namespace relu_ext
