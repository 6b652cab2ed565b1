// The CPU elementwise driver shared by every activation: one pass over the
// data, threaded with at::parallel_for, any strides through TensorIterator.
// This file is compiled once per instruction set (setup.py: CPU_CAPABILITY =
// DEFAULT, AVX2, AVX512, and AVX512 again with -mavx512bf16 for the avx512_bf16 library),
// so at::vec::Vectorized is that ISA's vector.
#pragma once

#include <ATen/EmptyTensor.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "../common.h"
#include "cpu_choices.h"
#include "tables.h"
#include "vec_math.h"

namespace relu_ext {

constexpr int64_t kGrainSize = 32768;

// at::empty_like(t) as ATen's own CPU kernels allocate their outputs: straight from the CPU
// allocator, in t's strides when t is non-overlapping and dense. at::empty_like goes through
// the dispatcher twice (empty_like, empty_strided), which costs more than the kernel itself
// at small sizes.
inline at::Tensor empty_like_cpu(const at::Tensor& t) {
  if (!t.is_non_overlapping_and_dense()) return at::empty_like(t);
  return at::detail::empty_strided_cpu(t.sizes(), t.strides(), t.scalar_type());
}

// `t` (a gradient) in `like`'s dense layout: itself where it has it, else a copy into it.
inline at::Tensor in_layout_of_cpu(const at::Tensor& t, const at::Tensor& like) {
  return same_dense_layout(like, t) ? t : empty_like_cpu(like).copy_(t);
}

// empty_bitmask (common.h) on the CPU, allocated as empty_like_cpu.
inline at::Tensor empty_bitmask_cpu(const at::Tensor& like) {
  return at::detail::empty_cpu({bitmask_bytes(like.numel())}, at::kByte);
}

// On the loops below: everything they call (the activation's lambdas, its vector math) is
// inlined into them. Left to itself the compiler kept some activations' vector lambdas out of
// line, a call per vector (tanh-GELU's forward: 15% slower). Not where vec_math.h forces
// no inlining.
#if RELU_EXT_FORCED_INLINE
#define RELU_EXT_FLATTEN __attribute__((flatten))
#else
#define RELU_EXT_FLATTEN
#endif

// Two float vectors narrowed to one half-type vector (lo in the low lanes), rounded to
// nearest even. The AVX512-BF16 library (setup.py: avx512_bf16) narrows to bfloat16 in one
// instruction, which flushes subnormal floats to zero: a pair holding one (rare) takes
// at::vec's conversion instead, which keeps them.
#if defined(__AVX512BF16__)
constexpr int kFpclassSubnormal = 0x20;  // vfpclassps's category bit for subnormal inputs
#endif
template <typename scalar_t>
inline at::vec::Vectorized<scalar_t> narrow(const at::vec::Vectorized<float>& lo,
                                            const at::vec::Vectorized<float>& hi) {
#if defined(__AVX512BF16__)
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    if (C10_LIKELY((_mm512_fpclass_ps_mask(lo, kFpclassSubnormal) |
                    _mm512_fpclass_ps_mask(hi, kFpclassSubnormal)) == 0)) {
      return at::vec::Vectorized<scalar_t>((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
#endif
  return at::vec::convert_from_float<scalar_t>(lo, hi);
}

// f(i, n) for i = 0, W, 2W, ... below len, n = W but for a partial last step; the full steps
// pass W as a constant, so their loads and stores compile unmasked.
template <int64_t W, typename F>
inline void vec_steps(int64_t len, const F& f) {
  int64_t i = 0;
  for (; i + W <= len; i += W) f(i, W);
  if (i < len) f(i, len - i);
}

// f(i, std::integral_constant<R>, n) for the R = kRows vectors of W lanes at i, i + W, ...
// (each n = W), then single vectors (R = 1), the last one partial (n < W). Independent
// vectors hide the activations' long dependency chains, and in the half types a pair of them
// narrows in one instruction (store_narrow below). For the loops over rows and runs of one
// channel (bias_act.cpp, act_stats.cpp, prelu.cpp).
// Its step functions are lambdas marked RELU_EXT_STEP, always inlined: left to itself gcc
// kept some out of line as a function grew (a call per step, the activation's constants
// reloaded and its vectors through the stack: act_stats's float32 ELU took twice its time,
// benchmarks/NOTES.md §25).
constexpr int64_t kRows = 4;
#if RELU_EXT_FORCED_INLINE
#define RELU_EXT_STEP __attribute__((always_inline))
#else
#define RELU_EXT_STEP
#endif
template <int64_t W, typename F>
RELU_EXT_VEC_INLINE void run_steps(int64_t len, const F& f) {
  int64_t i = 0;
  for (; i + kRows * W <= len; i += kRows * W) f(i, std::integral_constant<int64_t, kRows>{}, W);
  for (; i + W <= len; i += W) f(i, std::integral_constant<int64_t, 1>{}, W);
  if (i < len) f(i, std::integral_constant<int64_t, 1>{}, len - i);
}

namespace detail {

// f(std::bool_constant<b>): a choice made per call, compiled into the loop it selects
template <typename F>
inline void with_flag(bool b, const F& f) {
  if (b) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

// A whole vector of float or double from p: kSplit (AVX-512, where split_loads() holds:
// cpu_choices.h), as two 256-bit loads joined, else one load.
template <bool kSplit, typename T>
RELU_EXT_VEC_INLINE at::vec::Vectorized<T> load_whole(const T* p) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (kSplit && std::is_same_v<T, float>) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p + 8),
                              1);
  } else if constexpr (kSplit && std::is_same_v<T, double>) {
    return _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_loadu_pd(p)), _mm256_loadu_pd(p + 4),
                              1);
  }
#endif
  return at::vec::Vectorized<T>::loadu(p);
}

// run(std::bool_constant<kSplit>): kSplit where split_loads() holds (cpu_choices.h), for loops
// of float or double where kApplies, in the AVX-512 libraries; elsewhere false.
template <bool kApplies, typename Run>
inline void with_split_loads(const Run& run) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (kApplies) return with_flag(split_loads(), run);
#endif
  run(std::false_type{});
}

}  // namespace detail

// ------------------------------------------------- vectors in the compute type --
// For loops that walk the data one Vectorized<opmath_t> at a time, half types widened on load
// and narrowed on store, and a partial vector for the last n < size() elements (lanes past n
// load as 0 and are not stored).

