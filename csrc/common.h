// Shared by every kernel: argument checks, the scalar math of each activation
// (host and device), and the CPU elementwise driver.
#pragma once

// ATen's per-operator headers, not ATen/ATen.h (every operator's declarations: a third of a
// small kernel file's compile time, relu.cpp 14 -> 9.6 s).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <c10/macros/Macros.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace relu_ext {

// ---------------------------------------------------------------- checks --

inline bool is_supported_dtype(at::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16;
}

// None where a tensor is required (torch.ops passes it as an undefined tensor): TypeError.
inline void check_defined(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK_TYPE(t.defined(), op, ": expected ", arg, " to be a Tensor, but got None");
}

// Unsupported dtypes raise NotImplementedError, as ATen's dispatch macros do.
inline void check_input(const at::Tensor& t, const char* op, const char* arg) {
  check_defined(t, op, arg);
  TORCH_CHECK_NOT_IMPLEMENTED(
      is_supported_dtype(t.scalar_type()), op, ": expected ", arg,
      " to be a floating-point tensor (float32, float64, float16 or bfloat16), but got ",
      t.scalar_type());
}

// A tensor that must match `ref` (the input of the forward) in dtype, device and sizes.
inline void check_like(const at::Tensor& t, const at::Tensor& ref, const char* op,
                       const char* arg, const char* ref_arg) {
  check_defined(t, op, arg);
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": expected ", arg,
              " to have the same dtype as ", ref_arg, " (", ref.scalar_type(), "), but got ",
              t.scalar_type());
  TORCH_CHECK(t.device() == ref.device(), op, ": expected ", arg, " to be on the same device as ",
              ref_arg, " (", ref.device(), "), but got ", t.device());
  TORCH_CHECK(t.sizes() == ref.sizes(), op, ": expected ", arg, " to have the same size as ",
              ref_arg, " ", ref.sizes(), ", but got ", t.sizes());
}

// True for integer input to relu, which takes torch's own kernel (and its errors, e.g. for
// bool); complex input raises NotImplementedError.
inline bool relu_integer_input(const at::Tensor& self, const char* op) {
  if (at::isFloatingType(self.scalar_type())) return false;
  TORCH_CHECK_NOT_IMPLEMENTED(!self.is_complex(), op, ": expected self to be a real tensor, but got ",
                              self.scalar_type());
  return true;
}

// A backward from the output of an in-place forward (is_result) is exact only for a
// non-negative slope/alpha: torch raises there, and so do we.
inline void check_inplace_backward(bool is_result, double value, const char* op, const char* act,
                                   const char* what) {
  TORCH_CHECK(!is_result || value >= 0.0, op, ": in-place ", act,
              " backward was triggered with a negative ", what,
              ", which is not supported. This is caused by calling the in-place forward with a "
              "negative ", what, "; call the out-of-place version instead.");
}

inline bool gelu_is_tanh(c10::string_view approximate, const char* op) {
  TORCH_CHECK(approximate == "none" || approximate == "tanh", op,
              ": approximate argument must be either 'none' or 'tanh', but got '",
              std::string(approximate), "'");
  return approximate == "tanh";
}

// torch's rule: a 1-element weight applies everywhere; otherwise its size must
// equal dim 1 of the input (or 1 for a 1-D input).
inline void check_prelu_weight(const at::Tensor& self, const at::Tensor& weight, const char* op) {
  check_defined(weight, op, "weight");
  TORCH_CHECK(weight.dim() <= 1, op,
              ": expected weight to be a scalar or 1-D tensor, but got ndim = ", weight.dim());
  TORCH_CHECK(weight.scalar_type() == self.scalar_type(), op,
              ": expected weight to have the same dtype as self (", self.scalar_type(),
              "), but got ", weight.scalar_type());
  TORCH_CHECK(weight.device() == self.device(), op,
              ": expected weight to be on the same device as self (", self.device(),
              "), but got ", weight.device());
  if (weight.numel() != 1) {
    TORCH_CHECK(self.dim() > 0, op, ": a zero-dim input needs a weight with 1 element, got ",
                weight.numel());
    const int64_t channels = self.dim() > 1 ? self.size(1) : 1;
    TORCH_CHECK(weight.numel() == channels, op,
                ": weight has ", weight.numel(), " elements but the input has ", channels,
                " channels (dim 1); expected 1 or ", channels);
  }
}

