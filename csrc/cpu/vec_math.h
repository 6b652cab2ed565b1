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

#include "../common.h"

// The x86 baseline library (CPUs without AVX2): at::vec has no SSE vectors, and its generic
// Vectorized (an array, each operation a loop over it) was slower there than the scalar ops
// (GELU on 1M floats: 9.8 ms against 4.9) and, inlined whole into every loop, took 100 s to
// compile for gelu.cpp alone. So that library runs the scalar ops where a loop has them
// (loops.h: cpu_elementwise_vec, the mask-writing forwards), and inlines nothing by force.
#if defined(CPU_CAPABILITY_DEFAULT) && (defined(__x86_64__) || defined(_M_X64))
#define RELU_EXT_GENERIC_VEC 1
#else
#define RELU_EXT_GENERIC_VEC 0
#endif

// Every function here is forced inline: called once per vector inside the kernels' loops,
// an out-of-line call (which the compiler chose for the larger ones) costs up to 15%. Not in
// the sanitizer build (setup.py: RELU_EXT_SANITIZE), where inlining all of it into each loop
// took minutes to compile, and changes nothing a sanitizer checks.
#if RELU_EXT_GENERIC_VEC || defined(RELU_EXT_NO_FORCED_INLINE)
#define RELU_EXT_FORCED_INLINE 0
#define RELU_EXT_VEC_INLINE inline
#else
#define RELU_EXT_FORCED_INLINE 1
#define RELU_EXT_VEC_INLINE inline __attribute__((always_inline))
#endif

namespace relu_ext {
namespace vec_math {

using VF = at::vec::Vectorized<float>;
using VD = at::vec::Vectorized<double>;
using VI = at::vec::Vectorized<int32_t>;

// kLog2e, kLn2Hi, kLn2Lo, kRound and the exp fit's kExpC*: ../common.h (the scalar form of
// times_exp_nonpositive below takes them too).

// c[0] x^(N-1) + ... + c[N-1] by Horner's rule (coefficients highest degree first, as
// fit_vec_math.py prints them).
template <size_t N>
RELU_EXT_VEC_INLINE VF horner(VF x, const float (&c)[N]) {
  VF p(c[0]);
  for (size_t i = 1; i < N; ++i) p = at::vec::fmadd(p, x, VF(c[i]));
  return p;
}

// Each function comes in two precisions: kHalf = false for float results (about 1 ulp),
// kHalf = true for results that are rounded to bfloat16 or float16 afterwards: shorter
// polynomials and reductions, relative error under 2e-5 (the sum of the bounds below; at most
// a twentieth of a float16 half ulp, a hundredth of a bfloat16 one), fewer instructions.

// n = round(x log2 e), an integer-valued float (|x log2 e| < 2^22).
RELU_EXT_VEC_INLINE VF round_log2e(VF x) {
  return at::vec::fmadd(x, VF(kLog2e), VF(kRound)) - VF(kRound);
}

// 2^k for integer k in [-126, 127], built from the exponent bits.
RELU_EXT_VEC_INLINE VF pow2(VI k) { return at::vec::cast<float>((k + VI(127)) << VI(23)); }

// p 2^n for an integer-valued float n in [-252, 254], rounded once (subnormal results too).
// AVX-512: vscalefps; otherwise 2^n as two exact factors built from the exponent bits.
RELU_EXT_VEC_INLINE VF times_pow2(VF p, VF n) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_scalef_ps(p, n);
#else
  const VI k = at::vec::convert_to_int_of_same_size(n);
  const VI half = k >> VI(1);  // k = half + (k - half), both in [-126, 127]
  return p * pow2(half) * pow2(k - half);
#endif
}

// The same for n in [-190, 1] (the exponentials of arguments <= 0), in four instructions fewer
// on AVX2: p 2^(n + 64) is exact (a normal float, for any p of use here; where it is not, p 2^n
// lies below 2^-190 and rounds to 0 either way), and the product by 2^-64 rounds once where the
// result is subnormal.
RELU_EXT_VEC_INLINE VF times_pow2_down(VF p, VF n) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_scalef_ps(p, n);
#else
  return p * pow2(at::vec::convert_to_int_of_same_size(n) + VI(64)) * VF(0x1p-64f);
#endif
}