// kSplit: a whole float or double vector loaded in halves (detail::load_whole).
template <bool kSplit = false, typename scalar_t>
inline at::vec::Vectorized<at::opmath_type<scalar_t>> load_wide(const scalar_t* p, int64_t n) {
  if constexpr (std::is_same_v<scalar_t, at::opmath_type<scalar_t>>) {
    if constexpr (kSplit) {
      if (n == at::vec::Vectorized<scalar_t>::size()) return detail::load_whole<true>(p);
    }
    return at::vec::Vectorized<scalar_t>::loadu(p, n);
  } else {
#if defined(CPU_CAPABILITY_AVX512)  // only the half vector it widens (at::vec widens two)
    const __m256i h = _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p);
    if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
      return _mm512_cvtph_ps(h);
    }
#elif defined(CPU_CAPABILITY_AVX2)  // the same: at::vec's 16-lane load of 8 lanes copies them
                                     // through the stack (a stalled store-to-load forward)
    __m128i h;
    if (n == 8) {
      h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    } else {
      alignas(16) uint16_t lanes[8] = {};
      // (n < 8 here; `& 7` lets gcc see it, which otherwise warns of a copy past lanes)
      std::memcpy(lanes, p, (n & 7) * sizeof(scalar_t));
      h = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes));
    }
    if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
      return _mm256_cvtph_ps(h);
    }
#else
    return std::get<0>(
        at::vec::convert_to_float<scalar_t>(at::vec::Vectorized<scalar_t>::loadu(p, n)));
#endif
  }
}

// Half types narrowed one float vector at a time (narrow takes two).
template <typename scalar_t>
inline void store_narrow(scalar_t* p, const at::vec::Vectorized<at::opmath_type<scalar_t>>& v,
                         int64_t n) {
  if constexpr (std::is_same_v<scalar_t, at::opmath_type<scalar_t>>) {
    v.store(p, n);
  } else {
#if defined(CPU_CAPABILITY_AVX512)
    __m256i h;
    if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
#if defined(__AVX512BF16__)
      h = C10_LIKELY(_mm512_fpclass_ps_mask(v, kFpclassSubnormal) == 0)
              ? (__m256i)_mm512_cvtneps_pbh(v)
              : at::vec::cvtfp32_bf16(v);
#else
      h = at::vec::cvtfp32_bf16(v);
#endif
    } else {
      h = at::vec::cvtfp32_fp16(v);
    }
    _mm256_mask_storeu_epi16(p, static_cast<__mmask16>((1u << n) - 1), h);
#elif defined(CPU_CAPABILITY_AVX2)
    __m128i h;
    if constexpr (std::is_same_v<scalar_t, at::BFloat16>) h = at::vec::cvtfp32_bf16(v);
    else h = at::vec::cvtfp32_fp16(v);
    if (n == 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
    } else {
      alignas(16) uint16_t lanes[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes), h);
      std::memcpy(p, lanes, n * sizeof(scalar_t));
    }
#else
    narrow<scalar_t>(v, v).store(p, n);
#endif
  }
}

// R vectors for consecutive elements from p on (n of each stored); in whole steps (R even,
// n a full vector) half types are narrowed two at a time, as flat_vec_loop does.
template <typename scalar_t, int64_t R>
inline void store_narrow(scalar_t* p, const at::vec::Vectorized<at::opmath_type<scalar_t>> (&v)[R],
                         int64_t n) {
  constexpr int64_t W = at::vec::Vectorized<at::opmath_type<scalar_t>>::size();
  if constexpr (R % 2 == 0 && !std::is_same_v<scalar_t, at::opmath_type<scalar_t>>) {
    for (int64_t k = 0; k < R; k += 2) narrow<scalar_t>(v[k], v[k + 1]).store(p + k * W);
  } else {
    for (int64_t k = 0; k < R; ++k) store_narrow(p + k * W, v[k], n);
  }
}

namespace detail {

template <typename scalar_t, typename Op, size_t... I>
RELU_EXT_FLATTEN inline void strided_loop(char** data, const int64_t* strides, int64_t n,
                                          const Op& op, std::index_sequence<I...>) {
  using opmath_t = at::opmath_type<scalar_t>;
  const bool contiguous =
      strides[0] == sizeof(scalar_t) && ((strides[I + 1] == sizeof(scalar_t)) && ...);
  if (contiguous) {
    auto* o = reinterpret_cast<scalar_t*>(data[0]);
    for (int64_t i = 0; i < n; ++i) {
      o[i] = static_cast<scalar_t>(
          op(static_cast<opmath_t>(reinterpret_cast<const scalar_t*>(data[I + 1])[i])...));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      *reinterpret_cast<scalar_t*>(data[0] + i * strides[0]) = static_cast<scalar_t>(op(
          static_cast<opmath_t>(
              *reinterpret_cast<const scalar_t*>(data[I + 1] + i * strides[I + 1]))...));
    }
  }
}

// The pointers and the ops' closures are taken by value, so they live in registers: read
// through a reference, every store to the output (which may alias anything under
// -fno-strict-aliasing) would make the compiler load them again.
template <typename scalar_t, typename Op, size_t N, size_t... I>
RELU_EXT_FLATTEN inline void flat_loop(scalar_t* o, const std::array<const scalar_t*, N> in,
                                       int64_t begin, int64_t end, const Op op,
                                       std::index_sequence<I...>) {
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t i = begin; i < end; ++i) {
    o[i] = static_cast<scalar_t>(op(static_cast<opmath_t>(in[I][i])...));
  }
}

// The dense loop with a vector op: vop takes and returns Vectorized<opmath_t>
// (half types widened to two float vectors); op finishes the tail.
// kSplit: float and double vectors loaded as two halves (load_whole).
template <typename scalar_t, bool kSplit = false, typename Op, typename VOp, size_t N,
          size_t... I>