// memory_efficient ELU recovers its gradient from the output: exact for alpha >= 0 only.
inline void check_elu_memory_efficient(bool memory_efficient, double alpha, const char* op) {
  TORCH_CHECK(!memory_efficient || alpha >= 0.0, op,
              ": memory_efficient=True needs alpha >= 0 (the gradient is recovered from the "
              "output, which is ambiguous for a negative alpha), but got alpha=", alpha);
}

// ------------------------------------------------------------ bit masks --
// A 1-bit-per-element mask (see ops.cpp): uint8, 4 * ceil(n / 32) bytes, so it is written
// and read as whole 32-bit words (little-endian: bit i of the stream is bit i % 32 of word
// i / 32).

inline int64_t bitmask_bytes(int64_t numel) { return (numel + 31) / 32 * 4; }

inline at::Tensor empty_bitmask(const at::Tensor& like) {
  return at::empty({bitmask_bytes(like.numel())}, like.options().dtype(at::kByte));
}

inline void check_bitmask(const at::Tensor& mask, const at::Tensor& ref, const char* op,
                          const char* ref_arg) {
  check_defined(mask, op, "mask");
  TORCH_CHECK(mask.scalar_type() == at::kByte, op, ": expected mask to be a uint8 tensor, but got ",
              mask.scalar_type());
  TORCH_CHECK(mask.device() == ref.device(), op, ": expected mask to be on the same device as ",
              ref_arg, " (", ref.device(), "), but got ", mask.device());
  TORCH_CHECK(mask.dim() == 1 && mask.is_contiguous() &&
                  mask.numel() == bitmask_bytes(ref.numel()),
              op, ": expected mask to be a contiguous 1-D tensor of ", bitmask_bytes(ref.numel()),
              " bytes (1 bit per element of ", ref_arg, ", in 32-bit words), but got size ",
              mask.sizes());
  // The kernels read whole 32-bit words (CUDA: a misaligned word load is a fault).
  TORCH_CHECK(reinterpret_cast<uintptr_t>(mask.const_data_ptr()) % 4 == 0, op,
              ": expected mask to start on a 4-byte boundary (32-bit words), but it starts at "
              "byte offset ", mask.storage_offset(), " of its storage");
}

// t itself when non-overlapping and dense (its own layout, whatever its strides), else a
// contiguous copy: what the kernels walking memory order (bit masks, per-channel loops) take.
inline at::Tensor as_dense(const at::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous();
}

// A tensor whose memory order a bit mask follows must be non-overlapping and dense.
inline void check_dense(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK(t.is_non_overlapping_and_dense(), op, ": expected ", arg,
              " to be non-overlapping and dense (the mask's bits follow its memory order), but "
              "got sizes ", t.sizes(), " and strides ", t.strides());
}

// ------------------------------------------------------ bias + activation --

enum class Act { kRelu, kLeakyRelu, kElu, kGelu, kGeluTanh, kPrelu };

// f(std::integral_constant<Act, act>{}): a runtime activation as a template argument.
template <typename F>
auto with_activation(Act act, const F& f) {
  switch (act) {
    case Act::kRelu: return f(std::integral_constant<Act, Act::kRelu>{});
    case Act::kLeakyRelu: return f(std::integral_constant<Act, Act::kLeakyRelu>{});
    case Act::kElu: return f(std::integral_constant<Act, Act::kElu>{});
    case Act::kGelu: return f(std::integral_constant<Act, Act::kGelu>{});
    case Act::kGeluTanh: return f(std::integral_constant<Act, Act::kGeluTanh>{});
    case Act::kPrelu: break;
  }
  return f(std::integral_constant<Act, Act::kPrelu>{});
}

