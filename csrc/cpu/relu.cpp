// ReLU on CPU: y = max(x, 0);  d/dx = (y > 0), computed from the saved output.
#include <torch/library.h>

#include "loops.h"

namespace relu_ext {
namespace {

at::Tensor relu_forward_cpu(const at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu")) return at::relu(self);
  check_input(self, "relu_ext::relu", "self");
  auto out = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_forward_cpu", [&] {
    cpu_elementwise<scalar_t>(out, [](auto x) { return relu_fwd(x); }, self);
  });
  return out;
}

void relu_inplace_cpu(at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu_")) {
    at::relu_(self);
    return;
  }
  check_input(self, "relu_ext::relu_", "self");
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_inplace_cpu", [&] {
    cpu_elementwise<scalar_t>(self, [](auto x) { return relu_fwd(x); }, self);
  });
}

at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& result) {
  check_input(result, "relu_ext::relu_backward", "result");
  check_like(grad_output, result, "relu_ext::relu_backward", "grad_output", "result");
  auto grad_input = empty_like_cpu(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "relu_backward_cpu", [&] {
    cpu_elementwise<scalar_t>(
        grad_input, [](auto g, auto y) { return relu_bwd(g, y); }, grad_output, result);
  });
  return grad_input;
}

}  // namespace

// CPU kernels for relu, relu_, relu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("relu", &relu_forward_cpu);
  m.impl("relu_", &relu_inplace_cpu);
  m.impl("relu_backward", &relu_backward_cpu);
}

}  // namespace relu_ext