RELU_EXT_FLATTEN inline void flat_vec_loop(scalar_t* o, const std::array<const scalar_t*, N> in,
                                           int64_t begin, int64_t end, const Op op,
                                           const VOp vop, std::index_sequence<I...>) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<scalar_t>;
  int64_t i = begin;
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    // Four independent vectors per step (as the half-type path below): their math
    // interleaves, which the long dependency chains of exp and the normal tail need.
    for (; i + 4 * Vec::size() <= end; i += 4 * Vec::size()) {
      const Vec a = vop(load_whole<kSplit>(in[I] + i)...);
      const Vec b = vop(load_whole<kSplit>(in[I] + i + Vec::size())...);
      const Vec c = vop(load_whole<kSplit>(in[I] + i + 2 * Vec::size())...);
      const Vec d = vop(load_whole<kSplit>(in[I] + i + 3 * Vec::size())...);
      a.store(o + i);
      b.store(o + i + Vec::size());
      c.store(o + i + 2 * Vec::size());
      d.store(o + i + 3 * Vec::size());
    }
    for (; i + Vec::size() <= end; i += Vec::size()) {
      vop(load_whole<kSplit>(in[I] + i)...).store(o + i);
    }
  } else {
    using Wide = std::array<std::tuple<at::vec::Vectorized<float>, at::vec::Vectorized<float>>, N>;
    // Two half vectors (four float vectors) per step: independent work to interleave.
    for (; i + 2 * Vec::size() <= end; i += 2 * Vec::size()) {
      const Wide a = {at::vec::convert_to_float<scalar_t>(Vec::loadu(in[I] + i))...};
      const Wide b = {at::vec::convert_to_float<scalar_t>(Vec::loadu(in[I] + i + Vec::size()))...};
      narrow<scalar_t>(vop(std::get<0>(a[I])...), vop(std::get<1>(a[I])...))
          .store(o + i);
      narrow<scalar_t>(vop(std::get<0>(b[I])...), vop(std::get<1>(b[I])...))
          .store(o + i + Vec::size());
    }
    for (; i + Vec::size() <= end; i += Vec::size()) {
      const Wide a = {at::vec::convert_to_float<scalar_t>(Vec::loadu(in[I] + i))...};
      narrow<scalar_t>(vop(std::get<0>(a[I])...), vop(std::get<1>(a[I])...))
          .store(o + i);
    }
  }
  // The last, partial vector(s): the same vector math, so that each element's value depends
  // on neither its position nor the loop (the mask-writing forwards' loops give the same).
  (void)op;
  vec_steps<at::vec::Vectorized<opmath_t>::size()>(end - i, [&](int64_t j, int64_t n) {
    store_narrow(o + i + j, vop(load_wide(in[I] + i + j, n)...), n);
  });
}

// ------------------------------------------------------ streaming stores --
// An output that, with its inputs, moves more bytes than the last-level cache holds is written
// with streaming (non-temporal) stores, as memcpy writes large copies: a normal store first
// reads the line it writes into the cache (a third memory stream for a two-stream op), and the
// output would leave the cache before anything read it anyway. Each thread computes 512-byte
// blocks into a buffer in L1 and streams each out at once (benchmarks/NOTES.md §15).

// Ops moving more bytes than this stream their output: the last-level cache's size, from
// sysfs (glibc's sysconf is no help: on some AMD virtual machines it reports ten times the real
// L3), at most kMaxCacheShare; 0 where unknown (no streaming). RELU_EXT_STREAMING_BYTES
// overrides it (0: never; the tests set it low to cover the streamed loops on any machine).
// The cap: a large L3 is shared with the rest of the host. A two-CPU virtual machine on an
// Intel Xeon reporting 480 MB of L3 ran 64 MB float32 tensors 1.3-1.75x faster streamed
// (relu, PReLU and ELU, forward and backward; NOTES §27); on Zen 4 the L3 (32 MB) is the cap.
// That is the op timed alone: on an Intel Xeon whose L3 kept the data, an op then a sum of its
// output ran 13-26% faster unstreamed (16M forwards, 4M backwards; NOTES §66).
constexpr int64_t kMaxCacheShare = int64_t{32} << 20;
inline int64_t streaming_threshold_bytes() {
  static const int64_t bytes = []() -> int64_t {
    if (const char* env = std::getenv("RELU_EXT_STREAMING_BYTES")) return std::atoll(env);
    int64_t best_level = 0, size = 0;
    for (int i = 0; i < 8; ++i) {
      const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i);
      std::ifstream level_file(dir + "/level"), size_file(dir + "/size");
      int64_t level = 0, kb = 0;
      std::string unit;
      if (!(level_file >> level) || !(size_file >> kb >> unit) || unit != "K") continue;
      if (level > best_level) best_level = level, size = kb * 1024;
    }
    return std::min(size, kMaxCacheShare);
  }();
  return bytes;
}

// AVX-512 streams a whole 64-byte line per store. Two 32-byte halves (as AVX2 must) measured,
// on Zen 4 under a busy neighbour, up to 3x slower in the loops with much arithmetic per
// element (ELU and GELU backward; presumably a line's halves then leave the write-combining
// buffer apart; benchmarks/NOTES.md §20).
#if defined(CPU_CAPABILITY_AVX512)
constexpr int64_t kStreamBytes = 64;  // one vmovntdq zmm: a whole line
inline void stream_store(char* dst, const char* src) {
  _mm512_stream_si512(reinterpret_cast<__m512i*>(dst),
                      _mm512_loadu_si512(reinterpret_cast<const __m512i*>(src)));
}
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int64_t kStreamBytes = 32;  // one vmovntdq ymm
inline void stream_store(char* dst, const char* src) {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
}
#elif defined(__SSE2__)
constexpr int64_t kStreamBytes = 16;
inline void stream_store(char* dst, const char* src) {
  _mm_stream_si128(reinterpret_cast<__m128i*>(dst),
                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
}
#else
constexpr int64_t kStreamBytes = 0;  // no streaming stores
#endif

// Whether an op reading the inputs `in` (`numel` elements each) into o streams o: when they
// move more bytes than the threshold and o is none of them (in place, a line read is already
// in the cache).
template <typename scalar_t, size_t N>
inline bool use_streaming(const scalar_t* o, const std::array<const scalar_t*, N>& in,
                          int64_t numel) {
  const int64_t threshold = streaming_threshold_bytes();
  return kStreamBytes > 0 && threshold > 0 &&
         numel * int64_t(sizeof(scalar_t)) * int64_t(N + 1) > threshold &&
         std::find(in.begin(), in.end(), o) == in.end();
}

// The inputs' lines kPrefetchBytes past element i of each (arrays indexed as the output is),
// fetched into L1 ahead of use. The hardware prefetchers alone kept ahead of relu, but not of
// the kernels with arithmetic per element: at 16M float32 elements (two threads, the Intel
// Xeon of NOTES §35) GELU's backward took 8.1 ms and ran in 6.3 with this, ELU's 5.9 and 4.8,
// GELU's forward 5.2 and 3.7; relu's backward the same (4.8). 1-3 KB ahead measured alike;
// the tensors that fit the cache (4M) gained nothing and lost nothing.
constexpr int64_t kPrefetchBytes = 2048;
template <typename T, size_t N>
inline void prefetch_ahead(const std::array<const T*, N>& in, int64_t i, int64_t bytes) {
  for (const T* p : in) {  // addresses as integers: they may lie past the array's end
    const uintptr_t a = reinterpret_cast<uintptr_t>(p + i) + kPrefetchBytes;
    for (int64_t b = 0; b < bytes; b += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(a + b), 0, 3);
    }
  }
}