inline Act parse_activation(c10::string_view activation, const char* op) {
  if (activation == "relu") return Act::kRelu;
  if (activation == "leaky_relu") return Act::kLeakyRelu;
  if (activation == "elu") return Act::kElu;
  if (activation == "gelu") return Act::kGelu;
  if (activation == "gelu_tanh") return Act::kGeluTanh;
  TORCH_CHECK(false, op, ": activation must be one of 'relu', 'leaky_relu', 'elu', 'gelu', "
              "'gelu_tanh', but got '", std::string(activation), "'");
}

// Checks a fused bias(+weight) call; returns dim wrapped to [0, self.dim()).
inline int64_t check_bias(const at::Tensor& self, const at::Tensor& bias, int64_t dim,
                          const char* op) {
  check_input(self, op, "self");
  TORCH_CHECK(self.dim() > 0, op, ": expected self to have at least 1 dimension (the bias's), "
              "but got a 0-dim tensor");
  dim = c10::maybe_wrap_dim(dim, self.dim());
  check_defined(bias, op, "bias");
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == self.size(dim), op,
              ": expected bias to be a 1-D tensor of size self.size(", dim, ") = ",
              self.size(dim), ", but got size ", bias.sizes());
  TORCH_CHECK(bias.scalar_type() == self.scalar_type(), op,
              ": expected bias to have the same dtype as self (", self.scalar_type(),
              "), but got ", bias.scalar_type());
  TORCH_CHECK(bias.device() == self.device(), op, ": expected bias to be on the same device as "
              "self (", self.device(), "), but got ", bias.device());
  return dim;
}

inline void check_bias_weight(const at::Tensor& self, const at::Tensor& weight, int64_t dim,
                              const char* op) {
  check_defined(weight, op, "weight");
  TORCH_CHECK(weight.dim() <= 1 && (weight.numel() == 1 || weight.numel() == self.size(dim)),
              op, ": expected weight to have 1 or self.size(", dim, ") = ", self.size(dim),
              " elements, but got size ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == self.scalar_type(), op,
              ": expected weight to have the same dtype as self (", self.scalar_type(),
              "), but got ", weight.scalar_type());
  TORCH_CHECK(weight.device() == self.device(), op, ": expected weight to be on the same "
              "device as self (", self.device(), "), but got ", weight.device());
}

// Checks an act_stats call: its activation (prelu included; a weight exactly for prelu), self,
// the weight (along dim 1, or along dim with a bias) and the bias; returns the activation, dim
// wrapped to [0, self.dim()).
inline Act check_act_stats(const at::Tensor& self, const std::optional<at::Tensor>& weight,
                           int64_t& dim, c10::string_view activation,
                           const std::optional<at::Tensor>& bias, const char* op) {
  const Act act = activation == "prelu" ? Act::kPrelu : parse_activation(activation, op);
  TORCH_CHECK((act == Act::kPrelu) == weight.has_value(), op,
              ": weight must be given for activation 'prelu' and only for it");
  if (bias) {
    dim = check_bias(self, *bias, dim, op);
    if (weight) check_bias_weight(self, *weight, dim, op);
    return act;
  }
  check_input(self, op, "self");
  TORCH_CHECK(self.dim() > 0, op, ": expected self to have at least 1 dimension, but got a "
              "0-dim tensor");
  dim = c10::maybe_wrap_dim(dim, self.dim());
  if (weight) check_prelu_weight(self, *weight, op);
  TORCH_CHECK(!weight || weight->numel() == 1 || dim == 1, op,
              ": PReLU with a weight per channel counts along dim 1 (its channels), got dim ", dim);
  return act;
}

// --------------------------------------------------------------- layouts --

