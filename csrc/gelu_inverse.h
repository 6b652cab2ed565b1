// GELU's input recovered from its output y and one bit (x >= x_min, the branch), for
// memory-efficient GELU: autograd keeps y (which the next layer keeps anyway) and the bit
// instead of x. Shared by the CPU (scalar and at::vec vectors) and CUDA kernels; written once
// over a policy P giving the vector type V, its mask type M and a few functions:
//   P::where(m, a, b), P::sqrt, P::log, P::fma, P::max, P::min (NaN-propagating),
//   P::value_slope<kTanh>(x, &f, &df): gelu(x) and gelu'(x), the kernels' own formulas.
//
// GELU falls from 0 to its minimum y_min at x_min (about -0.7518, y_min about -0.1700), then
// rises. With t = sqrt(y - y_min), x is a smooth function of t on each branch, and Newton's
// method on t(x) converges quadratically right up to the minimum (on y(x) it would stall
// there, gelu' being 0). Far left (x < -1.5) the output decays like exp(-x^2/2); Newton
// runs on log(gelu(x)) there. Starting guesses are polynomial fits (fit_gelu_inverse.py).
//
// Accuracy: y carries gelu(x) with an error d (rounded to its dtype, after the forward's own
// few ulp), so x is only known to about d / |gelu'(x)|, and near the minimum to about
// sqrt(2 d / gelu''(x_min)): the recovered gradient gelu'(x) is then off by up to about
// sqrt(2 gelu''(x_min) d) (2e-4 in float32). benchmarks/gelu_inverse_error.py and
// tests/test_memory.py measure it.
#pragma once

#include "common.h"

