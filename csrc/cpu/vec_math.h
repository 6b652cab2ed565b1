// Vector exp, expm1, reciprocal and the normal distribution (CDF tail and density) for
// float, on at::vec::Vectorized<float> arithmetic (so they compile for every ISA the
// kernels are built for; only the reciprocal estimate is ISA-specific), cheaper than
// SLEEF's and about as accurate (benchmarks/accuracy.py measures the activations built on
// them against float64 and against ATen). double keeps at::vec's own functions (SLEEF).
//
// The polynomial coefficients are near-minimax fits made by fit_vec_math.py (in this
// folder), which prints each fit's error bound.
#pragma once

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

// Every function here is forced inline: called once per vector inside the kernels' loops,
// an out-of-line call (which the compiler chose for the larger ones) costs up to 15%.
#define RELU_EXT_VEC_INLINE inline __attribute__((always_inline))

namespace relu_ext {
namespace vec_math {

using VF = at::vec::Vectorized<float>;
using VD = at::vec::Vectorized<double>;
using VI = at::vec::Vectorized<int32_t>;

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;          // ln 2, upper 16 bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860682030941723212e-6f;  // ln 2 - kLn2Hi
constexpr float kRound = 12582912.0f;                 // 1.5 * 2^23: x + kRound rounds x to an integer
constexpr int32_t kRoundBits = 0x4b400000;            // the bits of kRound

// c[0] x^(N-1) + ... + c[N-1] by Horner's rule (coefficients highest degree first, as
// fit_vec_math.py prints them).
template <size_t N>
RELU_EXT_VEC_INLINE VF horner(VF x, const float (&c)[N]) {
  VF p(c[0]);
  for (size_t i = 1; i < N; ++i) p = at::vec::fmadd(p, x, VF(c[i]));
  return p;
}

// Rounds x * log2(e) to the nearest integer n (|n| < 2^22); returns n as a float and
// leaves it as an int32 in *n_int (the low mantissa bits of x * log2(e) + kRound).
RELU_EXT_VEC_INLINE VF round_log2e(VF x, VI* n_int) {
  const VF t = at::vec::fmadd(x, VF(kLog2e), VF(kRound));
  *n_int = at::vec::cast<int32_t>(t) - VI(kRoundBits);
  return t - VF(kRound);
}

// 2^n for integer n in [-126, 127], built from the exponent bits.
RELU_EXT_VEC_INLINE VF pow2(VI n) { return at::vec::cast<float>((n + VI(127)) << VI(23)); }

// x - n ln 2 (Cody-Waite: both products exact or nearly so), |result| <= ln(2)/2.
RELU_EXT_VEC_INLINE VF reduce_ln2(VF x, VF n) {
  return at::vec::fmadd(n, VF(-kLn2Lo), at::vec::fmadd(n, VF(-kLn2Hi), x));
}

// exp(r) for |r| <= ln(2)/2: a degree-6 polynomial, fit error 2.0e-9 relative.
RELU_EXT_VEC_INLINE VF exp_reduced(VF r) {
  return horner(r, {1.38436537e-3f, 8.37415550e-3f, 4.16680016e-2f, 1.66664317e-1f,
                    4.99999940e-1f, 1.0f, 1.0f});
}

// exp(x), relative error under 1 ulp down to the subnormal range; exp(x) = 2^n exp(r).
// 2^n is applied as two factors, so results near overflow and in the subnormal range
// round once. x is clamped to [-104, 88.75] (exp is 0 and inf beyond); NaN propagates
// (at::vec's clamp_min/clamp_max keep a NaN first operand, on every ISA).
RELU_EXT_VEC_INLINE VF exp(VF x) {
  x = at::vec::clamp_max(at::vec::clamp_min(x, VF(-104.0f)), VF(88.75f));
  VI n;
  const VF p = exp_reduced(reduce_ln2(x, round_log2e(x, &n)));
  const VI half = n >> VI(1);  // n = half + (n - half), both in [-75, 64]
  return p * pow2(half) * pow2(n - half);
}

// 2^40 exp(x) for x in [-113, 0]: 2^(n + 40) is then a normal number, one factor, no
// clamps; the caller folds 2^-40 into a constant, so results down to the subnormal range
// still round once.
RELU_EXT_VEC_INLINE VF exp_times_2p40(VF x) {
  VI n;
  const VF p = exp_reduced(reduce_ln2(x, round_log2e(x, &n)));
  return p * pow2(n + VI(40));
}

// expm1(x) = 2^n (1 + expm1(r)) - 1 = 2^n expm1(r) + (2^n - 1) in one rounding, with
// expm1(r) = r + r^2 q(r), q of degree 5 (fit error 2.4e-10 relative); exact near 0
// (n = 0), x clamped to [-88, 88] (expm1 is -1 below, and overflows above). NaN propagates.
RELU_EXT_VEC_INLINE VF expm1(VF x) {
  x = at::vec::clamp_max(at::vec::clamp_min(x, VF(-88.0f)), VF(88.0f));
  VI n;
  const VF r = reduce_ln2(x, round_log2e(x, &n));
  const VF q = horner(r, {1.98458773e-4f, 1.39406172e-3f, 8.33338965e-3f, 4.16663624e-2f,
                          1.66666657e-1f, 5.00000000e-1f});
  const VF p = at::vec::fmadd(r * r, q, r);
  const VF s = pow2(n);
  return at::vec::fmadd(s, p, s - VF(1.0f));
}

// One Newton step for 1 / d: r (2 - d r), squaring r's relative error.
RELU_EXT_VEC_INLINE VF newton_reciprocal(VF d, VF r) {
  return at::vec::fmadd(r, at::vec::fnmadd(d, r, VF(1.0f)), r);
}

// 1 / d for finite d > 0, relative error about 2^-24: the hardware estimate refined by
// Newton steps (AVX-512: 2^-14, one step; AVX2: 2^-11.4, two); a division costs more.
RELU_EXT_VEC_INLINE VF reciprocal(VF d) {
#if defined(CPU_CAPABILITY_AVX512)
  return newton_reciprocal(d, _mm512_rcp14_ps(d));
#elif defined(CPU_CAPABILITY_AVX2)
  return newton_reciprocal(d, newton_reciprocal(d, _mm256_rcp_ps(d)));
#else
  return VF(1.0f) / d;
#endif
}

// The standard normal distribution at x, from one exponential:
//   e = exp(-x^2/2), x^2/2 carried exactly (hi + lo by fma) -> pdf = e / sqrt(2 pi);
//   Phi(-|x|) = erfc(|x|/sqrt 2)/2 = t Q(t) e, t = 1 / (1 + |x|/sqrt(8)), Q a degree-8
//   polynomial in s = 2.377 t - 1.377 (t from [0.1586, 1] onto [-1, 1]) fit to
//   erfc(a) exp(a^2) / (2t) with relative error 4.4e-8 for a = |x|/sqrt 2 in [0, 10.61].
// The tail keeps its relative accuracy for every x (1 + erf(x/sqrt 2) would cancel for
// x < 0). |x| is clamped at 15, beyond which both underflow float; e carries a factor 2^40
// (exp_times_2p40) that the constants below take out.
struct Normal {
  VF ax;    // min(|x|, 15)
  VF tail;  // Phi(-|x|)
  VF pdf;   // phi(x)
};
RELU_EXT_VEC_INLINE Normal normal(VF x) {
  constexpr float k = 0x1p-40f;
  const VF ax = at::vec::clamp_max(x.abs(), VF(15.0f));
  const VF neg_half_ax = ax * VF(-0.5f);
  const VF hi = ax * neg_half_ax;                      // -x^2/2 = hi + lo
  const VF lo = at::vec::fmsub(ax, neg_half_ax, hi);
  const VF e0 = exp_times_2p40(hi);
  const VF e = at::vec::fmadd(e0, lo, e0);  // exp(hi + lo) = exp(hi) (1 + lo)
  const VF t = reciprocal(at::vec::fmadd(ax, VF(0.353553391f), VF(1.0f)));
  const VF s = at::vec::fmadd(t, VF(2.37700272f), VF(-1.37700284f));
  const VF q = horner(s, {-2.90511198e-5f * k, 1.26664481e-5f * k, 3.09857365e-4f * k,
                          -3.48675530e-4f * k, -3.18003027e-3f * k, 3.19250207e-3f * k,
                          5.19166179e-2f * k, 1.63693413e-1f * k, 2.84432679e-1f * k});
  return {ax, q * t * e, e * VF(0.398942280f * k)};
}

// yes where z > 0, else no (NaN: no). On AVX-512 the compare's mask register drives the
// blend directly; at::vec's blendv would first widen it to a vector mask and compare that
// again (five instructions for three).
template <typename V>
RELU_EXT_VEC_INLINE V where_positive(V z, V yes, V no) {
  using T = typename V::value_type;
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ), no, yes);
  } else {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_GT_OQ), no, yes);
  }