// True when all tensors have one dense layout (contiguous, channels_last, or any
// other permutation without gaps), so kernels can walk them as flat arrays.
template <typename... Ts>
inline bool same_dense_layout(const at::Tensor& out, const Ts&... ins) {
  if (!out.is_non_overlapping_and_dense()) return false;
  return ((ins.sizes() == out.sizes() && ins.strides() == out.strides()) && ...);
}

// A view of a PReLU weight (1 or C elements, contiguous) broadcast to the
// input's sizes, C along dim 1.
inline at::Tensor broadcast_weight(const at::Tensor& weight, const at::Tensor& self) {
  std::vector<int64_t> strides(self.dim(), 0);
  if (weight.numel() > 1) strides[1] = 1;
  return weight.as_strided(self.sizes(), strides);
}

// Per-channel kernels walk a dense input in memory order: memory position m belongs to
// channel (m / inner) % C, inner being the channel dim's stride (1 when channels are the
// fastest dim; numel when C == 1). The channel dim is 1 for PReLU, any for bias_act.
inline int64_t channel_inner(const at::Tensor& self, int64_t channels, int64_t dim = 1) {
  return channels == 1 ? self.numel() : self.stride(dim);
}

// ------------------------------------------------------ activation math --
// One definition per activation, used by the CPU and CUDA kernels alike.
// T is the compute type (float for half/bfloat16 storage).

// max(0, x) as torch's kernels on each device: NaN stays; -0 stays -0 on the CPU (torch's
// 0 > x ? 0 : x there) and becomes +0 on CUDA (torch's fmax there, for which -0 < +0).
template <typename T> C10_HOST_DEVICE inline T relu_fwd(T x) {
#if defined(__CUDA_ARCH__)
  return x > T(0) || x != x ? x : T(0);
#else
  return T(0) > x ? T(0) : x;
#endif
}
// d/dx relu(x) = (y > 0), from the output y; 0 at x = 0 as in torch.
template <typename T> C10_HOST_DEVICE inline T relu_bwd(T g, T y) {
  return y <= T(0) ? T(0) : g;
}

template <typename T> C10_HOST_DEVICE inline T leaky_relu_fwd(T x, T slope) {
  return x > T(0) ? x : x * slope;
}
// d/dx leaky_relu(x) = 1 if x > 0 else slope (also valid from the output when slope >= 0).
template <typename T> C10_HOST_DEVICE inline T leaky_relu_bwd(T g, T x, T slope) {
  return x > T(0) ? g : g * slope;
}

template <typename T> C10_HOST_DEVICE inline T prelu_fwd(T x, T w) {
  return x > T(0) ? x : w * x;
}
// d/dx prelu(x, w) = 1 if x > 0 else w;  d/dw = 0 if x > 0 else x.
// Written as selects between computed values, so loops over them vectorize.
template <typename T> C10_HOST_DEVICE inline T prelu_bwd_input(T g, T x, T w) {
  const T slope = x > T(0) ? T(1) : w;
  return g * slope;
}
template <typename T> C10_HOST_DEVICE inline T prelu_bwd_weight(T g, T x) {
  const T xg = x * g;
  return x > T(0) ? T(0) : xg;
}

template <typename T> C10_HOST_DEVICE inline T elu_fwd(T x, T alpha) {
  return x <= T(0) ? alpha * std::expm1(x) : x;
}

// float's exp in pieces (cpu/vec_math.h's vector exp; fits by cpu/fit_vec_math.py):
// exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 (Cody-Waite: n kLn2Hi is exact),
// exp(r) = 1 + r + r^2 (kExpC6 r^4 + kExpC5 r^3 + ... + kExpC2) for |r| <= ln(2)/2, fit error
// 2.0e-9 relative.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;          // ln 2, upper 16 bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860682030941723212e-6f;  // ln 2 - kLn2Hi
constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: x + kRound rounds x to an integer
constexpr float kExpC6 = 1.38436537e-3f, kExpC5 = 8.37415550e-3f, kExpC4 = 4.16680016e-2f,
                kExpC3 = 1.66664317e-1f, kExpC2 = 4.99999940e-1f;