// streamed's head and tail (under a block each; or, rarely, a range of misaligned elements):
// compute out of line, one copy of it for both rather than one inlined at each (act_stats.cpp
// compiled 18% faster; they run at most twice a task).
template <typename scalar_t, typename Compute>
__attribute__((noinline)) RELU_EXT_FLATTEN void compute_piece(scalar_t* o, int64_t first,
                                                              int64_t count,
                                                              const Compute& compute) {
  compute(o + first, first, count);
}

// compute(dst, first, count) writes elements [first, first + count) to dst[0, count); this
// runs it over [begin, end) of o: an unaligned head straight to o, then 512-byte blocks
// through an L1 buffer streamed to o (larger blocks measured slower: the stores come in
// bursts), then the tail straight to o. prefetch: the inputs (of o's element size, indexed as
// o is) to fetch ahead of each block.
template <typename scalar_t, size_t N, typename Compute>
RELU_EXT_FLATTEN inline void streamed(scalar_t* o, int64_t begin, int64_t end,
                                       const std::array<const scalar_t*, N>& prefetch,
                                       const Compute& compute) {
  constexpr int64_t kBlock = 512 / sizeof(scalar_t);
  int64_t i = begin;
  if constexpr (kStreamBytes > 0) {
    const auto misalign = reinterpret_cast<uintptr_t>(o + begin) % kStreamBytes;
    if (misalign % sizeof(scalar_t) == 0) {  // else (a misaligned element) no streaming
      const int64_t head = std::min<int64_t>(
          end - begin, misalign == 0 ? 0 : (kStreamBytes - misalign) / sizeof(scalar_t));
      if (head > 0) compute_piece(o, begin, head, compute);
      i += head;
      alignas(64) char buf[kBlock * sizeof(scalar_t)];
      for (; i + kBlock <= end; i += kBlock) {
        prefetch_ahead(prefetch, i, sizeof(buf));
        compute(reinterpret_cast<scalar_t*>(buf), i, kBlock);
        char* dst = reinterpret_cast<char*>(o + i);
        for (size_t b = 0; b < sizeof(buf); b += kStreamBytes) stream_store(dst + b, buf + b);
      }
      _mm_sfence();  // streaming stores are weakly ordered: visible before the join
    }
  }
  if (i < end) compute_piece(o, i, end - i, compute);
}

// compute(dst, first, count) over [begin, end) of o: through streamed when stream is set
// (prefetching the inputs `prefetch`), else in one call straight to o.
template <typename scalar_t, size_t N, typename Compute>
inline void write_range(bool stream, scalar_t* o, int64_t begin, int64_t end,
                        const std::array<const scalar_t*, N>& prefetch, const Compute& compute) {
  if (stream) return streamed(o, begin, end, prefetch, compute);
  compute(o + begin, begin, end - begin);
}

// The input pointers advanced by `first` elements.
template <typename scalar_t, size_t N>
inline std::array<const scalar_t*, N> advanced(std::array<const scalar_t*, N> in, int64_t first) {
  for (auto& p : in) p += first;
  return in;
}

// One thread's part [begin, end) of parallel_dense: loop(o, in, begin, end), streamed or not.
template <bool kPrefetch, typename scalar_t, size_t N, typename Loop>
inline __attribute__((always_inline)) void dense_chunk(bool stream, scalar_t* o,
                                     const std::array<const scalar_t*, N>& in, int64_t begin,
                                     int64_t end, const Loop& loop) {
  if (!stream) return loop(o, in, begin, end);
  const auto compute = [&](scalar_t* dst, int64_t first, int64_t count) {
    loop(dst, advanced(in, first), 0, count);
  };
  if constexpr (kPrefetch) {
    streamed(o, begin, end, in, compute);
  } else {
    streamed(o, begin, end, std::array<const scalar_t*, 0>{}, compute);
  }
}

// loop(o, in, begin, end) over [0, numel), threaded; streamed when use_streaming says so.
// (The compiler's float loops once ran in 256-bit vectors on AVX-512, measured 3-12% faster at
// 4M-16M elements before the streaming stores; with them, no faster there, and 20-45% slower
// at 32K-1M elements, in or near the cache: benchmarks/NOTES.md §15, §25.) kPrefetch: the
// inputs prefetched ahead of each streamed block (prefetch_ahead), but for loops of gathers
// from a table, which lost 4-7% by it (the half types' forwards by table lookup, 16M), and
// relu's backward and the float32 / float64 forwards of relu and leaky_relu (§42).
template <bool kPrefetch = true, typename scalar_t, size_t N, typename Loop>
inline void parallel_dense(scalar_t* o, const std::array<const scalar_t*, N>& in, int64_t numel,
                           const Loop& loop) {
  const bool stream = use_streaming(o, in, numel);
  at::parallel_for(0, numel, kGrainSize, [&](int64_t begin, int64_t end) RELU_EXT_FLATTEN {
    dense_chunk<kPrefetch>(stream, o, in, begin, end, loop);
  });
}

// Dense tensors (same_dense_layout), threaded: op on elements read as T, which is their type
// or one of the same size. kPrefetch: as parallel_dense's.
template <typename T, bool kPrefetch = true, typename Op, typename... Ts>
void dense_elementwise(const at::Tensor& out, const Op& op, const Ts&... ins) {
  T* o = static_cast<T*>(out.data_ptr());
  const std::array<const T*, sizeof...(Ts)> in = {static_cast<const T*>(ins.const_data_ptr())...};
  parallel_dense<kPrefetch>(o, in, out.numel(), [&](T* dst, auto src, int64_t begin, int64_t end) {
    flat_loop<T>(dst, src, begin, end, op, std::index_sequence_for<Ts...>{});
  });
}

// Any layout, through TensorIterator (broadcast and overlapping-output checks included).
template <typename scalar_t, typename Op, typename... Ts>
void strided_elementwise(const at::Tensor& out, const Op& op, const Ts&... ins) {
  at::TensorIteratorConfig config;
  config.add_output(out);
  (config.add_const_input(ins), ...);
  auto iter = config.build();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t n) {
        strided_loop<scalar_t>(data, strides, n, op, std::index_sequence_for<Ts...>{});
      },
      kGrainSize);
}

}  // namespace detail

