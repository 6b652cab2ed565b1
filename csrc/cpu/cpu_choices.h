// What measurements decided for this CPU, chosen once, at first use, from its vendor and
// features (cpuid); an environment variable, 1 or 0, decides instead (relu_ext's import
// checks its value).
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))  // <cpuid.h>
#include <cpuid.h>
#endif

namespace relu_ext {
namespace detail {

// Whether the CPU is AMD's, and whether it has AVX-512 (AVX512F).
struct CpuKind {
  bool amd = false;
  bool avx512 = false;
};
inline CpuKind cpu_kind() {
  CpuKind kind;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))  // <cpuid.h>
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return kind;
  kind.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // AuthenticAMD
  if (a >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) kind.avx512 = ((b >> 16) & 1u) != 0;
#endif
  return kind;
}

// The environment variable `name` if it is "1" or "0", else `otherwise`.
inline bool env_choice(const char* name, bool otherwise) {
  if (const char* env = std::getenv(name)) {
    if (std::strcmp(env, "1") == 0) return true;
    if (std::strcmp(env, "0") == 0) return false;
  }
  return otherwise;
}

}  // namespace detail

// Whether this CPU's vector gathers are slow: then the half types' ELU (forward, backward and
// act_stats's forward) computes in float instead of looking its values up (tables.h); GELU's
// tables stay, its backward reading the slopes by scalar loads (loops.h:
// cpu_tabulated_slopes; NOTES §55). Measured (benchmarks/NOTES.md §41) on AMD's Zen 4: a
// gather costs ~1.3 cycles an element, 16 lanes or 8, from L1 or L2 alike; bfloat16 and
// float16 ELU computed in float took 0.63-0.79 of the lookups' time (64K elements in cache,
// one thread), GELU's forwards 1.03-1.10 (GELU's float math costs more than ELU's). On
// Intel's AVX-512 Xeon and on Zen 3 (AVX2) the lookups won for both (§33, §34, §36). The
// rule: an AMD CPU with AVX-512 (Zen 4, and Zen 5 by the same reasoning: unmeasured).
// RELU_EXT_SLOW_GATHERS decides instead; backend_info()["half_tables"] reports the choice.
inline bool slow_gathers() {
  static const bool value = [] {
    const detail::CpuKind kind = detail::cpu_kind();
    return detail::env_choice("RELU_EXT_SLOW_GATHERS", kind.amd && kind.avx512);
  }();
  return value;
}

// Whether act_stats's loops on the half types' patterns (the monitor's forward of rows of C
// channels, act_stats.cpp) take rows in blocks of kRowBlock, loading and storing each count
// once a block, rather than a row at a time. Measured (act_stats over the plain forward,
// bfloat16 relu at 4096x1024, two threads): on Intel's Xeon blocks of four +7-8% against
// +9-14% a row at a time (§27); on AMD's Zen 3 +35-37% against +8-10% (§38), on Zen 4 +25-93%
// against +3-19%, the GELUs' (by table) +6-27% against -2% to +5% (§42): several rows'
// streams at once cost those CPUs more than the counts' loads and stores save. The rule: not
// on AMD's CPUs. RELU_EXT_ROW_BLOCKS decides instead (the results are the same either way).
inline bool stats_row_blocks() {
  static const bool value =
      detail::env_choice("RELU_EXT_ROW_BLOCKS", !detail::cpu_kind().amd);
  return value;
}

// Whether the AVX-512 libraries' float and double element-wise loops that leave the fetching
// to the hardware (no software prefetch: relu's forward and backward, leaky_relu's forward;
// loops.h, cpu_elementwise_vec), and PReLU's float forward (prelu.cpp), load each 512-bit
// vector as two 256-bit halves. Measured on Zen 4 (NOTES §64, §65; one build, the variable
// alternated): float32 relu's forward 0.95-0.97x -> 1.01-1.03x ATen's at 4M elements (two
// threads), leaky_relu's 0.89-0.90x -> 0.95-0.99x, relu's backward 0.90-0.91x -> 0.99-1.01x
// at 1M and 1.13-1.32x -> 1.35-1.44x at 16M, PReLU's forward 1.05-1.08x -> 1.12-1.13x at 1M;
// at 64K in L2 the same. The loops with more arithmetic and a software prefetch (ELU's,
// GELU's) lost 6-10% at 16M by it, so they load whole vectors. float64's loops take it too,
// unmeasured. Why whole 512-bit loads from the L3 and beyond run slower there was not found
// out. On an Intel Xeon (model 207, two threads) halves and whole loads measured alike, from
// 64K to 16M (NOTES §66), so Intel's AVX-512 CPUs keep whole loads. The rule: an AMD CPU with
// AVX-512. RELU_EXT_SPLIT_LOADS decides instead (the values are the same either way).
inline bool split_loads() {
  static const bool value = [] {
    const detail::CpuKind kind = detail::cpu_kind();
    return detail::env_choice("RELU_EXT_SPLIT_LOADS", kind.amd && kind.avx512);
  }();
  return value;
}

}  // namespace relu_ext
