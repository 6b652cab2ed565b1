// GELU on CPU, exact (erf) and tanh forms; the formulas and their derivatives
// are in ../common.h (gelu_fwd/gelu_bwd, gelu_tanh_fwd/gelu_tanh_bwd):
//   exact: y = x * Phi(x),               dy/dx = Phi(x) + x * phi(x)
//   tanh:  y = x/2 * (1 + tanh(u)),      dy/dx = (1 + t)/2 + x/2 (1 - t^2) u'(x)
#include <torch/library.h>

#include "loops.h"

namespace relu_ext {
namespace {

// The same formulas as gelu_fwd/gelu_bwd/gelu_tanh_fwd/gelu_tanh_bwd in ../common.h,
// on at::vec vectors (erf, exp, tanh from SLEEF); the saturation cases by blends.
template <typename V>
V gelu_fwd_vec(V x) {
  using T = typename V::value_type;
  const V r = V(T(0.5)) * x * (V(T(1)) + (x * V(T(M_SQRT1_2))).erf());
  return V::blendv(r, V(T(0)), x < V(-gelu_saturation<T>()));
}

template <typename V>
V gelu_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  const V cdf = V(T(0.5)) * (V(T(1)) + (x * V(T(M_SQRT1_2))).erf());
  const V pdf = (V(T(-0.5)) * x * x).exp() * V(T(M_2_SQRTPI * M_SQRT1_2 * 0.5));
  const V d = g * (cdf + x * pdf);
  const V sat = V(gelu_saturation<T>());
  return V::blendv(V::blendv(d, g * V(T(0)), x < -sat), g, x > sat);
}

template <typename V>
V gelu_tanh_fwd_vec(V x) {
  using T = typename V::value_type;
  const V u = V(T(M_SQRT2 * M_2_SQRTPI * 0.5)) * (x + V(T(0.044715)) * x * x * x);
  const V r = V(T(0.5)) * x * (V(T(1)) + u.tanh());
  return V::blendv(r, V(T(0)), x < V(-gelu_saturation<T>()));
}

template <typename V>
V gelu_tanh_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  const V k_beta(T(M_SQRT2 * M_2_SQRTPI * 0.5)), k_kappa(T(0.044715)), one(T(1)), half(T(0.5));
  const V x2 = x * x;
  const V t = (k_beta * (x + k_kappa * x2 * x)).tanh();
  const V left = half * (one + t);
  const V right = half * x * (one - t * t) * k_beta * (one + V(T(3)) * k_kappa * x2);
  const V d = g * (left + right);
  const V sat = V(gelu_saturation<T>());
  return V::blendv(V::blendv(d, g * V(T(0)), x < -sat), g, x > sat);
}

at::Tensor gelu_forward_cpu(const at::Tensor& self, c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu");
  check_input(self, "relu_ext::gelu", "self");
  auto out = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_forward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (use_tanh) {
      cpu_elementwise_vec<scalar_t>(
          out, [](opmath_t x) { return gelu_tanh_fwd(x); },
          [](auto x) { return gelu_tanh_fwd_vec(x); }, self);
    } else {
      cpu_elementwise_vec<scalar_t>(
          out, [](opmath_t x) { return gelu_fwd(x); }, [](auto x) { return gelu_fwd_vec(x); },
          self);
    }
  });
  return out;
}

at::Tensor gelu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self,
                             c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu_backward");
  check_input(self, "relu_ext::gelu_backward", "self");
  check_like(grad_output, self, "relu_ext::gelu_backward", "grad_output", "self");
  auto grad_input = at::empty_like(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (use_tanh) {
      cpu_elementwise_vec<scalar_t>(
          grad_input, [](opmath_t g, opmath_t x) { return gelu_tanh_bwd(g, x); },
          [](auto g, auto x) { return gelu_tanh_bwd_vec(g, x); }, grad_output, self);
    } else {
      cpu_elementwise_vec<scalar_t>(
          grad_input, [](opmath_t g, opmath_t x) { return gelu_bwd(g, x); },
          [](auto g, auto x) { return gelu_bwd_vec(g, x); }, grad_output, self);
    }
  });
  return grad_input;
}

}  // namespace

// CPU kernels for gelu, gelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("gelu", &gelu_forward_cpu);
  m.impl("gelu_backward", &gelu_backward_cpu);
}

}  // namespace relu_ext
