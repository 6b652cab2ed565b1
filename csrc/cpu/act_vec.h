// The vector form of each activation's math (../common.h has the scalar one), on at::vec
// vectors: used by the activation's own CPU kernels and by the per-channel ones (bias_act.cpp,
// act_stats.cpp; channels.h picks it by the Act value). Compiled once per instruction set,
// like every CPU kernel source.
#pragma once

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include "../common.h"
#include "tables.h"
#include "vec_math.h"

namespace relu_ext {

using vec_math::where_positive;

// kHalf (vec_math.h): the results are rounded to bfloat16 / float16, so the vector math may
// use its shorter polynomials: the forwards take it first, f<kHalfMath<scalar_t>>(...). The
// derivatives keep float's accuracy for every dtype: they scale an incoming gradient (whose
// product is then rounded as ATen rounds it), and GELU's cross zero at its minimum (x =
// -0.75), where a relative error grows without bound. ELU's backward in the half types takes
// an exp one degree shorter that keeps it (exp_nonpositive_slope).
template <typename scalar_t>
constexpr bool kHalfMath = !std::is_same_v<scalar_t, at::opmath_type<scalar_t>>;

// ReLU on the half types' 16-bit patterns b (int16_t), with no arithmetic (relu.cpp, and the
// dead-unit counts of act_stats): read as int16_t, the patterns above that of -inf are +0, the
// positive numbers, +inf and the NaNs of either sign; -inf, the negative numbers and -0 (the
// lowest, INT16_MIN) lie at or below it. So relu keeps b above it (NaN stays NaN) and -0, and
// writes +0 for the rest: b - 1 (wrapping, so -0 becomes the highest) at or above b(-inf).
// relu'(y) = 1 where b(y) is above b(-inf) and not +0 (y > 0, or NaN as relu_bwd takes it),
// and x > 0 where b lies in [1, b(+inf)]: relu_fwd and relu_bwd's values, with no widening and
// narrowing.
template <typename scalar_t>
constexpr int16_t kNegInfBits = std::is_same_v<scalar_t, at::BFloat16> ? int16_t(0xFF80)
                                                                       : int16_t(0xFC00);
template <typename scalar_t>
inline int16_t relu_fwd_bits(int16_t x) {
  return static_cast<int16_t>(static_cast<uint16_t>(x) - 1u) >= kNegInfBits<scalar_t> ? x
                                                                                      : int16_t(0);
}
template <typename scalar_t>
inline int16_t relu_bwd_bits(int16_t g, int16_t y) {
  return y > kNegInfBits<scalar_t> && y != 0 ? g : int16_t(0);
}
template <typename scalar_t>
inline bool positive_bits(int16_t x) {
  return x > 0 && x <= (kNegInfBits<scalar_t> & 0x7FFF);
}

// The same formulas as leaky_relu_fwd/leaky_relu_bwd and prelu_bwd_weight in ../common.h
// (PReLU's forward and input gradient are LeakyReLU's with w for the slope).
template <typename V>
RELU_EXT_VEC_INLINE V leaky_relu_fwd_vec(V x, V slope) {
  return where_positive(x, x, x * slope);
}
template <typename V>
RELU_EXT_VEC_INLINE V leaky_relu_bwd_vec(V g, V x, V slope) {
  return where_positive(x, g, g * slope);
}
template <typename V>
RELU_EXT_VEC_INLINE V prelu_bwd_weight_vec(V g, V x) {
  using T = typename V::value_type;
  return where_positive(x, V(T(0)), x * g);
}

// ELU on the CPU's scalar paths (the baseline library, strided tensors, loop tails): float's
// alpha * expm1(x) and g * alpha * exp(x) in double, rounded once (in float, alpha times a
// rounded expm1 was 1.6 ulp off at alpha = 0.7, ATen's 1.3; ../common.h's float elu_bwd,
// rounded twice, is 1.3-2.0 ulp at alpha 0.2-3, the double form 0.50-0.79: NOTES §59, §62).
template <typename T>
inline T elu_fwd_scalar(T x, T alpha) {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(elu_fwd<double>(x, alpha));
  } else {
    return elu_fwd(x, alpha);
  }
}
template <typename T>
inline T elu_bwd_scalar(T g, T x, T alpha) {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(elu_bwd<double>(g, x, alpha));
  } else {
    return elu_bwd(g, x, alpha);
  }
}