namespace relu_ext {

// Horner's rule, coefficients highest degree first.
template <typename P, typename V>
C10_HOST_DEVICE inline V horner_step(V acc, V) {
  return acc;
}
template <typename P, typename V, typename... Cs>
C10_HOST_DEVICE inline V horner_step(V acc, V x, float c, Cs... cs) {
  return horner_step<P>(P::fma(acc, x, V(static_cast<typename P::T>(c))), x, cs...);
}
template <typename P, typename V, typename... Cs>
C10_HOST_DEVICE inline V horner(V x, float c0, Cs... cs) {
  return horner_step<P>(V(static_cast<typename P::T>(c0)), x, cs...);
}

// The fits printed by fit_gelu_inverse.py (error bounds there): x = R(t) on the right branch
// for y <= 3, x = L(t) on the left branch for y <= -0.05, x = v F(1/v), v = sqrt(-log(-y)),
// on the left branch for y > -0.05 (tanh form: fit for y >= 1e-38, float32's range).
template <bool kTanh>
struct GeluInverseFit;

template <>
struct GeluInverseFit<false> {
  static constexpr double x_min = -0.7517915246935645;
  static constexpr double y_min = -0.16997120747990369;
  static constexpr double dt_dx = 0.46448573299418705;  // d t / d x at the minimum
  static constexpr double v_max = 27.0;                  // F's fit range: v <= v_max
  static constexpr double x_lim = 38.0;  // float64's gelu(x) is 0 below -x_lim
  template <typename P, typename V>
  C10_HOST_DEVICE static V R(V t) {
    return horner<P>(t, -1.32419169e-01f, 7.15242088e-01f, -1.44634259e+00f, 1.79930294e+00f,
                     -1.35143530e+00f, 2.15712333e+00f, -7.52049327e-01f);
  }
  template <typename P, typename V>
  C10_HOST_DEVICE static V L(V t) {
    return horner<P>(t, -1.06588843e+03f, 8.77487671e+02f, -2.92520813e+02f, 4.16993027e+01f,
                     -4.45395851e+00f, -2.07467532e+00f, -7.52115548e-01f);
  }
  template <typename P, typename V>
  C10_HOST_DEVICE static V F(V s) {
    return horner<P>(s, 5.28618622e+00f, -7.24736643e+00f, 4.66275120e+00f, -1.18777955e+00f,
                     8.20595801e-01f, -1.12197986e-02f, -1.41396260e+00f);
  }
};

template <>
struct GeluInverseFit<true> {
  static constexpr double x_min = -0.7524614220710162;
  static constexpr double y_min = -0.17004075057125406;
  static constexpr double dt_dx = 0.4638965892415632;
  static constexpr double v_max = 9.4;
  static constexpr double x_lim = 21.0;
  template <typename P, typename V>
  C10_HOST_DEVICE static V R(V t) {
    return horner<P>(t, -1.29686922e-01f, 7.03216434e-01f, -1.42873871e+00f, 1.79068220e+00f,
                     -1.35275197e+00f, 2.15950346e+00f, -7.52715290e-01f);
  }
  template <typename P, typename V>
  C10_HOST_DEVICE static V L(V t) {
    return horner<P>(t, -1.02568481e+03f, 8.43333435e+02f, -2.81215881e+02f, 3.99700356e+01f,
                     -4.33732605e+00f, -2.08050895e+00f, -7.52772570e-01f);
  }
  template <typename P, typename V>
  C10_HOST_DEVICE static V F(V s) {
    return horner<P>(s, 7.20747757e+01f, -1.64763474e+02f, 1.61018372e+02f, -8.81616135e+01f,
                     3.14505253e+01f, -6.97733545e+00f, -6.05295300e-01f);
  }
};

// Newton steps after the guess (each squares the error, times about |x|/2): from the fits'
// 3e-4 (far left: 5e-4, 1e-4), one gives float32 precision; float64 takes six (its far-left
// guesses beyond the tanh form's fit range start up to 11 away).
template <typename T>
constexpr int gelu_inverse_steps() {
  return sizeof(T) >= 8 ? 6 : 1;
}

// x with gelu(x) = y on the branch `right` (x >= x_min). y = NaN gives NaN; y >= 100 gives
// x = y (exact in every dtype); y >= -tiny on the left branch gives about -xlim (gelu' is 0
// there in every dtype). No lane computes a NaN or divides by zero for finite y (NaNs are
// slow on some CPUs even where a select then drops them).
template <typename P, bool kTanh>
C10_HOST_DEVICE inline typename P::V gelu_inverse(typename P::V y, typename P::M right) {
  using V = typename P::V;
  using T = typename P::T;
  using Fit = GeluInverseFit<kTanh>;
  const V zero(T(0)), one(T(1)), xm(T(Fit::x_min)), ym(T(Fit::y_min));
  constexpr bool kDouble = sizeof(T) >= 8;
  const V xlim(T(kDouble ? Fit::x_lim : 15.0));  // float: gelu(x) is 0 below -15
  const V tiny(std::numeric_limits<T>::min());
  const V yc = P::where(y > V(T(100)), V(T(100)), y);
  const V t = P::sqrt(P::where(yc > ym, yc - ym, zero));
  const V ts = P::where(right, t, -t);
  // The guess: three fits, the far-left one (a logarithm) only when a lane needs it.
  const auto near = right | (yc <= V(T(-0.05)));  // lanes not on the far-left fit
  V x_left = Fit::template L<P>(t);
  if (!P::all(near)) {
    const V v = P::sqrt(-P::log(P::where(yc < -tiny, -yc, tiny)));
    const V v_fit = P::where(v > V(T(Fit::v_max)), V(T(Fit::v_max)), v);
    const V x_far = v_fit * Fit::template F<P>(P::reciprocal(v_fit));
    x_left = P::where(near, x_left, P::max(x_far, -xlim));
  }
  const V x_right = P::where(yc > V(T(3)), yc, Fit::template R<P>(t));
  V x = P::where(right, x_right, x_left);
  for (int k = 0; k < gelu_inverse_steps<T>(); ++k) {
    V f, df;
    P::template value_slope<kTanh>(x, &f, &df);
    // 1 / gelu'(x), guarded against 0 (never used where it is that small).
    const V r = P::reciprocal(P::where(df == zero, one, df));
    // Newton on t(x) = +-sqrt(gelu(x) - y_min), t'(x) = gelu'(x) / (2 t(x)), taken as its
    // limit dt_dx where t(x) is too small to divide by.
    const V tx = P::sqrt(P::where(f > ym, f - ym, zero));
    const V txs = P::where(right, tx, -tx);
    const V step_t = P::where(tx > V(T(1e-3)), (txs - ts) * (txs + txs) * r,
                              (txs - ts) * V(T(1 / Fit::dt_dx)));
    // Far left (x < -1.5, gelu' well away from 0): Newton on gelu(x) itself (float), on
    // log(gelu(x) / y) in float64, whose guesses can be far off (y below float's range).
    V step_far;
    if constexpr (kDouble) {
      step_far = P::log(P::where((f < zero) & (yc < zero), f / yc, one)) * f * r;
    } else {
      step_far = (f - yc) * r;
    }
    x = x - P::where(right | (x > V(T(-1.5))), step_t, step_far);
    x = P::where(right, P::max(x, xm), P::max(P::min(x, xm), -xlim));
  }
  // NaN in, NaN out (the clamps above would have hidden it).
  return x + yc * zero;
}

// The scalar policy: host and device, any floating T (float for half/bfloat16).
template <typename T_>
struct ScalarGeluPolicy {
  using T = T_;
  using V = T_;
  using M = bool;
  C10_HOST_DEVICE static V where(M m, V a, V b) { return m ? a : b; }
  C10_HOST_DEVICE static V sqrt(V x) { return std::sqrt(x); }
  C10_HOST_DEVICE static V log(V x) { return std::log(x); }
  C10_HOST_DEVICE static V fma(V a, V b, V c) { return a * b + c; }
  C10_HOST_DEVICE static V max(V a, V b) { return a != a ? a : (a > b ? a : b); }
  C10_HOST_DEVICE static V min(V a, V b) { return a != a ? a : (a < b ? a : b); }
  C10_HOST_DEVICE static V reciprocal(V x) { return V(1) / x; }
  C10_HOST_DEVICE static bool all(M m) { return m; }
  template <bool kTanh>
  C10_HOST_DEVICE static void value_slope(V x, V* f, V* df) {
    if constexpr (kTanh) {
      *f = gelu_tanh_fwd(x);
      *df = gelu_tanh_bwd(V(1), x);
    } else {
      *f = gelu_fwd(x);
      *df = gelu_bwd(V(1), x);
    }
  }
};

// gelu'(x) at the x recovered from (y, bit): the memory-efficient backward's factor.
template <typename T, bool kTanh>
C10_HOST_DEVICE inline T gelu_slope_from_result(T y, bool right) {
  const T x = gelu_inverse<ScalarGeluPolicy<T>, kTanh>(y, right);
  return kTanh ? gelu_tanh_bwd(T(1), x) : gelu_bwd(T(1), x);
}

// The branch bit: x >= x_min (NaN: false).
template <typename T, bool kTanh>
C10_HOST_DEVICE inline bool gelu_right_branch(T x) {
  return x >= T(GeluInverseFit<kTanh>::x_min);
}

}  // namespace relu_ext