// out[i] = op(ins[i]...), op taking and returning the compute type
// (float for half/bfloat16). `out` is allocated by the caller; it may be one
// of the inputs (in-place), never a partial overlap of one (that raises).
// For float and double: the compiler vectorizes op. Not for the half types' dense loops:
// c10::Half's scalar conversions do not vectorize (about 6 ns an element); they take
// cpu_elementwise_vec or cpu_elementwise_patterns.
// kPrefetch: as detail::parallel_dense's.
template <typename scalar_t, bool kPrefetch = true, typename Op, typename... Ts>
void cpu_elementwise(const at::Tensor& out, const Op& op, const Ts&... ins) {
  if (out.numel() == 0) return;
  if (same_dense_layout(out, ins...)) {
    return detail::dense_elementwise<scalar_t, kPrefetch>(out, op, ins...);
  }
  detail::strided_elementwise<scalar_t>(out, op, ins...);
}

// As cpu_elementwise, for an op that needs no arithmetic on a half type: on dense tensors
// bits_op runs on the elements' 16-bit patterns (int16_t in, int16_t out; the compiler
// vectorizes it 32 elements to a 512-bit vector, with no widening to float and back); other
// layouts run op. kPrefetch: as detail::parallel_dense's.
template <typename scalar_t, bool kPrefetch = true, typename Op, typename BitsOp, typename... Ts>
void cpu_elementwise_patterns(const at::Tensor& out, const Op& op, const BitsOp& bits_op,
                              const Ts&... ins) {
  static_assert(sizeof(scalar_t) == 2);
  if (out.numel() == 0) return;
  if (same_dense_layout(out, ins...)) {
    return detail::dense_elementwise<int16_t, kPrefetch>(out, bits_op, ins...);
  }
  detail::strided_elementwise<scalar_t>(out, op, ins...);
}

// As cpu_elementwise, with a vector version of op (Vectorized<opmath_t> -> same)
// for dense tensors; for ops whose math a compiler does not vectorize by itself
// (exp, erfc, tanh: at::vec uses SLEEF, as ATen does). kPrefetch: as detail::parallel_dense's;
// the float and double loops without it load their vectors in halves where split_loads()
// holds (cpu_choices.h).
template <typename scalar_t, bool kPrefetch = true, typename Op, typename VOp, typename... Ts>
void cpu_elementwise_vec(const at::Tensor& out, const Op& op, const VOp& vop, const Ts&... ins) {
#if RELU_EXT_GENERIC_VEC  // vec_math.h: the scalar op
  (void)vop;
  cpu_elementwise<scalar_t, kPrefetch>(out, op, ins...);
#else
  const int64_t numel = out.numel();
  if (numel == 0) return;
  if (!same_dense_layout(out, ins...)) {
    detail::strided_elementwise<scalar_t>(out, op, ins...);
    return;
  }
  scalar_t* o = out.data_ptr<scalar_t>();
  const std::array<const scalar_t*, sizeof...(Ts)> in = {
      ins.template const_data_ptr<scalar_t>()...};
  const auto run = [&](auto kSplit) {
    detail::parallel_dense<kPrefetch>(o, in, numel, [&](scalar_t* dst, auto src, int64_t begin,
                                                       int64_t end) {
      detail::flat_vec_loop<scalar_t, kSplit>(dst, src, begin, end, op, vop,
                                              std::index_sequence_for<Ts...>{});
    });
  };
  detail::with_split_loads<!kPrefetch && std::is_same_v<scalar_t, at::opmath_type<scalar_t>>>(
      run);
#endif
}

// ------------------------------------------- tabulated functions of the half types --
// (tables.h)

namespace detail {

// o[i] = values[x[i]] for i in [begin, end).
inline void values_loop(uint16_t* o, const uint16_t* x, int64_t begin, int64_t end,
                        const uint16_t* values) {
  int64_t i = begin;
#if defined(CPU_CAPABILITY_AVX512)
  for (; i + 32 <= end; i += 32) {
    _mm512_storeu_si512(o + i, gather_values(_mm512_loadu_si512(x + i), values));
  }
#elif defined(CPU_CAPABILITY_AVX2)
  for (; i + 16 <= end; i += 16) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(o + i),
        gather_values(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), values));
  }
#endif
  for (; i < end; ++i) o[i] = values[x[i]];
}

// GCC 12 warns that the scalar tail's iteration 2^63 - 1 "invokes undefined behavior" where
// this loop is inlined into streamed's 512-byte blocks. A false positive: a block holds a
// whole number of vectors, so there the tail runs no iteration at all, and elsewhere it runs
// fewer than a vector's lanes (i < end bounds it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
// o[i] = e (kGrad: g[i] * e), e = scaled_lookup(x[i], table, scale) (tables.h), in float, for
// i in [begin, end): the gathers indexed by x's patterns as they are (kScalar: scalar loads,
// lookup_floats, where gathers are slow). kScale false: scale is 1, the product left out (the
// same values; on float16 GELU's backward took 5% longer with it).
template <bool kGrad, bool kScale, typename scalar_t, bool kScalar = false>
inline void scaled_loop(scalar_t* o, const scalar_t* g, const scalar_t* x, int64_t begin,
                        int64_t end, const float* table, float scale) {
  int64_t i = begin;
  const auto* xb = reinterpret_cast<const uint16_t*>(x);
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  using Vec = at::vec::Vectorized<scalar_t>;  // 2 * VF::size() lanes
  using VF = at::vec::Vectorized<float>;
  const VF s(scale);
  const auto entries = [&](const uint16_t* p) {
    const GatherIndex k = table_index(p);
    VF e;
    if constexpr (kScalar) {
      e = lookup_floats(p, table);
    } else {
      e = gather_floats(k, table);
    }
    return VF(scale_entries<scalar_t, kScale>(k, e, s));
  };
  for (; i + Vec::size() <= end; i += Vec::size()) {
    VF a = entries(xb + i), b = entries(xb + i + VF::size());
    if constexpr (kGrad) {
      const auto [lo, hi] = at::vec::convert_to_float<scalar_t>(Vec::loadu(g + i));
      a = lo * a;
      b = hi * b;
    }
    narrow<scalar_t>(a, b).store(o + i);
  }
#endif
  for (; i < end; ++i) {
    const float e = scaled_lookup<scalar_t>(static_cast<float>(x[i]), table, scale);
    if constexpr (kGrad) {
      o[i] = static_cast<scalar_t>(static_cast<float>(g[i]) * e);
    } else {
      o[i] = static_cast<scalar_t>(e);
    }
  }
}
#pragma GCC diagnostic pop

}  // namespace detail