#else
  return V::blendv(no, yes, z > V(T(0)));
#endif
}

// Phi(x) from the tail: Phi(x) = tail for x <= 0, 1 - tail for x > 0.
RELU_EXT_VEC_INLINE VF normal_cdf(VF x, VF tail) {
  return where_positive(x, VF(1.0f) - tail, tail);
}

// gelu(x) = x Phi(x) = max(x, 0) - |x| Phi(-|x|), without a blend; |x| clamped at 15,
// where the tail is 0 (so -inf gives 0, not inf * 0).
RELU_EXT_VEC_INLINE VF gelu(VF x) {
  const Normal n = normal(x);
  return at::vec::fnmadd(n.ax, n.tail, at::vec::clamp_min(x, VF(0.0f)));
}

// The double versions: at::vec's functions (SLEEF, 1 ulp).
RELU_EXT_VEC_INLINE VD exp(VD x) { return x.exp(); }
RELU_EXT_VEC_INLINE VD expm1(VD x) { return x.expm1(); }
struct NormalD {
  VD tail;
  VD pdf;
};
RELU_EXT_VEC_INLINE NormalD normal(VD x) {
  return {VD(0.5) * (x.abs() * VD(M_SQRT1_2)).erfc(),
          (VD(-0.5) * x * x).exp() * VD(M_2_SQRTPI * M_SQRT1_2 * 0.5)};
}
RELU_EXT_VEC_INLINE VD normal_cdf(VD x, VD tail) {
  return where_positive(x, VD(1.0) - tail, tail);
}
RELU_EXT_VEC_INLINE VD gelu(VD x) {
  return VD::blendv(x * normal_cdf(x, normal(x).tail), VD(0.0), x < VD(-100.0));
}
RELU_EXT_VEC_INLINE VD reciprocal(VD d) { return VD(1.0) / d; }

}  // namespace vec_math
}  // namespace relu_ext