// The same formulas as elu_fwd/elu_bwd/elu_bwd_from_result in ../common.h, on
// at::vec vectors (expm1 and exp from vec_math.h), branches as blends.
// max(x, 0) + alpha * expm1(min(x, 0)): no blend (both clamps keep NaN). float at alpha != 1:
// alpha times expm1 and its rounding errors, rounded once (0.91 ulp at alpha = 0.7 against
// 1.78; +35% time, so not at alpha = 1, whose product is exact: NOTES §59).
template <bool kHalf, typename V>
RELU_EXT_VEC_INLINE V elu_fwd_vec(V x, V alpha) {
  using T = typename V::value_type;
  if constexpr (std::is_same_v<T, float> && !kHalf) {
    if (!vec_math::all_one(alpha)) {
      V low;
      const V e = vec_math::expm1_nonpositive<kHalf>(x, &low);
      return at::vec::fmadd(alpha, e,
                            at::vec::fmadd(alpha, low, at::vec::clamp_min(x, V(T(0)))));
    }
  }
  return at::vec::fmadd(alpha, vec_math::expm1_nonpositive<kHalf>(x),
                        at::vec::clamp_min(x, V(T(0))));
}

template <bool kHalf, typename V>
RELU_EXT_VEC_INLINE V elu_bwd_vec(V g, V x, V alpha) {
  if constexpr (kHalf) {
    return where_positive(x, g, g * alpha * vec_math::exp_nonpositive_slope(x));
  } else {
    return where_positive(x, g, vec_math::times_exp_nonpositive(g, x, alpha));
  }
}

// The half types' ELU on the AVX-512 and AVX2 libraries (kTabulated): ELU at alpha = 1 and its
// slope, tabulated as floats at every bfloat16 / float16 value (tables.h) from ../common.h's
// formulas in double; at x <= 0 both are proportional to alpha (alpha expm1(x), alpha
// exp(x)), so one table serves every alpha: its entry there times alpha, in float (tables.h:
// scaled_lookup).
// Values rounded to float to odd, so at alpha = 1 the result is correctly rounded.
template <typename scalar_t>
const std::vector<float>& elu_values() {
  static const auto t = tabulate_floats<scalar_t>([](double x) { return elu_fwd(x, 1.0); });
  return t;
}
// At alpha = 1 the values rounded to the type (the floats' values narrowed: the same), as
// GELU's: 16-bit entries, which the loops gather and store faster.
template <typename scalar_t>
const std::vector<uint16_t>& elu_values_at_one() {
  static const auto t = tabulate_values<scalar_t>([](double x) { return elu_fwd(x, 1.0); });
  return t;
}
// Whether ELU's forward at alpha reads elu_values_at_one (else elu_values, scaled by alpha).
inline bool elu_reads_values_at_one(float alpha) { return alpha == 1.0f; }
template <typename scalar_t>
const std::vector<float>& elu_slopes() {
  static const auto t = tabulate_slopes<scalar_t>([](double x) { return elu_bwd(1.0, x, 1.0); });
  return t;
}
template <typename V>
RELU_EXT_VEC_INLINE V elu_bwd_from_result_vec(V g, V y, V alpha) {
  using T = typename V::value_type;
  return V::blendv(g, g * (y + alpha), y <= V(T(0)));
}