// g * alpha * exp(x) for float x <= 0 (ELU's float backward: CUDA's, and the CPU's fused
// bias_act tails), rounded twice, by the steps of cpu/vec_math.h's vector form (NOTES §62):
// exp(r) = 1 + p with p = r + r^2 q(r), gh = g * (alpha / 2), gh + gh p in one fma, then
// times 2^(n + 1) (ldexp: rounded once, where the result is subnormal). Where g * alpha *
// exp's result rounds three times: 1.3-2.0 ulp at alpha 0.2-3, against 1.7-4.9. NaN gives
// NaN; x is clamped at -170 (the result then 0 unless |g alpha| >= 2^95).
C10_HOST_DEVICE inline float times_exp_nonpositive(float g, float x, float alpha) {
  if (x != x) return x;
  x = x < -170.0f ? -170.0f : x;
  const float t = std::fma(x, kLog2e, kRound);
  const float n = t - kRound;
  const float r = std::fma(n, -kLn2Lo, std::fma(n, -kLn2Hi, x));
  const float q =
      std::fma(std::fma(std::fma(std::fma(kExpC6, r, kExpC5), r, kExpC4), r, kExpC3), r, kExpC2);
  const float gh = g * (alpha * 0.5f);
  return std::ldexp(std::fma(gh, std::fma(r * r, q, r), gh), static_cast<int>(n) + 1);
}

// d/dx elu(x) = 1 if x > 0 else alpha * exp(x) = y + alpha (from the output y).
// A NaN input gives a NaN gradient (as ATen's vectorized kernel does).
template <typename T> C10_HOST_DEVICE inline T elu_bwd(T g, T x, T alpha) {
  if constexpr (std::is_same_v<T, float>) {
    return x > 0.0f ? g : times_exp_nonpositive(g, x, alpha);
  } else {
    return x > T(0) ? g : g * alpha * std::exp(x);
  }
}
template <typename T> C10_HOST_DEVICE inline T elu_bwd_from_result(T g, T y, T alpha) {
  return y <= T(0) ? g * (y + alpha) : g;
}

// Beyond this |x| both GELU forms are exactly x or 0 and their derivatives
// exactly 1 or 0 in every dtype; the formulas themselves would give inf * 0.
template <typename T> C10_HOST_DEVICE inline T gelu_saturation() { return T(100); }

// erfc(-x / sqrt 2) with the argument's rounding corrected: a = -x/sqrt 2 rounded, d the rest
// (the product's exact residual by fma, plus the rounded constant's own error); erfc(a + d) =
// erfc(a) (1 - R d), R = 2 exp(-a^2) / (sqrt(pi) erfc(a)), taken as 2a (its limit) for a > 0
// and 0 below (where R d is under a tenth of an ulp). Uncorrected, the rounded argument costs
// erfc up to 2a^2 times its relative error: 185 ulp in float near x = -13.
template <typename T> C10_HOST_DEVICE inline T erfc_minus_x_over_sqrt2(T x) {
  constexpr T c = T(M_SQRT1_2);
  constexpr T c_lo = std::is_same_v<T, float> ? T(1.210161710447897e-08)   // 1/sqrt 2 - c
                                              : T(-4.833646656726457e-17);
  const T a = -x * c;
  const T d = std::fma(-x, c, -a) - x * c_lo;
  const T e = std::erfc(a);
  return a > T(0) ? e - e * (T(2) * a * d) : e;
}
// 1 / x: on the GPU in float, the special-function unit's reciprocal (__fdividef: 2 ulp,
// for |x| < 2^126; IEEE division costs several instructions more); exact elsewhere.
template <typename T> C10_HOST_DEVICE inline T fast_rcp(T x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return __fdividef(1.0f, x);
#endif
  return T(1) / x;
}

