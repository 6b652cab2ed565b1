// ELU on CPU: y = x if x > 0 else alpha * (exp(x) - 1);
// d/dx = 1 if x > 0 else alpha * exp(x), which equals y + alpha from the output.
#include <torch/library.h>

#include "act_vec.h"
#include "cpu_choices.h"
#include "loops.h"

namespace relu_ext {
namespace {

// out = elu(self): the half types on the AVX-512 and AVX2 libraries from act_vec.h's tables
// (elu_values_at_one, elu_values) unless this CPU's gathers are slow (cpu_choices.h), the rest
// computed. (Templates, so that the branch not taken is not compiled.)
template <typename scalar_t>
void elu_into(const at::Tensor& out, const at::Tensor& self, double alpha) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto a = static_cast<opmath_t>(alpha);
  if constexpr (kTabulated<scalar_t>) {
    if (!slow_gathers()) {
      if (elu_reads_values_at_one(a)) {
        cpu_tabulated_values<scalar_t>(out, elu_values_at_one<scalar_t>(), self);
      } else {
        cpu_tabulated_floats<scalar_t>(out, elu_values<scalar_t>(), a, self);
      }
      return;
    }
  }
  cpu_elementwise_vec<scalar_t>(
      out, [a](opmath_t x) { return elu_fwd_scalar(x, a); },
      [a](auto x) { return elu_fwd_vec<kHalfMath<scalar_t>>(x, decltype(x)(a)); }, self);
}
// grad_input = grad_output * elu'(self), the same way (elu_slopes)
template <typename scalar_t>
void elu_backward_into(const at::Tensor& grad_input, const at::Tensor& grad_output,
                       const at::Tensor& self, double alpha) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto a = static_cast<opmath_t>(alpha);
  if constexpr (kTabulated<scalar_t>) {
    if (!slow_gathers()) {
      cpu_tabulated_slopes<scalar_t>(grad_input, elu_slopes<scalar_t>(), grad_output, self, a);
      return;
    }
  }
  cpu_elementwise_vec<scalar_t>(
      grad_input, [a](opmath_t g, opmath_t x) { return elu_bwd_scalar(g, x, a); },
      [a](auto g, auto x) { return elu_bwd_vec<kHalfMath<scalar_t>>(g, x, decltype(g)(a)); },
      grad_output, self);
}

// memory_efficient changes only what autograd saves (the output); it is checked here too,
// so a bad call fails the same way with and without gradients.
at::Tensor elu_forward_cpu(const at::Tensor& self, double alpha, bool memory_efficient) {
  check_input(self, "relu_ext::elu", "self");
  check_elu_memory_efficient(memory_efficient, alpha, "relu_ext::elu");
  auto out = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "elu_forward_cpu",
                    [&] { elu_into<scalar_t>(out, self, alpha); });
  return out;
}

void elu_inplace_cpu(at::Tensor& self, double alpha) {
  check_input(self, "relu_ext::elu_", "self");
  RELU_EXT_DISPATCH(self.scalar_type(), "elu_inplace_cpu",
                    [&] { elu_into<scalar_t>(self, self, alpha); });
}

at::Tensor elu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self_or_result,
                            double alpha, bool is_result) {
  check_input(self_or_result, "relu_ext::elu_backward", "self_or_result");
  check_like(grad_output, self_or_result, "relu_ext::elu_backward", "grad_output",
             "self_or_result");
  check_inplace_backward(is_result, alpha, "relu_ext::elu_backward", "elu", "alpha");
  auto grad_input = empty_like_cpu(self_or_result);
  RELU_EXT_DISPATCH(self_or_result.scalar_type(), "elu_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto a = static_cast<opmath_t>(alpha);
    if (is_result) {
      cpu_elementwise_vec<scalar_t>(
          grad_input, [a](opmath_t g, opmath_t y) { return elu_bwd_from_result(g, y, a); },
          [a](auto g, auto y) { return elu_bwd_from_result_vec(g, y, decltype(g)(a)); },
          grad_output, self_or_result);
    } else {
      elu_backward_into<scalar_t>(grad_input, grad_output, self_or_result, alpha);
    }
  });
  return grad_input;
}

}  // namespace

// CPU kernels for elu, elu_, elu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("elu", &elu_forward_cpu);
  m.impl("elu_", &elu_inplace_cpu);
  m.impl("elu_backward", &elu_backward_cpu);
}

}  // namespace relu_ext