// 2^n for an integer-valued float n in [-126, 127].
RELU_EXT_VEC_INLINE VF pow2(VF n) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);
#else
  return pow2(at::vec::convert_to_int_of_same_size(n));
#endif
}

// x - n ln 2, |result| <= ln(2)/2. Float: Cody-Waite (n kLn2Hi is exact); kHalf: one fma
// (absolute error n * 2.4e-8 <= 4e-6).
template <bool kHalf>
RELU_EXT_VEC_INLINE VF reduce_ln2(VF x, VF n) {
  if constexpr (kHalf) return at::vec::fmadd(n, VF(-0.693147182f), x);
  return at::vec::fmadd(n, VF(-kLn2Lo), at::vec::fmadd(n, VF(-kLn2Hi), x));
}

// exp(r) for |r| <= ln(2)/2: degree 6, fit error 2.0e-9 relative (kHalf: degree 4, 2.8e-6).
constexpr float kExpPoly[] = {kExpC6, kExpC5, kExpC4, kExpC3, kExpC2, 1.0f, 1.0f};
constexpr float kExpPolyHalf[] = {4.15138490e-02f, 1.67874739e-01f, 5.00030160e-01f,
                                  9.99966860e-01f, 1.0f};
template <bool kHalf>
RELU_EXT_VEC_INLINE VF exp_reduced(VF r) {
  if constexpr (kHalf) return horner(r, kExpPolyHalf);
  return horner(r, kExpPoly);
}

// The same polynomials in w = -2r (coefficient i times (-1/2)^i: exact).
template <size_t N>
struct Poly {
  float c[N];
};
template <size_t N>
constexpr Poly<N> in_minus_2r(const float (&c)[N]) {  // c highest degree first
  Poly<N> p{};
  float f = 1.0f;
  for (size_t i = N; i-- > 0; f *= -0.5f) p.c[i] = c[i] * f;
  return p;
}
constexpr Poly<7> kExpPolyW = in_minus_2r(kExpPoly);
constexpr Poly<5> kExpPolyHalfW = in_minus_2r(kExpPolyHalf);

// exp(x), relative error under 1 ulp down to the subnormal range (kHalf: under 7e-6);
// exp(x) = 2^n exp(r). x is clamped to [-104, 88.75] (exp is 0 and inf beyond); NaN
// propagates (at::vec's clamp_min/clamp_max keep a NaN first operand, on every ISA).
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VF exp(VF x) {
  x = at::vec::clamp_max(at::vec::clamp_min(x, VF(-104.0f)), VF(88.75f));
  const VF n = round_log2e(x);
  return times_pow2(exp_reduced<kHalf>(reduce_ln2<kHalf>(x, n)), n);
}