// out = f(in), f tabulated (tabulate_values): dense tensors by gathers, other layouts an
// element at a time (the same values).
template <typename scalar_t>
void cpu_tabulated_values(const at::Tensor& out, const std::vector<uint16_t>& values,
                          const at::Tensor& in) {
  static_assert(sizeof(scalar_t) == 2);
  const uint16_t* t = values.data();
  if (out.numel() == 0) return;
  if (!same_dense_layout(out, in)) {
    detail::strided_elementwise<scalar_t>(
        out, [t](float x) { return static_cast<float>(from_bits<scalar_t>(t[scalar_t(x).x])); },
        in);
    return;
  }
  const std::array<const uint16_t*, 1> x = {static_cast<const uint16_t*>(in.const_data_ptr())};
  detail::parallel_dense</*kPrefetch=*/false>(
      static_cast<uint16_t*>(out.data_ptr()), x, out.numel(),
      [t](uint16_t* dst, auto src, int64_t begin, int64_t end) {
        detail::values_loop(dst, src[0], begin, end, t);
      });
}

// out = scaled_lookup(in, table, scale) (tables.h; ELU's forward at alpha != 1, and GELU's
// where gathers are slow, at scale 1): dense tensors by gathers, or by scalar loads with the
// input prefetched where gathers are slow (slow_gathers(); the prefetch took 10% off GELU's
// bfloat16 forward at 16M there, and lost 4-7% with gathers, NOTES §35, §56); other layouts
// an element at a time (the same values).
template <typename scalar_t>
void cpu_tabulated_floats(const at::Tensor& out, const std::vector<float>& table, float scale,
                          const at::Tensor& in) {
  static_assert(sizeof(scalar_t) == 2);
  const float* t = table.data();
  if (out.numel() == 0) return;
  if (!same_dense_layout(out, in)) {
    detail::strided_elementwise<scalar_t>(
        out, [t, scale](float x) { return scaled_lookup<scalar_t>(x, t, scale); }, in);
    return;
  }
  const std::array<const scalar_t*, 1> x = {in.const_data_ptr<scalar_t>()};
  detail::with_flag(scale != 1.0f, [&](auto kScale) {
    detail::with_flag(slow_gathers(), [&](auto kScalar) {  // prefetching where it reads scalars
      detail::parallel_dense<kScalar>(
          out.data_ptr<scalar_t>(), x, out.numel(),
          [=](scalar_t* dst, auto src, int64_t begin, int64_t end) {
            detail::scaled_loop<false, kScale, scalar_t, kScalar>(dst, nullptr, src[0], begin,
                                                                  end, t, scale);
          });
    });
  });
}

// grad_input = grad * f'(x), f' tabulated (tabulate_slopes), the product in float; f'(x)
// times scale where x is not positive (scaled_lookup: ELU's alpha; 1 for a plain f'). Where
// gathers are slow (slow_gathers()) the slopes are read by scalar loads: the half types' GELU
// backwards on Zen 4 20-26% faster at 64K, 10-20% at 4M, 10% at 16M (NOTES §55).
template <typename scalar_t>
void cpu_tabulated_slopes(const at::Tensor& grad_input, const std::vector<float>& slopes,
                          const at::Tensor& grad, const at::Tensor& x, float scale = 1.0f) {
  static_assert(sizeof(scalar_t) == 2);
  const float* t = slopes.data();
  if (grad_input.numel() == 0) return;
  if (!same_dense_layout(grad_input, grad, x)) {
    detail::strided_elementwise<scalar_t>(
        grad_input,
        [t, scale](float g, float v) { return g * scaled_lookup<scalar_t>(v, t, scale); }, grad,
        x);
    return;
  }
  const std::array<const scalar_t*, 2> in = {grad.const_data_ptr<scalar_t>(),
                                             x.const_data_ptr<scalar_t>()};
  detail::with_flag(scale != 1.0f, [&](auto kScale) {
    detail::with_flag(slow_gathers(), [&](auto kScalar) {
      detail::parallel_dense(grad_input.data_ptr<scalar_t>(), in, grad_input.numel(),
                             [=](scalar_t* dst, auto src, int64_t begin, int64_t end) {
                               detail::scaled_loop<true, kScale, scalar_t, kScalar>(
                                   dst, src[0], src[1], begin, end, t, scale);
                             });
    });
  });
}

// --------------------------------------------------------- partial sums --
// out[j] = the sum over k < rows, in order, of part[k * C + c_begin + j] (in double), for the
// c_end - c_begin columns: row by row, so that the additions vectorize across the columns (a
// column at a time, the chain of dependent adds took 7% of a 4M-element PReLU backward,
// benchmarks/NOTES.md §26). Each column's sum is the same either way.
template <typename T>
inline void sum_rows_in_order(const T* part, int64_t rows, int64_t C, int64_t c_begin,
                              int64_t c_end, double* __restrict__ out) {
  const int64_t n = c_end - c_begin;
  std::fill(out, out + n, 0.0);
  for (int64_t k = 0; k < rows; ++k) {
    const T* __restrict__ p = part + k * C + c_begin;
    for (int64_t j = 0; j < n; ++j) out[j] += static_cast<double>(p[j]);
  }
}

// ------------------------------------------------------------ bit masks --
// Loops that write or read a 1-bit-per-element mask (../common.h: whole 32-bit words, bit i
// for memory position i of dense tensors).

namespace detail {

// Bit j of the result is set where lane j of m (all-ones or all-zeros lanes) is set.
template <typename T>
inline uint32_t bits_from_lanes(const at::vec::Vectorized<T>& m) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) return _mm512_movepi32_mask(_mm512_castps_si512(m));
  else return _mm512_movepi64_mask(_mm512_castpd_si512(m));
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) return _mm256_movemask_ps(m);
  else return _mm256_movemask_pd(m);
#else
  T lanes[at::vec::Vectorized<T>::size()];
  m.store(lanes);
  uint32_t bits = 0;
  for (int j = 0; j < at::vec::Vectorized<T>::size(); ++j) {
    uint64_t b = 0;
    std::memcpy(&b, &lanes[j], sizeof(T));
    bits |= uint32_t(b != 0) << j;
  }
  return bits;
#endif
}

// Bit j of the result is set where lane j of v >= c (ge) or v > c (!ge); NaN lanes clear.
// AVX-512: the compare's own mask register.
template <bool ge, typename T>
inline uint32_t bits_compare(const at::vec::Vectorized<T>& v, const at::vec::Vectorized<T>& c) {
#if defined(CPU_CAPABILITY_AVX512)
  constexpr int kCmp = ge ? _CMP_GE_OQ : _CMP_GT_OQ;
  if constexpr (std::is_same_v<T, float>) return _mm512_cmp_ps_mask(v, c, kCmp);
  else return _mm512_cmp_pd_mask(v, c, kCmp);
#else
  return bits_from_lanes<T>(ge ? v >= c : v > c);
#endif
}

