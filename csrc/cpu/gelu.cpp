// GELU on CPU, exact (erf) and tanh forms; the formulas and their derivatives
// are in ../common.h (gelu_fwd/gelu_bwd, gelu_tanh_fwd/gelu_tanh_bwd):
//   exact: y = x * Phi(x),               dy/dx = Phi(x) + x * phi(x)
//   tanh:  y = x/2 * (1 + tanh(u)),      dy/dx = (1 + t)/2 + x/2 (1 - t^2) u'(x)
//          (computed as x * sigmoid(2u), accurate in both tails)
// Memory-efficient form: gelu_mask also writes bit = (x >= x_min); the backward recovers x
// from (y, bit) (../gelu_inverse.h) and applies the same dy/dx.
#include <torch/library.h>

#include <type_traits>

#include "../gelu_inverse.h"
#include "act_vec.h"
#include "loops.h"

namespace relu_ext {
namespace {

// gelu_inverse.h's policy on at::vec vectors (float: vec_math's functions; double: SLEEF).
template <typename V_>
struct VecGeluPolicy {
  using V = V_;
  using T = typename V::value_type;
  using M = V;  // lane masks
  static V where(M m, V a, V b) { return V::blendv(b, a, m); }
  static V sqrt(V x) { return x.sqrt(); }
  static V log(V x) { return x.log(); }
  static V fma(V a, V b, V c) { return at::vec::fmadd(a, b, c); }
  static V max(V a, V b) { return at::vec::maximum(a, b); }
  static V min(V a, V b) { return at::vec::minimum(a, b); }
  static V reciprocal(V x) { return vec_math::reciprocal(x); }
  static bool all(M m) { return m.zero_mask() == 0; }
  template <bool kTanh>
  static void value_slope(V x, V* f, V* df) {
    if constexpr (kTanh) {
      *f = gelu_tanh_fwd_vec<false>(x);
      *df = gelu_tanh_bwd_vec(V(T(1)), x);
    } else {  // one normal() for both (x stays within [-40, 100] here)
      const auto n = vec_math::normal(x);
      const V cdf = vec_math::normal_cdf(x, n.tail());
      *f = x * cdf;
      *df = at::vec::fmadd(x, n.pdf(), cdf);
    }
  }
};

// (result, mask): gelu in self's layout (contiguous when self is not dense), bit i of mask =
// (self >= x_min) at the result's memory position i.
std::tuple<at::Tensor, at::Tensor> gelu_mask_cpu(const at::Tensor& self,
                                                 c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu_mask");
  check_input(self, "relu_ext::gelu_mask", "self");
  const auto x = as_dense(self);
  auto out = empty_like_cpu(x);
  auto mask = empty_bitmask_cpu(x);
  RELU_EXT_DISPATCH(x.scalar_type(), "gelu_mask_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using V = at::vec::Vectorized<opmath_t>;
    detail::with_flag(use_tanh, [&](auto form) {
      constexpr bool kTanh = decltype(form)::value;
      // The half types' values from gelu's tables, as gelu_forward_cpu's: gathered, or where
      // gathers are slow read by scalar loads from the float copy at the lanes' input address
      // (whole words; a partial last word gathers).
      const uint16_t* values = nullptr;
      const float* floats = nullptr;
      if constexpr (kTabulated<scalar_t>) {
        values = gelu_values<scalar_t, kTanh>().data();
        if (slow_gathers()) floats = gelu_value_floats<scalar_t, kTanh>().data();
      }
      detail::with_flag(floats != nullptr, [&](auto scalar_loads) {
        constexpr bool kScalar = decltype(scalar_loads)::value;
        cpu_elementwise_bits_out<scalar_t>(
            out, mask,
            [](opmath_t v) { return kTanh ? gelu_tanh_fwd(v) : gelu_fwd(v); },
            [values, floats](auto v, auto... at) {  // generic: the branch not taken is not
                                                    // compiled
              constexpr bool kHalf = kHalfMath<scalar_t>;
              if constexpr (kTabulated<scalar_t> && kScalar && sizeof...(at) == 1) {
                return decltype(v)(
                    lookup_floats(reinterpret_cast<const uint16_t*>(at)..., floats));
              } else if constexpr (kTabulated<scalar_t>) {
                return lookup_vec<scalar_t>(v, values);
              } else {
                return kTanh ? gelu_tanh_fwd_vec<kHalf>(v) : gelu_fwd_vec<kHalf>(v);
              }
            },
            [](opmath_t v) { return gelu_right_branch<opmath_t, kTanh>(v); },
            [](V v) {
              return detail::bits_compare<true>(v, V(opmath_t(GeluInverseFit<kTanh>::x_min)));
            },
            x);
      });
    });
  });
  return {out, mask};
}

// The half types' memory-efficient backward factor on the AVX-512 and AVX2 libraries: gelu'(x)
// at the x recovered from (y, bit), at every value y of scalar_t and both bits, as the float
// kernel below computes it (its vector path, in float, as it computes them for scalar_t),
// entry bit << 16 | pattern of y. One gather then replaces the recovery, which took 25 times a
// plain backward's time (benchmarks/NOTES.md §34). Built on first use (about a
// millisecond, threaded; 512 KB).
template <typename scalar_t, bool kTanh>
const std::vector<float>& gelu_slopes_from_result() {
  static const auto table = [] {
    using V = at::vec::Vectorized<float>;
    std::vector<float> t(2 * 65536 + 1, 0.0f);
    at::parallel_for(0, 2 * 65536 / V::size(), 256, [&](int64_t begin, int64_t end) {
      const KeepSubnormals keep{};
      for (int64_t k = begin; k < end; ++k) {
        const int64_t first = k * V::size();  // bit first >> 16 (the same for all lanes)
        float y[V::size()];
        for (int64_t j = 0; j < V::size(); ++j) {
          y[j] = static_cast<float>(from_bits<scalar_t>(static_cast<uint16_t>(first + j)));
        }
        const V right = detail::lanes_from_bits<float>(first >> 16 ? ~0u : 0u);
        const V x = gelu_inverse<VecGeluPolicy<V>, kTanh>(V::loadu(y), right);
        (kTanh ? gelu_tanh_bwd_vec(V(1.0f), x) : gelu_bwd_vec(V(1.0f), x)).store(t.data() + first);
      }
    });
    return t;
  }();
  return table;
}

// grad_input = grad_output * gelu'(x), x recovered from (result, mask).
at::Tensor gelu_backward_from_result_cpu(const at::Tensor& grad_output, const at::Tensor& result,
                                         const at::Tensor& mask, c10::string_view approximate) {
  constexpr const char* op = "relu_ext::gelu_backward_from_result";
  const bool use_tanh = gelu_is_tanh(approximate, op);
  check_input(result, op, "result");
  check_like(grad_output, result, op, "grad_output", "result");
  check_dense(result, op, "result");
  check_bitmask(mask, result, op, "result");
  const auto grad = in_layout_of_cpu(grad_output, result);
  auto grad_input = empty_like_cpu(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "gelu_backward_from_result_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using V = at::vec::Vectorized<opmath_t>;
    detail::with_flag(use_tanh, [&](auto form) {
      constexpr bool kTanh = decltype(form)::value;
      if constexpr (kTabulated<scalar_t>) {
        cpu_tabulated_slopes_bits<scalar_t>(
            grad_input, gelu_slopes_from_result<scalar_t, kTanh>(), mask, grad, result);
        return;
      }
      cpu_elementwise_bits_in<scalar_t>(
          grad_input, mask,
          [](bool right, opmath_t g, opmath_t y) {
            return g * gelu_slope_from_result<opmath_t, kTanh>(y, right);
          },
          [](V right, V g, V y) {
            const V x = gelu_inverse<VecGeluPolicy<V>, kTanh>(y, right);
            return kTanh ? gelu_tanh_bwd_vec(g, x) : gelu_bwd_vec(g, x);
          },
          grad, result);
    });
  });
  return grad_input;
}