// exp(x) in the lanes where x <= 0, as exp (x clamped below at -104; NaN propagates), scaled
// by times_pow2_down; exp(r) by the polynomial c (Horner's order) after the float reduction.
// The lanes where x > 0 hold no particular value: the caller (ELU's backward) blends them
// away, so on AVX-512 and AVX2 no upper clamp (an instruction a vector) keeps them in range;
// the baseline build clamps them at 0, as its scalar int conversion of n must stay in range.
// (No kHalf form: the derivatives keep float's accuracy, act_vec.h.)
template <size_t N>
RELU_EXT_VEC_INLINE VF exp_nonpositive_by(VF x, const float (&c)[N]) {
  x = at::vec::clamp_min(x, VF(-104.0f));
#if !defined(CPU_CAPABILITY_AVX512) && !defined(CPU_CAPABILITY_AVX2)
  x = at::vec::clamp_max(x, VF(0.0f));
#endif
  const VF n = round_log2e(x);
  return times_pow2_down(horner(reduce_ln2<false>(x, n), c), n);
}
// g a exp(x) in the lanes where x <= 0 (ELU's float32 backward; the lanes where x > 0 as in
// exp_nonpositive_by), rounded twice where g times a times exp's result rounds three times, and
// the first of them in a term at most 0.41 of the result (NOTES §62; ../common.h has the
// scalar form): exp(r) = 1 + p, p = r + r^2 q(r) (kExpPoly's q), so g a exp(r) = gh + gh p in one
// fma, gh = g a / 2; then times 2^(n + 1) by times_pow2_down, rounded only where the result is
// subnormal (a subnormal exp's rounding is not then multiplied by g a). Halving keeps |gh (1 +
// p)| <= 0.71 |g a|. x is clamped below at kTimesExpLowest, as times_pow2_down's range asks:
// from there on, -inf too, the result is 0 unless |g a| >= 2^95 (AVX-512) or 2^39 (the
// others).
// Where x < 0 and |g a| >= 2^63, AVX2's and the baseline's scaling (by 2^(n + 65), then 2^-64)
// may overflow: inf where g a exp(x) is finite (AVX-512's is one exact step).
#if defined(CPU_CAPABILITY_AVX512)
constexpr float kTimesExpLowest = -170.0f;
#else
constexpr float kTimesExpLowest = -131.0f;
#endif
RELU_EXT_VEC_INLINE VF times_exp_nonpositive(VF g, VF x, VF a) {
  x = at::vec::clamp_min(x, VF(kTimesExpLowest));
#if !defined(CPU_CAPABILITY_AVX512) && !defined(CPU_CAPABILITY_AVX2)
  x = at::vec::clamp_max(x, VF(0.0f));
#endif
  const VF t = at::vec::fmadd(x, VF(kLog2e), VF(kRound));
  const VF r = reduce_ln2<false>(x, t - VF(kRound));  // n = round(x log2 e), as round_log2e
  const VF q = horner(r, {kExpC6, kExpC5, kExpC4, kExpC3, kExpC2});
  const VF gh = g * (a * VF(0.5f));
  return times_pow2_down(at::vec::fmadd(gh, at::vec::fmadd(r * r, q, r), gh),
                         t - VF(kRound - 1.0f));  // n + 1
}

// For a slope that scales a gradient rounded to bfloat16 / float16 afterwards (the half
// types' ELU backward): degree 5 (fit error 9.2e-8 relative) after the float reduction, so
// the result is as accurate as from the float exp (largest error on 10^7 inputs, bfloat16
// 0.50001 ulp and float16 0.50027, ATen's 0.50001 and 0.50013) with one fma fewer; kHalf's
// exp (degree 4, one-fma reduction) would save three, at 0.50068 and 0.50573 (NOTES §51).
constexpr float kExpPoly5[] = {8.29031505e-03f, 4.18979302e-02f, 1.66676357e-01f,
                               4.99991506e-01f, 9.99999702e-01f, 1.0f};
RELU_EXT_VEC_INLINE VF exp_nonpositive_slope(VF x) { return exp_nonpositive_by(x, kExpPoly5); }

// expm1(min(x, 0)) (ELU's forward): expm1(x) = 2^n (1 + expm1(r)) - 1 = 2^n expm1(r) +
// (2^n - 1) in one rounding, with expm1(r) = r + r^2 q(r), q of degree 5 (fit error 2.4e-10
// relative; kHalf: degree 3, 4.5e-7); exact near 0 (n = 0), x clamped to [-87, 0] (expm1 is
// -1 below), where 2^n is a normal float. NaN propagates; -0 gives +0 (r + r^2 q at r = -0).
// With low: also *low, the two roundings' errors (of p = r + r^2 q and of 2^n p + (2^n - 1)),
// each by one fma after an exact subtraction (r - p, and (2^n - 1) - result: within a factor
// 2 of each other for every x <= 0 here, Sterbenz), so that result + *low is expm1 to well
// under the result's ulp: ELU's forward at alpha != 1 rounds alpha (result + low) once
// (act_vec.h; NOTES §59).
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VF expm1_nonpositive(VF x, VF* low = nullptr) {
  x = at::vec::clamp_min(at::vec::clamp_max(x, VF(0.0f)), VF(-87.0f));
  const VF n = round_log2e(x);
  const VF r = reduce_ln2<kHalf>(x, n);
  VF q;
  if constexpr (kHalf) {
    q = horner(r, {8.33807234e-03f, 4.18725684e-02f, 1.66668311e-01f, 4.99994040e-01f});
  } else {
    q = horner(r, {1.98458773e-4f, 1.39406172e-3f, 8.33338965e-3f, 4.16663624e-2f,
                   1.66666657e-1f, 5.00000000e-1f});
  }
  const VF r2 = r * r;
  const VF p = at::vec::fmadd(r2, q, r);
  const VF s = pow2(n);  // n in [-126, 127]
  const VF e = at::vec::fmadd(s, p, s - VF(1.0f));
  if (low != nullptr) {
    const VF p_low = at::vec::fmadd(r2, q, r - p);
    *low = at::vec::fmadd(s, p_low, at::vec::fmadd(s, p, (s - VF(1.0f)) - e));
  }
  return e;
}