// The mask whose lane j is all-ones where bit j of bits is set (for blendv).
template <typename T>
inline at::vec::Vectorized<T> lanes_from_bits(uint32_t bits) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_castsi512_ps(_mm512_movm_epi32(static_cast<__mmask16>(bits)));
  } else {
    return _mm512_castsi512_pd(_mm512_movm_epi64(static_cast<__mmask8>(bits)));
  }
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane));
  } else {
    const __m256i lane = _mm256_setr_epi64x(1, 2, 4, 8);
    const __m256i set = _mm256_and_si256(_mm256_set1_epi64x(bits), lane);
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(set, lane));
  }
#else
  using V = at::vec::Vectorized<T>;
  T lanes[V::size()];
  for (int j = 0; j < V::size(); ++j) {
    const uint64_t b = (bits >> j) & 1 ? ~uint64_t{0} : 0;
    std::memcpy(&lanes[j], &b, sizeof(T));
  }
  return V::loadu(lanes);
#endif
}

inline uint32_t load_word(const uint8_t* mask, int64_t w) {
  uint32_t word;
  std::memcpy(&word, mask + 4 * w, 4);
  return word;
}
inline void store_word(uint8_t* mask, int64_t w, uint32_t word) {
  std::memcpy(mask + 4 * w, &word, 4);
}

// Calls f(first_word, end_word) over the words of an n-element mask, threaded.
template <typename F>
inline void for_each_words(int64_t n, const F& f) {
  at::parallel_for(0, (n + 31) / 32, kGrainSize / 32, f);
}

}  // namespace detail

namespace detail {
// out[base, base + 32) = vop(in[...]) and the word of their pred bits (all 32 inside n).
template <typename scalar_t, typename VOp, typename VPred>
inline uint32_t bits_out_word(scalar_t* const o, const scalar_t* const in, const int64_t base,
                              const VOp& vop, const VPred& vpred) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<scalar_t>;
  using VecO = at::vec::Vectorized<opmath_t>;
  uint32_t word = 0;
  for (int k = 0; k < 32; k += Vec::size()) {
    const Vec v = Vec::loadu(in + base + k);
    if constexpr (std::is_same_v<scalar_t, opmath_t>) {
      vop(v).store(o + base + k);
      word |= vpred(v) << k;
    } else {
      const auto [lo, hi] = at::vec::convert_to_float<scalar_t>(v);
      // vop(lanes, their input's address) where vop takes it (the half types' GELU reads
      // its table by scalar loads there where gathers are slow), else vop(lanes)
      const auto op = [&](const VecO& u, const scalar_t* at) {
        if constexpr (std::is_invocable_v<const VOp&, VecO, const scalar_t*>) {
          return vop(u, at);
        } else {
          return vop(u);
        }
      };
      narrow<scalar_t>(op(lo, in + base + k), op(hi, in + base + k + VecO::size()))
          .store(o + base + k);
      word |= vpred(lo) << k;
      word |= vpred(hi) << (k + VecO::size());
    }
  }
  return word;
}

// cpu_elementwise_bits_out's loop over words [w0, w1), two words (64 elements) per step;
// pointers and closures by value (see flat_loop).
template <typename scalar_t, typename Op, typename VOp, typename Pred, typename VPred>
RELU_EXT_FLATTEN inline void bits_out_loop(scalar_t* const o, const scalar_t* const in,
                                           uint8_t* const m, const int64_t n, int64_t w0,
                                           int64_t w1, const Op op, const VOp vop,
                                           const Pred pred, const VPred vpred) {
  using opmath_t = at::opmath_type<scalar_t>;
  int64_t w = w0;
#if !RELU_EXT_GENERIC_VEC
  using VecO = at::vec::Vectorized<opmath_t>;
  (void)op;
  (void)pred;
  const int64_t full = std::min(w1, n / 32);  // words whose 32 elements are all inside n
  for (; w + 2 <= full; w += 2) {
    const uint32_t a = bits_out_word(o, in, 32 * w, vop, vpred);
    const uint32_t b = bits_out_word(o, in, 32 * w + 32, vop, vpred);
    store_word(m, w, a);
    store_word(m, w + 1, b);
  }
  if (w < full) {
    store_word(m, w, bits_out_word(o, in, 32 * w, vop, vpred));
    ++w;
  }
  if (w < w1) {  // the last, partial word: partial vectors, the same math (see flat_vec_loop)
    const int64_t base = 32 * w;
    uint32_t word = 0;
    vec_steps<VecO::size()>(n - base, [&](int64_t j, int64_t k) {  // k < 32
      const VecO v = load_wide(in + base + j, k);
      store_narrow(o + base + j, vop(v), k);
      word |= (vpred(v) & ((uint32_t{1} << k) - 1)) << j;
    });
    store_word(m, w, word);
  }
#else  // the x86 baseline library: the scalar ops (vec_math.h), as its plain forwards
  (void)vop;
  (void)vpred;
  for (; w < w1; ++w) {
    const int64_t base = 32 * w, stop = std::min(n, base + 32);
    uint32_t word = 0;
    for (int64_t i = base; i < stop; ++i) {
      const auto v = static_cast<opmath_t>(in[i]);
      o[i] = static_cast<scalar_t>(op(v));
      word |= uint32_t(pred(v) ? 1 : 0) << (i - base);
    }
    store_word(m, w, word);
  }
#endif
}
}  // namespace detail

// out[i] = op(x[i]), and bit i of mask = pred(x[i]); out and x share one dense layout, mask
// is bitmask_bytes(n) bytes. vop/vpred: the same on Vectorized<opmath_t> (vpred returning
// the bits for its lanes, e.g. by detail::bits_compare). In place when out is x.
template <typename scalar_t, typename Op, typename VOp, typename Pred, typename VPred>
void cpu_elementwise_bits_out(const at::Tensor& out, const at::Tensor& mask, const Op& op,
                              const VOp& vop, const Pred& pred, const VPred& vpred,
                              const at::Tensor& x) {
  static_assert(32 % at::vec::Vectorized<scalar_t>::size() == 0,
                "a 32-bit word must hold whole vectors");
  const int64_t n = out.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, x));
  scalar_t* const o = out.data_ptr<scalar_t>();
  const scalar_t* const in = x.const_data_ptr<scalar_t>();
  uint8_t* const m = mask.data_ptr<uint8_t>();
  // Streamed: with o 64-byte aligned, every block (512 bytes: whole words) starts on a word.
  const bool stream = detail::use_streaming(o, std::array<const scalar_t*, 1>{in}, n) &&
                      reinterpret_cast<uintptr_t>(o) % 64 == 0;
  detail::for_each_words(n, [&](int64_t w0, int64_t w1) RELU_EXT_FLATTEN {
    if (!stream) return detail::bits_out_loop<scalar_t>(o, in, m, n, w0, w1, op, vop, pred, vpred);
    detail::streamed(o, 32 * w0, std::min(32 * w1, n), std::array<const scalar_t*, 1>{in},
                     [&](scalar_t* dst, int64_t first, int64_t count) {
                       detail::bits_out_loop<scalar_t>(dst, in + first, m + first / 8, count, 0,
                                                       (count + 31) / 32, op, vop, pred, vpred);
                     });
  });
}