// The input recovered from (result, mask).
at::Tensor gelu_inverse_cpu(const at::Tensor& result, const at::Tensor& mask,
                            c10::string_view approximate) {
  constexpr const char* op = "relu_ext::gelu_inverse";
  const bool use_tanh = gelu_is_tanh(approximate, op);
  check_input(result, op, "result");
  check_dense(result, op, "result");
  check_bitmask(mask, result, op, "result");
  auto x = empty_like_cpu(result);
  RELU_EXT_DISPATCH(result.scalar_type(), "gelu_inverse_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    using V = at::vec::Vectorized<opmath_t>;
    detail::with_flag(use_tanh, [&](auto form) {
      constexpr bool kTanh = decltype(form)::value;
      cpu_elementwise_bits_in<scalar_t>(
          x, mask,
          [](bool right, opmath_t y) {
            return gelu_inverse<ScalarGeluPolicy<opmath_t>, kTanh>(y, right);
          },
          [](V right, V y) { return gelu_inverse<VecGeluPolicy<V>, kTanh>(y, right); }, result);
    });
  });
  return x;
}

// memory_efficient changes only what autograd saves (gelu_mask's result and mask).
at::Tensor gelu_forward_cpu(const at::Tensor& self, c10::string_view approximate,
                            bool /*memory_efficient*/) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu");
  check_input(self, "relu_ext::gelu", "self");
  auto out = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_forward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if constexpr (kTabulated<scalar_t>) {
      detail::with_flag(use_tanh, [&](auto form) {
        constexpr bool kTanh = decltype(form)::value;
        if (slow_gathers()) {
          cpu_tabulated_floats<scalar_t>(out, gelu_value_floats<scalar_t, kTanh>(), 1.0f, self);
        } else {
          cpu_tabulated_values<scalar_t>(out, gelu_values<scalar_t, kTanh>(), self);
        }
      });
    } else if (use_tanh) {
      cpu_elementwise_vec<scalar_t>(
          out, [](opmath_t x) { return gelu_tanh_fwd(x); },
          [](auto x) { return gelu_tanh_fwd_vec<kHalfMath<scalar_t>>(x); }, self);
    } else {
      cpu_elementwise_vec<scalar_t>(
          out, [](opmath_t x) { return gelu_fwd(x); },
          [](auto x) { return gelu_fwd_vec<kHalfMath<scalar_t>>(x); }, self);
    }
  });
  return out;
}

at::Tensor gelu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self,
                             c10::string_view approximate) {
  const bool use_tanh = gelu_is_tanh(approximate, "relu_ext::gelu_backward");
  check_input(self, "relu_ext::gelu_backward", "self");
  check_like(grad_output, self, "relu_ext::gelu_backward", "grad_output", "self");
  auto grad_input = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "gelu_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if constexpr (kTabulated<scalar_t>) {
      detail::with_flag(use_tanh, [&](auto form) {
        cpu_tabulated_slopes<scalar_t>(grad_input, gelu_slopes<scalar_t, decltype(form)::value>(),
                                       grad_output, self);
      });
    } else if (use_tanh) {
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

// CPU kernels for gelu, gelu_backward, gelu_mask, gelu_backward_from_result, gelu_inverse
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("gelu", &gelu_forward_cpu);
  m.impl("gelu_backward", &gelu_backward_cpu);
  m.impl("gelu_mask", &gelu_mask_cpu);
  m.impl("gelu_backward_from_result", &gelu_backward_from_result_cpu);
  m.impl("gelu_inverse", &gelu_inverse_cpu);
}

}  // namespace relu_ext