// Whether every lane of a is 1 (for a loop-invariant a, a test the compiler hoists).
RELU_EXT_VEC_INLINE bool all_one(VF a) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.0f), _CMP_EQ_OQ) == 0xFFFF;
#elif defined(CPU_CAPABILITY_AVX2)
  return _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(1.0f), _CMP_EQ_OQ)) == 0xFF;
#else
  return (a == VF(1.0f)).zero_mask() == 0;
#endif
}

// 1 / d and a / d for finite d > 0: divisions (correctly rounded), on every ISA. The divider
// is otherwise idle in these loops: on Zen 4 (AVX-512) the exact GELU ran 4% faster than with
// the 2^-14 estimate and its Newton step; on Zen 3 (AVX2) the exact GELU's forward 13% and
// the backwards 8% faster than with the 2^-11.4 estimate and two Newton steps (NOTES §37).
RELU_EXT_VEC_INLINE VF reciprocal(VF d) { return VF(1.0f) / d; }
RELU_EXT_VEC_INLINE VF divide(VF a, VF d) { return a / d; }

// min(|x|, c) for c > 0. AVX-512: one vrangeps (the smaller magnitude, sign cleared), which
// gives c for a NaN x (on Zen 4; at::vec's clamp keeps the NaN): callers that must return NaN
// take it from x itself.
RELU_EXT_VEC_INLINE VF abs_clamp_max(VF x, VF c) {
#if defined(CPU_CAPABILITY_AVX512)
  constexpr int kMinMagnitude = 0x2, kClearSign = 0x8;
  return _mm512_range_ps(x, c, kMinMagnitude | kClearSign);
#else
  return at::vec::clamp_max(x.abs(), c);
#endif
}

// ax^2 + c for normal()'s reduction below: exactly, then rounded once (one fma). Without a
// hardware fma (the baseline x86-64 build, where at::vec's fmadd rounds the product),
// rounding x^2 first would cost exp(-x^2/2) up to 60 ulp at |x| = 13: there ax = hi + lo,
// 12-bit halves, so hi^2 + c is exact (c = 2n ln2_hi is within a factor 2 of -hi^2, or 0)
// and the small terms 2 hi lo and lo^2 are each rounded once.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(CPU_CAPABILITY_AVX2) || \
    defined(CPU_CAPABILITY_AVX512)
RELU_EXT_VEC_INLINE VF square_plus(VF ax, VF c) { return at::vec::fmadd(ax, ax, c); }
#else
RELU_EXT_VEC_INLINE VF square_plus(VF ax, VF c) {
  const VF hi = ax & VF(c10::bit_cast<float>(0xfffff000u));
  const VF lo = ax - hi;
  return (hi * hi + c) + (hi * lo * VF(2.0f) + lo * lo);
}
#endif

// exp(-w/2) for |w| <= ln 2 (and a rounding error): exp_reduced in w = -2r.
template <bool kHalf>
RELU_EXT_VEC_INLINE VF exp_of_minus_half(VF w) {
  if constexpr (kHalf) return horner(w, kExpPolyHalfW.c);
  return horner(w, kExpPolyW.c);
}