namespace detail {
// cpu_elementwise_bits_in's loop over words [w0, w1); pointers and closures by value (see
// flat_loop).
template <typename scalar_t, typename Op, typename VOp, size_t N>
RELU_EXT_FLATTEN inline void bits_in_loop(scalar_t* const o,
                                          const std::array<const scalar_t*, N> in,
                                          const uint8_t* const m, const int64_t n, int64_t w0,
                                          int64_t w1, const Op op, const VOp vop) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<scalar_t>;
  using VecO = at::vec::Vectorized<opmath_t>;
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t base = 32 * w;
    const uint32_t word = load_word(m, w);
    if (base + 32 <= n) {
      for (int k = 0; k < 32; k += Vec::size()) {
        std::array<Vec, N> v;
        for (size_t a = 0; a < N; ++a) v[a] = Vec::loadu(in[a] + base + k);
        if constexpr (std::is_same_v<scalar_t, opmath_t>) {
          const VecO lanes = lanes_from_bits<opmath_t>(word >> k);
          std::apply([&](const auto&... vs) { return vop(lanes, vs...); }, v).store(o + base + k);
        } else {
          std::array<VecO, N> lo, hi;
          for (size_t a = 0; a < N; ++a) {
            std::tie(lo[a], hi[a]) = at::vec::convert_to_float<scalar_t>(v[a]);
          }
          const VecO lanes_lo = lanes_from_bits<opmath_t>(word >> k);
          const VecO lanes_hi = lanes_from_bits<opmath_t>(word >> (k + VecO::size()));
          narrow<scalar_t>(
              std::apply([&](const auto&... vs) { return vop(lanes_lo, vs...); }, lo),
              std::apply([&](const auto&... vs) { return vop(lanes_hi, vs...); }, hi))
              .store(o + base + k);
        }
      }
    } else {
      for (int64_t i = base; i < n; ++i) {
        const bool bit = (word >> (i - base)) & 1;
        o[i] = static_cast<scalar_t>(
            std::apply([&](const auto*... p) { return op(bit, static_cast<opmath_t>(p[i])...); },
                       in));
      }
    }
  }
}
}  // namespace detail

namespace detail {
// cpu_tabulated_slopes_bits's loop over words [w0, w1).
template <typename scalar_t>
inline void slopes_bits_loop(scalar_t* const o, const scalar_t* const g, const scalar_t* const y,
                             const uint8_t* const m, const int64_t n, int64_t w0, int64_t w1,
                             const float* const table) {
  const auto* yb = reinterpret_cast<const uint16_t*>(y);
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t base = 32 * w;
    const uint32_t word = load_word(m, w);
    int64_t i = base;
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
    if (base + 32 <= n) {
      using Vec = at::vec::Vectorized<scalar_t>;  // 2 * VF::size() lanes: one or two a word
      using VF = at::vec::Vectorized<float>;
      // the slopes of VF::size() elements at yb + j: the entries at their patterns, plus
      // 65536 where their bit is set
      const auto slopes = [&](int64_t j) {
        return VF(gather_floats(add_second_half(table_index(yb + j), word >> (j - base)), table));
      };
      for (int64_t j = base; j < base + 32; j += Vec::size()) {
        const auto [lo, hi] = at::vec::convert_to_float<scalar_t>(Vec::loadu(g + j));
        narrow<scalar_t>(lo * slopes(j), hi * slopes(j + VF::size())).store(o + j);
      }
      i = base + 32;
    }
#endif
    for (; i < std::min(base + 32, n); ++i) {
      const uint32_t b = (word >> (i - base)) & 1u;
      o[i] = static_cast<scalar_t>(static_cast<float>(g[i]) * table[(b << 16) | yb[i]]);
    }
  }
}
}  // namespace detail

// grad_input = grad * s, s = table[bit << 16 | pattern of y] (in float; bit: y's bit of
// mask): a tabulated slope of a result and one bit (gelu.cpp's memory-efficient backward);
// grad_input, grad and y share one dense layout.
template <typename scalar_t>
void cpu_tabulated_slopes_bits(const at::Tensor& grad_input, const std::vector<float>& table,
                               const at::Tensor& mask, const at::Tensor& grad,
                               const at::Tensor& y) {
  static_assert(sizeof(scalar_t) == 2);
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(grad_input, grad, y));
  scalar_t* const o = grad_input.data_ptr<scalar_t>();
  const scalar_t* const g = grad.const_data_ptr<scalar_t>();
  const scalar_t* const yp = y.const_data_ptr<scalar_t>();
  const uint8_t* const m = mask.const_data_ptr<uint8_t>();
  const float* const t = table.data();
  detail::for_each_words(n, [&](int64_t w0, int64_t w1) {
    detail::slopes_bits_loop<scalar_t>(o, g, yp, m, n, w0, w1, t);
  });
}

// out[i] = op(bit i of mask, ins[i]...); out and ins share one dense layout. vop takes a lane
// mask (Vectorized<opmath_t>, all-ones where the bit is set) and Vectorized<opmath_t> inputs.
template <typename scalar_t, typename Op, typename VOp, typename... Ts>
void cpu_elementwise_bits_in(const at::Tensor& out, const at::Tensor& mask, const Op& op,
                             const VOp& vop, const Ts&... ins) {
  static_assert(32 % at::vec::Vectorized<scalar_t>::size() == 0,
                "a 32-bit word must hold whole vectors");
  const int64_t n = out.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, ins...));
  scalar_t* const o = out.data_ptr<scalar_t>();
  const std::array<const scalar_t*, sizeof...(Ts)> in = {
      ins.template const_data_ptr<scalar_t>()...};
  const uint8_t* const m = mask.const_data_ptr<uint8_t>();
  detail::for_each_words(n, [&](int64_t w0, int64_t w1) RELU_EXT_FLATTEN {
    detail::bits_in_loop<scalar_t>(o, in, m, n, w0, w1, op, vop);
  });
}

}  // namespace relu_ext
