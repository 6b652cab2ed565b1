// Whether this CPU's vector gathers are slow: then the half types' ELU (forward, backward and
// act_stats's forward) computes in float instead of looking its values up (tables.h); GELU's
// tables stay. Measured (benchmarks/NOTES.md §41) on AMD's Zen 4: a gather costs ~1.3 cycles
// an element, 16 lanes or 8, from L1 or L2 alike; bfloat16 and float16 ELU computed in float
// took 0.63-0.79 of the lookups' time (64K elements in cache, one thread), GELU's forwards
// 1.03-1.10 (GELU's float math costs more than ELU's). On Intel's AVX-512 Xeon and on Zen 3
// (AVX2) the lookups won for both (§33, §34, §36). The rule: an AMD CPU with AVX-512 (Zen 4,
// and Zen 5 by the same reasoning: unmeasured). RELU_EXT_SLOW_GATHERS=1 or 0 decides instead
// (relu_ext's import checks its value); backend_info()["half_tables"] reports the choice.
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))  // <cpuid.h>
#include <cpuid.h>
#endif

namespace relu_ext {

inline bool slow_gathers() {
  static const bool value = [] {
    if (const char* env = std::getenv("RELU_EXT_SLOW_GATHERS")) {
      if (std::strcmp(env, "1") == 0) return true;
      if (std::strcmp(env, "0") == 0) return false;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))  // <cpuid.h>
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d) || a < 7) return false;
    const bool amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // AuthenticAMD
    if (!amd || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ((b >> 16) & 1u) != 0;  // AVX512F
#else
    return false;
#endif
  }();
  return value;
}

}  // namespace relu_ext
