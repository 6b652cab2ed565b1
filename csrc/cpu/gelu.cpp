// GELU on CPU, exact (erf) and tanh forms; the formulas and their derivatives
// are in ../common.h (gelu_fwd/gelu_bwd, gelu_tanh_fwd/gelu_tanh_bwd):
//   exact: y = x * Phi(x),               dy/dx = Phi(x) + x * phi(x)
//   tanh:  y = x/2 * (1 + tanh(u)),      dy/dx = (1 + t)/2 + x/2 (1 - t^2) u'(x)
//          (computed as x * sigmoid(2u), accurate in both tails)
#include <torch/library.h>

#include "loops.h"
#include "vec_math.h"

namespace relu_ext {
namespace {

// The same formulas as gelu_fwd/gelu_bwd/gelu_tanh_fwd/gelu_tanh_bwd in ../common.h,
// on at::vec vectors (vec_math.h). Where a formula would give inf * 0 (|x| = inf), x is
// clamped to the saturation bound first: the factor it multiplies is exactly 0 or 1 there.
template <typename V>
V gelu_fwd_vec(V x) {
  return vec_math::gelu(x);
}

template <typename V>
V gelu_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  const auto n = vec_math::normal(x);
  const V xs = at::vec::clamp(x, V(-gelu_saturation<T>()), V(gelu_saturation<T>()));
  return g * at::vec::fmadd(xs, n.pdf, vec_math::normal_cdf(x, n.tail));
}

// s = sigmoid(2u) and r = 1 - s = 1 / (1 + e), e = exp(2u) (2u capped at 80: s is 1 in
// float beyond); s = e * r for u <= 0 and 1 - r for u > 0, so it cancels in neither tail.
template <typename V>
V gelu_tanh_sigmoid(V x, V* r) {
  using T = typename V::value_type;
  const V u2 = V(T(M_SQRT2 * M_2_SQRTPI)) * at::vec::fmadd(V(T(0.044715)) * x * x, x, x);
  const V e = vec_math::exp(at::vec::clamp_max(u2, V(T(80))));
  *r = vec_math::reciprocal(V(T(1)) + e);
  return V::blendv(e * *r, V(T(1)) - *r, u2 > V(T(0)));
}

template <typename V>
V gelu_tanh_fwd_vec(V x) {
  using T = typename V::value_type;
  V r;
  return at::vec::clamp_min(x, V(-gelu_saturation<T>())) * gelu_tanh_sigmoid(x, &r);
}

template <typename V>
V gelu_tanh_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  V r;
  const V s = gelu_tanh_sigmoid(x, &r);
  const V xs = at::vec::clamp(x, V(-gelu_saturation<T>()), V(gelu_saturation<T>()));
  const V du = V(T(M_SQRT2 * M_2_SQRTPI * 0.5)) * at::vec::fmadd(V(T(3 * 0.044715)), xs * xs, V(T(1)));
  return g * (s * at::vec::fmadd(V(T(2)) * xs * r, du, V(T(1))));
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