// The same formulas as gelu_fwd/gelu_bwd/gelu_tanh_fwd/gelu_tanh_bwd in ../common.h,
// on at::vec vectors (vec_math.h). Where a formula would give inf * 0 (|x| = inf), x is
// clamped to the saturation bound first: the factor it multiplies is exactly 0 or 1 there.
template <bool kHalf, typename V>
RELU_EXT_VEC_INLINE V gelu_fwd_vec(V x) {
  return vec_math::gelu<kHalf>(x);
}

template <typename V>
RELU_EXT_VEC_INLINE V gelu_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  if constexpr (std::is_same_v<T, float>) {
    return g * vec_math::gelu_slope(x);
  } else {
    const auto n = vec_math::normal(x);
    const V xs = at::vec::clamp(x, V(-gelu_saturation<T>()), V(gelu_saturation<T>()));
    return g * at::vec::fmadd(xs, n.pdf(), vec_math::normal_cdf(x, n.tail()));
  }
}

// s = sigmoid(2u) and r = 1 - s = 1 / (1 + e), e = exp(2u) (inf for 2u past 88.7: r is 0 and
// s 1 there, as they round to in float from 2u = 17 on); s = e * r for u <= 0 and 1 - r for
// u > 0, so it cancels in neither tail.
template <bool kHalf, typename V>
RELU_EXT_VEC_INLINE V gelu_tanh_sigmoid_vec(V x, V* r) {
  using T = typename V::value_type;
  const V u2 = V(T(M_SQRT2 * M_2_SQRTPI)) * at::vec::fmadd(V(T(0.044715)) * x * x, x, x);
  const V e = vec_math::exp<kHalf>(u2);
  *r = vec_math::reciprocal(V(T(1)) + e);
  return where_positive(u2, V(T(1)) - *r, e * *r);
}

template <bool kHalf, typename V>
RELU_EXT_VEC_INLINE V gelu_tanh_fwd_vec(V x) {
  using T = typename V::value_type;
  V r;
  return at::vec::clamp_min(x, V(-gelu_saturation<T>())) * gelu_tanh_sigmoid_vec<kHalf>(x, &r);
}

template <typename V>
RELU_EXT_VEC_INLINE V gelu_tanh_bwd_vec(V g, V x) {
  using T = typename V::value_type;
  V r;
  const V s = gelu_tanh_sigmoid_vec<false>(x, &r);
  const V xs = at::vec::clamp(x, V(-gelu_saturation<T>()), V(gelu_saturation<T>()));
  const V du =
      V(T(M_SQRT2 * M_2_SQRTPI * 0.5)) * at::vec::fmadd(V(T(3 * 0.044715)), xs * xs, V(T(1)));
  return g * (s * at::vec::fmadd(V(T(2)) * xs * r, du, V(T(1))));
}

// The half types' GELU and its slope at every bfloat16 / float16 value (tables.h), from
// ../common.h's formulas in double: the AVX-512 and AVX2 libraries' GELU forwards (gelu,
// gelu_mask, act_stats) and backward look them up.
template <typename scalar_t, bool kTanh>
const std::vector<uint16_t>& gelu_values() {
  static const auto t = tabulate_values<scalar_t>(
      [](double x) { return kTanh ? gelu_tanh_fwd(x) : gelu_fwd(x); });
  return t;
}
// The same values as floats, for the forwards where gathers are slow (read by scalar loads: a
// float entry loaded and stored as a float took 0.25 ns an element on Zen 4, a 16-bit one
// 0.41-0.44, the 16-bit gathers 0.35; NOTES §56).
template <typename scalar_t, bool kTanh>
const std::vector<float>& gelu_value_floats() {
  static const auto t = tabulate_values_as_floats<scalar_t>(
      [](double x) { return kTanh ? gelu_tanh_fwd(x) : gelu_fwd(x); });
  return t;
}
template <typename scalar_t, bool kTanh>
const std::vector<float>& gelu_slopes() {
  static const auto t = tabulate_slopes<scalar_t>(
      [](double x) { return kTanh ? gelu_tanh_bwd(1.0, x) : gelu_bwd(1.0, x); });
  return t;
}

}  // namespace relu_ext