// The standard normal distribution at x, from one exponential, each value scaled by 2^n
// only at the end (so results in the subnormal range round once):
//   exp(-x^2/2) = e 2^n, n = round(-x^2/2 log2 e), e = exp(r), r = -x^2/2 - n ln 2 with
//   x^2 exact (square_plus; kHalf: 2n ln 2 rounded, relative error 4e-6 at |x| = 15);
//   pdf = e 2^n / sqrt(2 pi);
//   Phi(-|x|) = erfc(|x|/sqrt 2)/2 = t Q(s) e 2^n, t = 1 / d, d = 1 + |x|/sqrt(8), Q a
//   degree-8 polynomial in s = 2.377 t - 1.377 (t from [0.1586, 1] onto [-1, 1]) fit to
//   erfc(a) exp(a^2) / (2t) with relative error 4.4e-8 for a = |x|/sqrt 2 in [0, 10.61]
//   (kHalf: degree 6, 1.6e-6).
// The tail keeps its relative accuracy for every x (1 + erf(x/sqrt 2) would cancel for
// x < 0). |x| is clamped at 15, beyond which both underflow float.
struct NormalExp {
  VF ax;  // min(|x|, 15)
  VF n;   // the power of two
  VF e;   // exp(-x^2/2) / 2^n
};
template <bool kHalf>
RELU_EXT_VEC_INLINE NormalExp normal_exp(VF ax) {
  // n = round(-x^2/2 log2 e) from a rounded product (so |r| may pass ln(2)/2 by a rounding
  // error); the polynomial runs on w = -2r = x^2 + 2n ln 2, which needs no -x^2/2 first:
  // exp(r) = sum c_i (-w/2)^i, the coefficients scaled by powers of -1/2 (exactly).
  const VF n = at::vec::fmadd(ax, ax * VF(-0.5f * kLog2e), VF(kRound)) - VF(kRound);
  VF w;
  if constexpr (kHalf) {
    w = at::vec::fmadd(ax, ax, n * VF(2 * 0.693147182f));
  } else {  // x^2 + 2n kLn2Hi exactly (2n kLn2Hi is exact), then rounded once
    w = at::vec::fmadd(n, VF(2 * kLn2Lo), square_plus(ax, n * VF(2 * kLn2Hi)));
  }
  return {ax, n, exp_of_minus_half<kHalf>(w)};
}
constexpr float kTailC = 0.353553391f;   // 1 / sqrt(8): d = 1 + kTailC |x|
constexpr float kTailK1 = 2.37700272f;   // s = kTailK1 t + kTailK0
constexpr float kTailK0 = -1.37700284f;
constexpr float kInvSqrt2Pi = 0.398942280f;  // phi(x) = exp(-x^2/2) kInvSqrt2Pi
RELU_EXT_VEC_INLINE VF tail_d(VF ax) { return at::vec::fmadd(ax, VF(kTailC), VF(1.0f)); }
// t = 1 / d and Q(s): Phi(-|x|) = t Q e 2^n.
struct TailTQ {
  VF t;
  VF q;
};
template <bool kHalf>
RELU_EXT_VEC_INLINE TailTQ tail_tq(VF ax) {
  const VF t = reciprocal(tail_d(ax));
  const VF s = at::vec::fmadd(t, VF(kTailK1), VF(kTailK0));
  if constexpr (kHalf) {
    return {t, horner(s, {2.41535003e-04f, -3.30260169e-04f, -3.12940544e-03f, 3.18586687e-03f,
                          5.19045703e-02f, 1.63693786e-01f, 2.84433126e-01f})};
  }
  return {t, horner(s, {-2.90511198e-5f, 1.26664481e-5f, 3.09857365e-4f, -3.48675530e-4f,
                        -3.18003027e-3f, 3.19250207e-3f, 5.19166179e-2f, 1.63693413e-1f,
                        2.84432679e-1f})};
}
struct Normal {
  VF ax;  // min(|x|, 15)
  VF n;   // the power of two
  VF e;   // exp(-x^2/2) / 2^n
  VF m;   // Phi(-|x|) / 2^n
  RELU_EXT_VEC_INLINE VF tail() const { return times_pow2_down(m, n); }  // Phi(-|x|)
  RELU_EXT_VEC_INLINE VF pdf() const { return times_pow2_down(e * VF(kInvSqrt2Pi), n); }  // phi(x)
};
template <bool kHalf = false>
RELU_EXT_VEC_INLINE Normal normal(VF x) {
  const NormalExp ne = normal_exp<kHalf>(abs_clamp_max(x, VF(15.0f)));
  const TailTQ tq = tail_tq<kHalf>(ne.ax);
  return {ne.ax, ne.n, ne.e, tq.q * tq.t * ne.e};
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
// where the tail is 0 (so -inf gives 0, not inf * 0). |x| Phi(-|x|) = u Q(u) e 2^n with
// u = |x| t = |x| / d from one division and Q fit in u (fit_vec_math.py: relative error
// 6.0e-8, kHalf 1.6e-6): two fewer operations than |x| times the tail's t Q(s).
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VF gelu(VF x) {
  const NormalExp ne = normal_exp<kHalf>(abs_clamp_max(x, VF(15.0f)));
  const VF u = divide(ne.ax, tail_d(ne.ax));
  VF q;
  if constexpr (kHalf) {
    q = horner(u, {8.50946890e-05f, -4.69090330e-04f, -5.77385188e-04f, 4.63168556e-03f,
                   3.03739887e-02f, -2.22151384e-01f, 4.99999225e-01f});
  } else {
    q = horner(u, {-7.57313182e-06f, 6.82440004e-05f, -1.58087307e-04f, -3.95730785e-05f,
                   -9.55504482e-04f, 4.76323580e-03f, 3.03849075e-02f, -2.22163692e-01f,
                   4.99999970e-01f});
  }
  return at::vec::clamp_min(x, VF(0.0f)) - times_pow2_down(u * q * ne.e, ne.n);
}

// gelu'(x) = Phi(x) + x phi(x) = (x > 0 ? 1 - D : D), D = Phi(-|x|) - |x| phi(x) =
// (t Q(s) - |x| / sqrt(2 pi)) e 2^n: one scaling by 2^n, one blend; |x| clamped at 15 (so
// +-inf give 1 and 0, not inf * 0), keeping NaN.
RELU_EXT_VEC_INLINE VF gelu_slope(VF x) {
  const NormalExp ne = normal_exp<false>(at::vec::clamp_max(x.abs(), VF(15.0f)));
  const TailTQ tq = tail_tq<false>(ne.ax);
  const VF d = times_pow2_down(ne.e * at::vec::fmsub(tq.q, tq.t, ne.ax * VF(kInvSqrt2Pi)), ne.n);
#if defined(CPU_CAPABILITY_AVX512)  // 1 - d where x > 0 (or NaN): a compare, a masked subtraction
  return _mm512_mask_sub_ps(d, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NLE_UQ),
                            _mm512_set1_ps(1.0f), d);
#else
  return where_positive(x, VF(1.0f) - d, d);
#endif
}