// For float16 / bfloat16 storage (computed in float), where 11 or 8 significant bits are
// kept: Phi(-|x|) and exp(-x^2 / 2) from one exp, with erfc(z) = t Q(t) exp(-z^2),
// z = |x| / sqrt 2, t = 1 / (1 + z/2), Q a degree-6 polynomial (csrc/fit_gelu_half.py:
// 1.5e-6 relative for z <= 10, beyond which both dtypes' results are 0 or 1). x * x is exact
// for a half value, so exp's argument is too. In all a few 1e-6 relative: under 1/100 of a
// float16 ulp; the tails keep their relative accuracy (ATen's 1 + erf(x / sqrt 2) does not).
template <typename T> C10_HOST_DEVICE inline T gelu_half_tail(T x, T* e) {
  const T z = std::fabs(x) * T(M_SQRT1_2);
  const T t = fast_rcp(T(1) + T(0.5) * z);
  const T q = T(0.282331616) + t * (T(0.277579457) + t * (T(0.281517923) + t * (T(0.0378537513) +
              t * (T(0.389274865) + t * (T(-0.356772453) + t * T(0.0882134661))))));
  *e = std::exp(T(-0.5) * x * x);
  return T(0.5) * t * q;  // Phi(-|x|) = this * e
}
template <typename T> C10_HOST_DEVICE inline T gelu_half_fwd(T x) {
  if (x < -gelu_saturation<T>()) return T(0);
  T e;
  const T tail = gelu_half_tail(x, &e) * e;
  return x * (x < T(0) ? tail : T(1) - tail);
}

// gelu(x) = x * Phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2: the same function as ATen's
// (1 + erf(x / sqrt(2))) / 2, without its cancellation for x < 0 (relative accuracy in
// the tail, where 1 + erf(...) loses every digit).
template <typename T> C10_HOST_DEVICE inline T gelu_fwd(T x) {
  if (x < -gelu_saturation<T>()) return T(0);
  return T(0.5) * x * erfc_minus_x_over_sqrt2(x);
}
// d/dx gelu(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi); x^2 = h + l
// exactly (fma), exp(-x^2/2) = exp(-h/2) (1 - l/2).
//
// In float on CUDA, near GELU's minimum x0 = -0.75179152..., where gelu'(x0) = 0, Phi(x) and
// x phi(x) cancel and the few-ulp errors of erfcf and expf dominate the small difference
// (9.8e6 ulp measured on an H200 at x = -0.7517916; ATen's worst, in its left tail, 5.4e5:
// benchmarks/NOTES.md §46). Within 1/32 of x0 the derivative is its Taylor series in
// t = x - x0: x + 0.75179154 is exact (Sterbenz), less x0's own rounding error; five terms,
// truncated 2e-9 relative at most; outside, the cancellation should cost ~100 ulp at most.
// kHalf: float16 / bfloat16 storage, Phi(x) + x phi(x) from gelu_half_tail (above):
//   x < 0: e (h + x c),  x >= 0: 1 + e (x c - h),  h = Phi(-|x|) / e, c = 1 / sqrt(2 pi).
template <typename T, bool kHalf = false> C10_HOST_DEVICE inline T gelu_bwd(T g, T x) {
  if (x < -gelu_saturation<T>()) return g * T(0);
  if (x > gelu_saturation<T>()) return g;
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    const float t = (x + 0.7517915368080139f) - 1.211444945855772e-08f;
    if (fabsf(t) < 0.03125f) {
      return g * (t * (0.43149399231404692f +
                       t * (0.388284982990552f +
                            t * (-0.018199676398671087f +
                                 t * (-0.11400823329722171f + t * -0.014771522148244338f)))));
    }
  }
#endif
  if constexpr (kHalf) {
    T e;
    const T h = gelu_half_tail(x, &e);
    const T xc = x * T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
    return g * (x < T(0) ? e * (h + xc) : T(1) + e * (xc - h));
  }
  const T cdf = T(0.5) * erfc_minus_x_over_sqrt2(x);
  const T h = x * x;
  const T l = std::fma(x, x, -h);
  const T pdf = std::exp(T(-0.5) * h) * (T(1) - T(0.5) * l) * T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
  return g * (cdf + x * pdf);
}

