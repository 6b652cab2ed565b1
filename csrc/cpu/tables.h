// Tabulated functions of the half types: a bfloat16 or float16 argument takes one of 65536
// values, so a function of one of them can be computed once for every value, in double and
// rounded once, and looked up. A gather reads 16 entries an instruction on AVX-512, 8 on AVX2:
// less work than GELU's or ELU's vector math (their float polynomials), and the values come
// out correctly rounded (benchmarks/NOTES.md §33, §36). The AVX-512 and AVX2 libraries gather
// (kTabulated); the baseline library computes. A table is built on first use (under a
// millisecond, threaded) and kept: a function's values as the type's 16-bit patterns (128 KB),
// its slopes as floats (256 KB) for a backward's g * f'(x) in float, or its values as floats
// (256 KB) where a loop scales them (ELU's alpha: act_vec.h). The loops over them are in
// loops.h (cpu_tabulated_values, cpu_tabulated_floats, cpu_tabulated_slopes); lookup_vec and
// gather_scaled serve others.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/util/bit_cast.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace relu_ext {

// Whether this library looks up functions of scalar_t (a half type, on AVX-512 and AVX2).
template <typename scalar_t>
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
constexpr bool kTabulated = sizeof(scalar_t) == 2;
#else
constexpr bool kTabulated = false;
#endif

template <typename scalar_t>
inline scalar_t from_bits(uint16_t b) {
  return scalar_t(b, scalar_t::from_bits());
}

// v rounded to float to odd (a float that is not exact has its last bit set): a second
// rounding, to a type of at most 22 significant bits, then creates no tie, so it rounds v
// correctly.
inline float round_to_odd(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) != v && std::isfinite(f) && (c10::bit_cast<uint32_t>(f) & 1u) == 0) {
    f = std::nextafter(f, v > f ? INFINITY : -INFINITY);
  }
  return f;
}

// v rounded once to scalar_t (nearest, ties to even), as its pattern.
template <typename scalar_t>
inline uint16_t round_to_bits(double v) {
  return static_cast<scalar_t>(round_to_odd(v)).x;
}

// While it lives, this thread's floating-point arithmetic keeps subnormal numbers (x86: the
// MXCSR's flush-to-zero and denormals-are-zero bits cleared, then restored), whatever
// torch.set_flush_denormal set: a table outlives the mode it was built in, so it is built
// to IEEE 754.
class KeepSubnormals {
 public:
#if defined(__SSE2__)
  KeepSubnormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ & ~(kFlushToZero | kDenormalsAreZero));
  }
  ~KeepSubnormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

// t[i] = convert(f(x)) for x the scalar_t of pattern i, threaded (one spare entry: a gather
// of 16-bit entries reads 4 bytes).
template <typename scalar_t, typename T, typename F, typename Convert>
std::vector<T> tabulate(const F& f, const Convert& convert) {
  std::vector<T> t(65536 + 1, T(0));
  at::parallel_for(0, 65536, 4096, [&](int64_t begin, int64_t end) {
    const KeepSubnormals keep{};
    for (int64_t i = begin; i < end; ++i) {
      t[i] = convert(f(static_cast<double>(
          static_cast<float>(from_bits<scalar_t>(static_cast<uint16_t>(i))))));
    }
  });
  return t;
}
template <typename scalar_t, typename F>
std::vector<uint16_t> tabulate_values(const F& f) {
  return tabulate<scalar_t, uint16_t>(f, [](double v) { return round_to_bits<scalar_t>(v); });
}
// tabulate_values' entries widened to float (exactly): for loops that read float entries.
template <typename scalar_t, typename F>
std::vector<float> tabulate_values_as_floats(const F& f) {
  return tabulate<scalar_t, float>(f, [](double v) {
    return static_cast<float>(from_bits<scalar_t>(round_to_bits<scalar_t>(v)));
  });
}
template <typename scalar_t, typename F>
std::vector<float> tabulate_slopes(const F& f) {
  return tabulate<scalar_t, float>(f, [](double v) { return static_cast<float>(v); });
}
// f's values as floats rounded to odd, for loops that scale them in float before rounding
// to scalar_t (ELU's alpha); unscaled, they round correctly.
template <typename scalar_t, typename F>
std::vector<float> tabulate_floats(const F& f) {
  return tabulate<scalar_t, float>(f, [](double v) { return round_to_odd(v); });
}

// The gathers, in at::vec's float vectors (VF: 16 lanes on AVX-512, 8 on AVX2) and their
// 32-bit index vectors (GatherIndex).
#if defined(CPU_CAPABILITY_AVX512)
using GatherIndex = __m512i;
// The VF::size() patterns at p widened to 32-bit gather indices.
inline GatherIndex table_index(const uint16_t* p) {
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// k + 65536 in the lanes whose bit of bits is set (lane j: bit j)
inline GatherIndex add_second_half(GatherIndex k, uint32_t bits) {
  return _mm512_mask_add_epi32(k, static_cast<__mmask16>(bits), k, _mm512_set1_epi32(65536));
}
inline __m512 gather_floats(GatherIndex k, const float* table) {
  return _mm512_i32gather_ps(k, table, 4);
}

// The tabulated values (tabulate_values) at the 32 patterns of a, as 32 patterns.
inline __m512i gather_values(__m512i a, const uint16_t* values) {
  const __m512i lo =
      _mm512_i32gather_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(a)), values, 2);
  const __m512i hi =
      _mm512_i32gather_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(a, 1)), values, 2);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                            _mm512_cvtepi32_epi16(hi), 1);
}