// The double versions: at::vec's functions (SLEEF, 1 ulp); kHalf does not apply.
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VD exp(VD x) {
  return x.exp();
}
RELU_EXT_VEC_INLINE VD times_exp_nonpositive(VD g, VD x, VD a) { return g * a * x.exp(); }
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VD expm1_nonpositive(VD x) {
  return at::vec::clamp_max(x, VD(0.0)).expm1();
}
struct NormalD {
  VD x;
  VD tail() const { return VD(0.5) * (x.abs() * VD(M_SQRT1_2)).erfc(); }
  VD pdf() const { return (VD(-0.5) * x * x).exp() * VD(M_2_SQRTPI * M_SQRT1_2 * 0.5); }
};
template <bool kHalf = false>
RELU_EXT_VEC_INLINE NormalD normal(VD x) {
  return {x};
}
RELU_EXT_VEC_INLINE VD normal_cdf(VD x, VD tail) {
  return where_positive(x, VD(1.0) - tail, tail);
}
template <bool kHalf = false>
RELU_EXT_VEC_INLINE VD gelu(VD x) {
  return VD::blendv(x * normal_cdf(x, normal(x).tail()), VD(0.0), x < VD(-100.0));
}
RELU_EXT_VEC_INLINE VD reciprocal(VD d) { return VD(1.0) / d; }

}  // namespace vec_math
}  // namespace relu_ext