// gelu_tanh(x) = x/2 * (1 + tanh(u)), u = sqrt(2/pi) * (x + 0.044715 x^3), computed as
// x * s, s = (1 + tanh u)/2 = sigmoid(2u) = e / (1 + e), e = exp(2u): the same function,
// accurate in both tails (1 + tanh(u) cancels for u << 0), one exp instead of a tanh.
// 2u is capped at 80 (s = 1 in every dtype beyond); r = 1 - s = 1 / (1 + e), and s is
// taken as e * r for u <= 0, 1 - r for u > 0, so it cancels in neither tail.
template <typename T> C10_HOST_DEVICE inline T gelu_tanh_sigmoid(T x, T* r) {
  const T u2 = T(M_SQRT2 * M_2_SQRTPI) * (x + T(0.044715) * x * x * x);
  const T e = std::exp(u2 < T(80) ? u2 : T(80));
  *r = fast_rcp(T(1) + e);  // 1 + e < 2^126
  return u2 > T(0) ? T(1) - *r : e * *r;
}
template <typename T> C10_HOST_DEVICE inline T gelu_tanh_fwd(T x) {
  if (x < -gelu_saturation<T>()) return T(0);
  T r;
  return x * gelu_tanh_sigmoid(x, &r);
}
// d/dx gelu_tanh(x) = (1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2),
// t = tanh(u); with s = (1 + t)/2 and 1 - s = r, (1 - t^2)/2 = 2 s r:
//   = s * (1 + 2x * r * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)).
template <typename T> C10_HOST_DEVICE inline T gelu_tanh_bwd(T g, T x) {
  if (x < -gelu_saturation<T>()) return g * T(0);
  if (x > gelu_saturation<T>()) return g;
  T r;
  const T s = gelu_tanh_sigmoid(x, &r);
  const T du = T(M_SQRT2 * M_2_SQRTPI * 0.5) * (T(1) + T(3 * 0.044715) * x * x);
  return g * (s * (T(1) + T(2) * x * r * du));
}

// ------------------------------------------------ fused bias + activation --

// The activation's value and gradient factor at z = x + bias (p: slope, alpha or PReLU's
// weight), for the fused kernels; the formulas are the activations' own, above. kHalf:
// float16 / bfloat16 storage (computed in float), where the exact GELU takes its cheaper
// steps (gelu_half_fwd, gelu_bwd<T, true>); CUDA's kernels choose it by storage type
// (cuda/loops.cuh: act_fwd_stored, act_bwd_stored).
template <Act A, bool kHalf = false, typename T>
C10_HOST_DEVICE inline T act_fwd(T z, T p) {
  if constexpr (A == Act::kRelu) return relu_fwd(z);
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return leaky_relu_fwd(z, p);
  if constexpr (A == Act::kElu) return elu_fwd(z, p);
  if constexpr (A == Act::kGelu) return kHalf ? gelu_half_fwd(z) : gelu_fwd(z);
  if constexpr (A == Act::kGeluTanh) return gelu_tanh_fwd(z);
}
template <Act A, bool kHalf = false, typename T>
C10_HOST_DEVICE inline T act_bwd(T g, T z, T p) {
  if constexpr (A == Act::kRelu) return relu_bwd(g, z);  // relu'(z) = (z > 0), as from y
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return leaky_relu_bwd(g, z, p);
  if constexpr (A == Act::kElu) return elu_bwd(g, z, p);
  if constexpr (A == Act::kGelu) return gelu_bwd<T, kHalf>(g, z);
  if constexpr (A == Act::kGeluTanh) return gelu_tanh_bwd(g, z);
}

}  // namespace relu_ext

// Dispatch on the four supported floating dtypes.
#define RELU_EXT_DISPATCH(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