// scaled_lookup (below) at VF::size() patterns k (32-bit lanes): the float entries, times
// scale where x is not positive (k outside [1, pattern of +inf]); kScale false: scale is 1,
// left out.
template <typename scalar_t, bool kScale>
inline __m512 scale_entries(GatherIndex k, __m512 e, __m512 scale) {
  if constexpr (!kScale) return e;
  const __mmask16 positive =
      _mm512_cmplt_epu32_mask(_mm512_sub_epi32(k, _mm512_set1_epi32(1)),
                              _mm512_set1_epi32(std::numeric_limits<scalar_t>::infinity().x));
  return _mm512_mask_mul_ps(e, _knot_mask16(positive), e, scale);
}
#elif defined(CPU_CAPABILITY_AVX2)
using GatherIndex = __m256i;
inline GatherIndex table_index(const uint16_t* p) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline GatherIndex add_second_half(GatherIndex k, uint32_t bits) {
  // lane j all ones where bit j of bits is set: bits masked by each lane's own bit, compared
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_cmpeq_epi32(
      _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits & 0xFF)), lane_bit), lane_bit);
  return _mm256_add_epi32(k, _mm256_and_si256(set, _mm256_set1_epi32(65536)));
}
inline __m256 gather_floats(GatherIndex k, const float* table) {
  return _mm256_i32gather_ps(table, k, 4);
}

// The tabulated values at the 16 patterns of a, as 16 patterns: two gathers of 32-bit words at
// the 16-bit entries (the low half of each is the entry), packed back to 16 bits (packus
// works within 128-bit halves: the permute restores the order).
inline __m256i gather_values(__m256i a, const uint16_t* values) {
  const auto* base = reinterpret_cast<const int*>(values);
  const __m256i mask = _mm256_set1_epi32(0xFFFF);
  const __m256i lo = _mm256_and_si256(
      _mm256_i32gather_epi32(base, _mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)), 2), mask);
  const __m256i hi = _mm256_and_si256(
      _mm256_i32gather_epi32(base, _mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1)), 2),
      mask);
  return _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
}

// as on AVX-512: k is positive where 1 <= k <= the pattern of +inf (k < 65536: signed
// compares serve)
template <typename scalar_t, bool kScale>
inline __m256 scale_entries(GatherIndex k, __m256 e, __m256 scale) {
  if constexpr (!kScale) return e;
  const __m256i positive = _mm256_andnot_si256(
      _mm256_cmpgt_epi32(k, _mm256_set1_epi32(std::numeric_limits<scalar_t>::infinity().x)),
      _mm256_cmpgt_epi32(k, _mm256_setzero_si256()));
  return _mm256_blendv_ps(_mm256_mul_ps(e, scale), e, _mm256_castsi256_ps(positive));
}
#endif

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// The float entries at the patterns k, gathered, times scale where x is not positive.
template <typename scalar_t, bool kScale, typename VFRaw>
inline VFRaw gather_scaled(GatherIndex k, const float* table, VFRaw scale) {
  return scale_entries<scalar_t, kScale>(k, gather_floats(k, table), scale);
}

// gather_floats(table_index(p), table) by scalar loads into a buffer loaded as a vector: on
// the CPUs whose gathers are slow (slow_gathers(), cpu_choices.h; on Zen 4 0.24 ns an element
// against the gather's 0.37, one thread, in L1: benchmarks/NOTES.md §55).
inline at::vec::Vectorized<float> lookup_floats(const uint16_t* p, const float* table) {
  using VF = at::vec::Vectorized<float>;
  alignas(64) float lanes[VF::size()];
  for (int k = 0; k < VF::size(); ++k) lanes[k] = table[p[k]];
  return VF::loadu(lanes);
}
#endif

// The tabulated values (tabulate_values) at x, float lanes that hold scalar_t values exactly
// (widened from scalar_t), as float lanes: for loops that compute in float vectors. (Lane by
// lane in the baseline library, which tabulates nothing.)
template <typename scalar_t>
inline at::vec::Vectorized<float> lookup_vec(const at::vec::Vectorized<float>& x,
                                             const uint16_t* values) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    const __m512i i = _mm512_srli_epi32(_mm512_castps_si512(x), 16);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_i32gather_epi32(i, values, 2), 16));
  } else {
    const __m512i i = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(i, values, 2)));
  }
#elif defined(CPU_CAPABILITY_AVX2)
  const auto* base = reinterpret_cast<const int*>(values);
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    const __m256i i = _mm256_srli_epi32(_mm256_castps_si256(x), 16);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_i32gather_epi32(base, i, 2), 16));
  } else {  // the low 16 bits of each gathered word, packed (the upper half's lanes unused)
    const __m256i i = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    const __m256i e =
        _mm256_and_si256(_mm256_i32gather_epi32(base, i, 2), _mm256_set1_epi32(0xFFFF));
    return _mm256_cvtph_ps(_mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_packus_epi32(e, e), 0xD8)));
  }
#else
  using V = at::vec::Vectorized<float>;
  float lanes[V::size()];
  x.store(lanes);
  for (float& v : lanes) v = static_cast<float>(from_bits<scalar_t>(values[scalar_t(v).x]));
  return V::loadu(lanes);
#endif
}

// A float table's entry at x (a scalar_t value, in float), times scale where x is not positive
// (x <= 0 or NaN: ELU's alpha, act_vec.h; GELU's slopes take scale 1). gather_scaled above
// is its vector form, cpu_tabulated_floats and cpu_tabulated_slopes (loops.h) its loops.
template <typename scalar_t>
inline float scaled_lookup(float x, const float* table, float scale) {
  const float e = table[scalar_t(x).x];
  return x > 0.0f ? e : e * scale;
}

}  // namespace relu_ext
