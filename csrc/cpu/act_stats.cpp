// act_stats on CPU (relu_ext.DeadUnitMonitor's forward): y = act(x), the activation alone, and
// per channel the number of inputs with x > 0, counted in the same pass; integer counts, exact
// in any order (so at any thread count). The activation's values are its own forward's
// (../common.h, act_vec.h; the half types' ReLU on their 16-bit patterns and their GELU and
// ELU from tables, as relu.cpp, gelu.cpp and elu.cpp take them). act_stats has no derivative
// of its own: autograd takes the activation's (../autograd/act_stats.cpp).
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "channels.h"
#include "cpu_choices.h"

namespace relu_ext {
namespace {

// Per-lane counts of x > 0 (NaN: no) as integers of T's width: a compare and an integer
// subtract (a true lane is all ones, -1), so a chain of them costs one cycle per vector.
template <typename T>
using CountVec = at::vec::Vectorized<at::vec::int_same_size_t<T>>;
template <typename V>
RELU_EXT_VEC_INLINE CountVec<typename V::value_type> count_positive(
    CountVec<typename V::value_type> count, V x) {
  using T = typename V::value_type;
#if defined(CPU_CAPABILITY_AVX512)  // the compare's mask register drives the add directly
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_mask_add_epi32(count, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ),
                                 count, _mm512_set1_epi32(1));
  } else {
    return _mm512_mask_add_epi64(count, _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GT_OQ),
                                 count, _mm512_set1_epi64(1));
  }
#else
  return count - at::vec::cast<at::vec::int_same_size_t<T>>(x > V(T(0)));
#endif
}

// A row's counts: counts[j] += (lane j of x > 0) for the R vectors x (n lanes of each). float
// on AVX-512 and AVX2: 8-bit counts (flushed every 255 rows), four vectors' compares joined into
// one vector of bytes (AVX-512: one 64-lane masked add; AVX2: packed to bytes and subtracted),
// so one load, add and store per four vectors (the count was most of the monitor's cost, NOTES
// §17, §24; on AVX2 its loads and stores doubled ReLU's own, §38); elsewhere an integer
// vector of the float's width per vector.
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
template <typename T>
using RowCount = std::conditional_t<std::is_same_v<T, float>, uint8_t, at::vec::int_same_size_t<T>>;
#else
template <typename T>
using RowCount = at::vec::int_same_size_t<T>;
#endif
template <int64_t R, typename V>
RELU_EXT_VEC_INLINE void count_row(RowCount<typename V::value_type>* counts, const V (&x)[R],
                                   int64_t n) {
  using T = typename V::value_type;
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    const auto positive = [](V v) {
      return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    };
    if constexpr (R % 4 == 0) {  // whole vectors
      for (int64_t k = 0; k < R; k += 4) {
        uint8_t* const p = counts + k * V::size();
        const __mmask64 fired = _mm512_kunpackd(
            _mm512_kunpackw(positive(x[k + 3]), positive(x[k + 2])),
            _mm512_kunpackw(positive(x[k + 1]), positive(x[k])));
        const __m512i c = _mm512_loadu_si512(p);
        _mm512_storeu_si512(p, _mm512_mask_add_epi8(c, fired, c, _mm512_set1_epi8(1)));
      }
    } else {  // lanes past n load as 0: not positive
      const auto lanes = static_cast<__mmask16>((1u << n) - 1);
      for (int64_t k = 0; k < R; ++k) {
        uint8_t* const p = counts + k * V::size();
        const __m128i c = _mm_maskz_loadu_epi8(lanes, p);
        _mm_mask_storeu_epi8(p, lanes, _mm_mask_add_epi8(c, positive(x[k]), c, _mm_set1_epi8(1)));
      }
    }
    return;
  }
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    // a compare's lanes as int32: -1 where x > 0 (NaN: no), else 0
    const auto positive = [](V v) {
      return _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
    };
    if constexpr (R % 4 == 0) {  // whole vectors: 4 x 8 int32 lanes saturated to 32 bytes
      // The packs interleave 128-bit halves: dwords (4 bytes = 4 lanes) in the order x0[0:4],
      // x1[0:4], x2[0:4], x3[0:4], x0[4:8], ... which the permute puts in memory order.
      const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
      for (int64_t k = 0; k < R; k += 4) {
        uint8_t* const p = counts + k * V::size();
        const __m256i fired = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(positive(x[k]), positive(x[k + 1])),
                               _mm256_packs_epi32(positive(x[k + 2]), positive(x[k + 3]))),
            order);
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_sub_epi8(c, fired));
      }
    } else {
      for (int64_t k = 0; k < R; ++k) {
        uint8_t* const p = counts + k * V::size();
        const __m256i m = positive(x[k]);
        if (n == V::size()) {  // the 8 lanes' bytes in order: 8 bytes loaded, added, stored
          const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(m),
                                            _mm256_extracti128_si256(m, 1));
          const __m128i c = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
          _mm_storel_epi64(reinterpret_cast<__m128i*>(p),
                           _mm_sub_epi8(c, _mm_packs_epi16(w, w)));
        } else {  // lanes past n load as 0: not positive, and are not stored
          const unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(m)));
          for (int64_t j = 0; j < n; ++j) p[j] += (bits >> j) & 1u;
        }
      }
    }
    return;
  }
#endif
  for (int64_t k = 0; k < R; ++k) {  // (at::vec's AVX2 integer loadu(p, n) copies a whole
                                     // vector through the stack: act_stats +80-790%)
    RowCount<T>* const p = counts + k * V::size();
    const auto c = n == V::size() ? CountVec<T>::loadu(p) : CountVec<T>::loadu(p, n);
    count_positive(c, x[k]).store(p, n);
  }
}

// ReLU in the half types on the 16-bit patterns (act_vec.h): y[i] = relu(x[i]) and
// counts[i] += x[i] > 0 for `rows` rows of n (all the rows up to a flush in one call: a call
// per row cost 10-15% of the monitor's time in L2), kRowBlock rows at a time where
// stats_row_blocks() (cpu_choices.h: not on AMD's CPUs), each count then loaded and stored
// once per block (NOTES §27), else a row at a time (§38, §42); the number of x[i] > 0
// returned for a run.
// Loops the compiler vectorizes, but for the rows' 8-bit counts on AVX-512 and AVX2: there
// two vectors a step, their test results joined into one byte vector, unmasked loads and
// stores (on AVX-512 the compiler's own loop packs compare results into bytes: +65-80% over
// the plain forward; with masked stores, slow on Zen 4, +65%; with 16-bit counts +25%; on
// AVX2 its 16-bit loop: +20-22% at 4096x1024, two threads, against +13-14%, NOTES §27).
constexpr int64_t kRowBlock = 4;
// The rows' counts: 8 bits where a step joins its test results into bytes (AVX-512, AVX2), else
// 16 bits, the patterns' width (the compiler's loop then needs no widening, NOTES §26).
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
using BitsCount = uint8_t;
#else
using BitsCount = int16_t;
#endif
// act_stats's activation: act_fwd_vec, but the half types' GELU and ELU from their tables on
// the AVX-512 and AVX2 libraries, as their own forwards (ELU's only where this CPU's gathers
// are not slow: cpu_choices.h): x holds the type's values exactly here (bias_act's x + b does not,
// and computes). These, and ReLU, run on the 16-bit patterns: what those loops write is
// BitsOp's; the rest take ComputeOp (with_stats_op).
template <Act A, typename scalar_t>
constexpr bool kStatsTable =
    kTabulated<scalar_t> && (A == Act::kGelu || A == Act::kGeluTanh || A == Act::kElu);

// ReLU of the 16-bit patterns (no arithmetic; T void), or the value tabulated at each pattern
// (T uint16_t: GELU's values, act_vec.h's gelu_values, and ELU's at alpha = 1,
// elu_values_at_one; T float: ELU's at another alpha, elu_values times alpha where x is not
// positive, tables.h's scaled_lookup; kScalar: GELU's values as floats, gelu_value_floats,
// read by scalar loads from the input where gathers are slow, cpu_choices.h).
template <typename scalar_t, typename T, bool kScalar = false>
struct BitsOp {
  static constexpr bool kRelu = std::is_void_v<T>;
  const T* table;
  float scale;  // T float: alpha
  int16_t operator()(int16_t x) const {
    if constexpr (kScalar) {
      return static_cast<int16_t>(scalar_t(table[static_cast<uint16_t>(x)]).x);
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      return static_cast<int16_t>(table[static_cast<uint16_t>(x)]);
    } else if constexpr (std::is_same_v<T, float>) {
      const float v = static_cast<float>(from_bits<scalar_t>(static_cast<uint16_t>(x)));
      return static_cast<int16_t>(scalar_t(scaled_lookup<scalar_t>(v, table, scale)).x);
    } else {
      return relu_fwd_bits<scalar_t>(x);
    }
  }
#if defined(CPU_CAPABILITY_AVX512)
  // 32 patterns a (read from p), d = a - 1 (lane-wise)
  __m512i operator()(__m512i a, __m512i d, const int16_t* p) const {
    if constexpr (kScalar) {
      const auto* u = reinterpret_cast<const uint16_t*>(p);
      return narrow<scalar_t>(lookup_floats(u, table), lookup_floats(u + 16, table));
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      return gather_values(a, table);
    } else if constexpr (std::is_same_v<T, float>) {
      const __m512 s = _mm512_set1_ps(scale);
      const __m512 lo = gather_scaled<scalar_t, true>(
          _mm512_cvtepu16_epi32(_mm512_castsi512_si256(a)), table, s);
      const __m512 hi = gather_scaled<scalar_t, true>(
          _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(a, 1)), table, s);
      return narrow<scalar_t>(lo, hi);
    } else {
      // relu keeps a where a - 1 is at or above b(-inf) (relu_fwd_bits)
      return _mm512_maskz_mov_epi16(
          _mm512_cmpge_epi16_mask(d, _mm512_set1_epi16(kNegInfBits<scalar_t>)), a);
    }
  }
#elif defined(CPU_CAPABILITY_AVX2)
  // 16 patterns a (read from p), d = a - 1
  __m256i operator()(__m256i a, __m256i d, const int16_t* p) const {
    if constexpr (kScalar) {
      const auto* u = reinterpret_cast<const uint16_t*>(p);
      return narrow<scalar_t>(lookup_floats(u, table), lookup_floats(u + 8, table));
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      return gather_values(a, table);
    } else if constexpr (std::is_same_v<T, float>) {
      const __m256 s = _mm256_set1_ps(scale);
      const at::vec::Vectorized<float> lo = gather_scaled<scalar_t, true>(
          _mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)), table, s);
      const at::vec::Vectorized<float> hi = gather_scaled<scalar_t, true>(
          _mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1)), table, s);
      return narrow<scalar_t>(lo, hi);
    } else {
      // relu keeps a where d > b(-inf) - 1 (signed)
      return _mm256_and_si256(
          _mm256_cmpgt_epi16(d, _mm256_set1_epi16(static_cast<int16_t>(kNegInfBits<scalar_t> - 1))),
          a);
    }
  }
#endif
};

// act_stats's activation in its float vectors (act_fwd_vec): no pattern loop.
struct ComputeOp {};
template <typename Op>
constexpr bool kBitsLoop = !std::is_same_v<Op, ComputeOp>;

// f(the BitsOp of act_stats's activation A with parameter p0, or ComputeOp), its table fetched
// here: a type for each table, so that a loop compiles for the one it reads (with ELU's two in
// one type and a test between them, act_stats on bfloat16 took 12% longer at 4096x1024).
template <Act A, typename scalar_t, typename F>
void with_stats_op(float p0, const F& f) {
  if constexpr (kStatsTable<A, scalar_t> && A == Act::kElu) {
    if (slow_gathers()) {
      f(ComputeOp{});
    } else if (elu_reads_values_at_one(p0)) {
      f(BitsOp<scalar_t, uint16_t>{elu_values_at_one<scalar_t>().data(), 1.0f});
    } else {
      f(BitsOp<scalar_t, float>{elu_values<scalar_t>().data(), p0});
    }
  } else if constexpr (kStatsTable<A, scalar_t>) {
    constexpr bool kTanh = A == Act::kGeluTanh;
    if (slow_gathers()) {
      f(BitsOp<scalar_t, float, true>{gelu_value_floats<scalar_t, kTanh>().data(), 1.0f});
    } else {
      f(BitsOp<scalar_t, uint16_t>{gelu_values<scalar_t, kTanh>().data(), 1.0f});
    }
  } else if constexpr (A == Act::kRelu && sizeof(scalar_t) == 2) {
    f(BitsOp<scalar_t, void>{nullptr, 1.0f});
  } else {
    f(ComputeOp{});
  }
}

#if defined(CPU_CAPABILITY_AVX512)
// The whole 64-element steps of kR rows of n (y and x rows n apart) with 8-bit counts; returns
// the index where they stop (the tail is left to the caller).
template <int64_t kR, typename scalar_t, typename T, bool kScalar>
RELU_EXT_VEC_INLINE int64_t stats_rows_bits_steps(int16_t* __restrict__ y,
                                                  const int16_t* __restrict__ x,
                                                  uint8_t* __restrict__ counts, int64_t n,
                                                  int64_t stride, BitsOp<scalar_t, T, kScalar> op) {
  const __m512i pos_inf = _mm512_set1_epi16(kNegInfBits<scalar_t> & 0x7FFF);
  const __m512i one = _mm512_set1_epi8(1), ones16 = _mm512_set1_epi16(1);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {  // unmasked (masked stores are slow on Zen 4)
    __m512i c = _mm512_loadu_si512(counts + i);
    for (int64_t k = 0; k < kR; ++k) {
      const int16_t* const xk = x + k * stride + i;
      int16_t* const yk = y + k * stride + i;
      const __m512i a = _mm512_loadu_si512(xk), b = _mm512_loadu_si512(xk + 32);
      // b - 1 serves both ReLU (BitsOp) and the count: b is positive where b - 1 lies below
      // b(+inf) read unsigned (positive_bits)
      const __m512i da = _mm512_sub_epi16(a, ones16), db = _mm512_sub_epi16(b, ones16);
      _mm512_storeu_si512(yk, op(a, da, xk));
      _mm512_storeu_si512(yk + 32, op(b, db, xk + 32));
      const __mmask64 fired = _mm512_kunpackd(_mm512_cmplt_epu16_mask(db, pos_inf),
                                              _mm512_cmplt_epu16_mask(da, pos_inf));
      c = _mm512_mask_add_epi8(c, fired, c, one);
    }
    _mm512_storeu_si512(counts + i, c);
  }
  return i;
}
#elif defined(CPU_CAPABILITY_AVX2)
// The same on AVX2, 32 elements a step: the two vectors' 16-bit test results packed into one
// 32-lane byte vector (packs, then a permute to undo its per-128-bit-lane order), subtracted
// (a true lane is -1).
template <int64_t kR, typename scalar_t, typename T, bool kScalar>
RELU_EXT_VEC_INLINE int64_t stats_rows_bits_steps(int16_t* __restrict__ y,
                                                  const int16_t* __restrict__ x,
                                                  uint8_t* __restrict__ counts, int64_t n,
                                                  int64_t stride, BitsOp<scalar_t, T, kScalar> op) {
  // b is positive where d = b - 1 <= b(+inf) - 1 (unsigned: min(d, that) == d)
  const __m256i pos_max = _mm256_set1_epi16((kNegInfBits<scalar_t> & 0x7FFF) - 1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(counts + i));
    for (int64_t k = 0; k < kR; ++k) {
      const int16_t* const xk = x + k * stride + i;
      int16_t* const yk = y + k * stride + i;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xk));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xk + 16));
      const __m256i da = _mm256_sub_epi16(a, ones16), db = _mm256_sub_epi16(b, ones16);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(yk), op(a, da, xk));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(yk + 16), op(b, db, xk + 16));
      const __m256i pa = _mm256_cmpeq_epi16(_mm256_min_epu16(da, pos_max), da);
      const __m256i pb = _mm256_cmpeq_epi16(_mm256_min_epu16(db, pos_max), db);
      c = _mm256_sub_epi8(c, _mm256_permute4x64_epi64(_mm256_packs_epi16(pa, pb), 0xD8));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(counts + i), c);
  }
  return i;
}
#endif
// kR rows of n, `stride` elements apart
template <int64_t kR, typename scalar_t, typename T, bool kScalar, typename RI>
RELU_EXT_VEC_INLINE void stats_row_block_bits(int16_t* __restrict__ y,
                                              const int16_t* __restrict__ x,
                                              RI* __restrict__ counts, int64_t n, int64_t stride,
                                              BitsOp<scalar_t, T, kScalar> op) {
  int64_t i = 0;
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<RI, uint8_t>) {
    i = stats_rows_bits_steps<kR, scalar_t>(y, x, counts, n, stride, op);
  }
#endif
  for (; i < n; ++i) {  // (the tail there)
    RI c = counts[i];
    for (int64_t k = 0; k < kR; ++k) {
      y[k * stride + i] = op(x[k * stride + i]);
      c += static_cast<RI>(positive_bits<scalar_t>(x[k * stride + i]));
    }
    counts[i] = c;
  }
}
template <typename scalar_t, typename T, bool kScalar, typename RI>
void stats_rows_bits(int16_t* y, const int16_t* x, RI* counts, int64_t n, int64_t stride,
                     int64_t rows, BitsOp<scalar_t, T, kScalar> op) {
  int64_t r = 0;
  if (stats_row_blocks()) {
    for (; r + kRowBlock <= rows; r += kRowBlock) {
      stats_row_block_bits<kRowBlock>(y + r * stride, x + r * stride, counts, n, stride, op);
    }
  }
  for (; r < rows; ++r) {
    stats_row_block_bits<1>(y + r * stride, x + r * stride, counts, n, stride, op);
  }
}
template <typename scalar_t, typename T, bool kScalar>
int64_t stats_run_bits(int16_t* __restrict__ y, const int16_t* __restrict__ x, int64_t n,
                       BitsOp<scalar_t, T, kScalar> op) {
  int32_t count = 0;  // n <= 2^22
  for (int64_t i = 0; i < n; ++i) {
    y[i] = op(x[i]);
    count += positive_bits<scalar_t>(x[i]);
  }
  return count;
}
// The lock around adding a task's counts into fired: a spin lock, as the sections are short
// and the tasks of one call end together. A std::mutex put the waiting thread to sleep in the
// kernel, and waking it took tens of µs on a two-CPU virtual machine: act_stats at 512x1024
// bfloat16 on two threads took 28 µs where the plain forward took 13 (NOTES §28).
class SpinLock {
 public:
  void lock() {
    while (held_.exchange(true, std::memory_order_acquire)) {
      while (held_.load(std::memory_order_relaxed)) pause();
    }
  }
  void unlock() { held_.store(false, std::memory_order_release); }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_pause();
#endif
  }
  std::atomic<bool> held_{false};
};

// Rows of C channels (the channel dim the last, as after nn.Linear) with fewer than this many
// rows a thread are split by channels instead of by rows, when each thread then gets at least
// kMinTaskChannels of them: no two threads then count one channel, so no task adds its counts
// to another's and fired needs no zeroing first (split by rows, each task counts every channel
// and adds all C counts into fired under the lock: at 4x16384 bfloat16 on two threads 27-37
// µs where the plain forward took 3.5, NOTES §28).
constexpr int64_t kMinTaskRows = 64;
constexpr int64_t kMinTaskChannels = 256;
constexpr int64_t kChannelBlock = 64;  // a 512-bit vector of 8-bit counts

// act(x) and, per channel, the number of x > 0 (written to fired, C values); kBias: act(z) and
// the count of z > 0 for z = x + bias[c], as bias_act.cpp's vector loops compute z and act(z)
// (the same values: ComputeOp, no pattern loop, as x + b does not hold the type's values).
// Counts are integers, so each task counts its own rows / runs and adds them into fired under a
// lock: the same result in any order, at any thread count (or, split by channels, each task
// writes its own channels' counts). Lanes count in RowCount (rows) or int32 (runs; int64 for
// double), moved to int64 before they can overflow. The output streams when larger than the
// last-level cache (loops.h), as the plain forward's does: each task's range of elements is
// then computed in 512-byte blocks, which cut rows and runs into pieces.
template <Act A, bool kBias, typename scalar_t, typename Op>
void stats_forward(scalar_t* out, const scalar_t* x,
                   const std::vector<at::opmath_type<scalar_t>>& p,
                   const std::vector<at::opmath_type<scalar_t>>& bias, Geometry geo,
                   int64_t* fired, [[maybe_unused]] Op bits_op) {
  using T = at::opmath_type<scalar_t>;
  using V = VecOf<scalar_t>;
  using I = at::vec::int_same_size_t<T>;
  using VI = CountVec<T>;
  // rows: a row adds at most 1 to a lane; the pattern loops count in BitsCount
  using RI = std::conditional_t<kBitsLoop<Op>, BitsCount, RowCount<T>>;
  constexpr int64_t kFlush = int64_t{1} << 22;
  constexpr int64_t kFlushRows = std::min<int64_t>(kFlush, std::numeric_limits<RI>::max());
  const int64_t C = geo.channels;
  // a weight per channel: PReLU's only (a compile-time false for the others: no per-vector test)
  const bool per_c = A == Act::kPrelu && p.size() > 1;
  const int64_t unit = geo.inner == 1 ? C : geo.inner;
  const std::array<const scalar_t*, 1> inputs{x};  // (what the output streams past)
  const bool stream = detail::use_streaming(out, inputs, geo.n);
  // act(x) for len elements of one row, xu[0] in channel c (its count cb[0]; its parameter
  // pb[0] when pc_each, else p0; its bias bu[0]): all but the pattern loops' (bits_op)
  const auto segment = [](scalar_t* yu, const scalar_t* xu, auto* cb, const T* pb, bool pc_each,
                          V p0, [[maybe_unused]] const T* bu, int64_t len) RELU_EXT_STEP {
    run_steps<V::size()>(len, [&](int64_t c, auto vecs, int64_t n) RELU_EXT_STEP {
      constexpr int64_t R = decltype(vecs)::value;
      V xv[R], yv[R];
      for (int64_t k = 0; k < R; ++k) {
        xv[k] = load_wide(xu + c + k * V::size(), n);
        if constexpr (kBias) xv[k] = xv[k] + V::loadu(bu + c + k * V::size(), n);
      }
      // counted first: each x[k] then dies with its activation (counted after the stores,
      // all R stayed alive through them, spilled to the stack: float32 ELU's count +25% in
      // cache on AVX2, NOTES §38)
      count_row(cb + c, xv, n);
      for (int64_t k = 0; k < R; ++k) {
        const int64_t ck = c + k * V::size();
        yv[k] = act_fwd_vec<A, scalar_t>(xv[k], pc_each ? V::loadu(pb + ck, n) : p0);
      }
      store_narrow(yu + c, yv, n);
    });
  };
  const int64_t threads = at::get_num_threads();
  if (geo.inner == 1 && !stream && threads > 1 && geo.n / C < kMinTaskRows * threads &&
      C >= 2 * kMinTaskChannels) {
    const int64_t rows = geo.n / C;
    const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
    const int64_t grain = std::max(kMinTaskChannels, kGrainSize / rows) / kChannelBlock;
    at::parallel_for(0, blocks, std::max<int64_t>(1, grain), [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * kChannelBlock, len = std::min(C, b1 * kChannelBlock) - c0;
      const T* const pb = per_c ? p.data() + c0 : p.data();
      const T* const bb = kBias ? bias.data() + c0 : nullptr;
      const V p0(p[0]);
      std::vector<RI> counts(len, RI(0));
      bool first = true;  // fired[c0, c0 + len) not yet written
      const auto flush = [&] {
        for (int64_t j = 0; j < len; ++j) {
          fired[c0 + j] = (first ? 0 : fired[c0 + j]) + static_cast<int64_t>(counts[j]);
          counts[j] = RI(0);
        }
        first = false;
      };
      for (int64_t r = 0; r < rows;) {
        const int64_t n_rows = std::min(rows - r, kFlushRows);
        scalar_t* const yr = out + r * C + c0;
        const scalar_t* const xr = x + r * C + c0;
        if constexpr (kBitsLoop<Op>) {
          stats_rows_bits(reinterpret_cast<int16_t*>(yr), reinterpret_cast<const int16_t*>(xr),
                          counts.data(), len, C, n_rows, bits_op);
        } else {
          for (int64_t k = 0; k < n_rows; ++k) {
            segment(yr + k * C, xr + k * C, counts.data(), pb, per_c, p0, bb, len);
          }
        }
        r += n_rows;
        flush();
      }
    });
    return;
  }
  std::fill_n(fired, C, int64_t{0});
  SpinLock lock;
  const auto task = [&](int64_t u0, int64_t u1) {
    // Pointers as locals (not captures): the stores may not alias them.
    const scalar_t* const xs = x;
    const T* const pp = p.data();
    [[maybe_unused]] const T* const bs = bias.data();  // (kBias)
    [[maybe_unused]] const bool pc_each = per_c;  // (unused by the pattern loops)
    const V p0(pp[0]);
    if (geo.inner == 1) {  // rows of C, a row (or a piece of one) at a time
      std::vector<RI> counts(C, RI(0));
      int64_t pending = 0;  // whole rows counted in `counts`
      // the counts added into fired (under the lock: at most once every kFlushRows rows)
      const auto flush = [&] {
        // (restrict pointers and a local bound: 8-bit counts may alias anything, which
        // kept this loop scalar, reloading C through the closure at each element)
        const std::lock_guard<SpinLock> guard(lock);
        int64_t* __restrict__ const total = fired;
        RI* __restrict__ const lane = counts.data();
        const int64_t channels = C;
        for (int64_t c = 0; c < channels; ++c) {
          total[c] += static_cast<int64_t>(lane[c]);
          lane[c] = RI(0);
        }
        pending = 0;
      };
      // elements [first, first + count) (whole rows, or cut anywhere when streamed) into dst
      const auto rows = [&](scalar_t* dst, int64_t first, int64_t count) {
        RI* const cu = counts.data();
        for (int64_t i = first, end = first + count; i < end;) {
          const int64_t c_begin = i % C, len = std::min(C - c_begin, end - i);
          scalar_t* const yu = dst + (i - first);
          const scalar_t* const xu = xs + i;
          int64_t done = len;  // elements done here
          if constexpr (kBitsLoop<Op>) {  // whole rows up to the next flush at once
            const int64_t n_rows =
                c_begin == 0 ? std::min((end - i) / C, kFlushRows - pending) : 0;
            if (n_rows > 0) {
              stats_rows_bits(reinterpret_cast<int16_t*>(yu),
                              reinterpret_cast<const int16_t*>(xu), cu, C, C, n_rows, bits_op);
              done = n_rows * C;
            } else {
              stats_rows_bits(reinterpret_cast<int16_t*>(yu),
                              reinterpret_cast<const int16_t*>(xu), cu + c_begin, len, len, 1,
                              bits_op);
            }
          } else {
            segment(yu, xu, cu + c_begin, pc_each ? pp + c_begin : pp, pc_each, p0,
                    kBias ? bs + c_begin : nullptr, len);
          }
          pending += (i + done) / C - i / C;  // the rows that end here
          i += done;
          if (pending >= kFlushRows) flush();
        }
      };
      detail::write_range(stream, out, u0 * C, u1 * C, inputs, rows);
      flush();
    } else {  // runs of `inner` elements of channel c, in pieces of at most kFlush
      // This task's counts: mine[j] for channel (u0 + j) % C (fewer than C when the task has
      // fewer runs, so it never holds a count per channel of a long channel dim it barely
      // touches).
      const int64_t held = std::min(C, u1 - u0);
      std::vector<int64_t> mine(held, 0);
      const int64_t inner = geo.inner;
      const auto runs = [&](scalar_t* dst, int64_t first, int64_t count) {
        for (int64_t i = first, end = first + count; i < end;) {
          const int64_t u = i / inner, s = i - u * inner;
          const int64_t len = std::min({inner - s, end - i, kFlush});
          scalar_t* const ys = dst + (i - first);
          const scalar_t* const xu = xs + i;
          int64_t& total = mine[(u - u0) % held];
          i += len;
          if constexpr (kBitsLoop<Op>) {
            total += stats_run_bits(reinterpret_cast<int16_t*>(ys),
                                    reinterpret_cast<const int16_t*>(xu), len, bits_op);
          } else {
            const V pc = pc_each ? V(pp[u % C]) : p0;
            const V bc(kBias ? bs[u % C] : T(0));
            VI n_fired(I(0));
            run_steps<V::size()>(len, [&](int64_t j, auto vecs, int64_t n) RELU_EXT_STEP {
              constexpr int64_t R = decltype(vecs)::value;
              V xv[R], yv[R];
              for (int64_t k = 0; k < R; ++k) {
                xv[k] = load_wide(xu + j + k * V::size(), n);
                // (the lanes past n stay 0: not counted)
                if constexpr (kBias) {
                  xv[k] = xv[k] + (n == V::size() ? bc : V::set(V(T(0)), bc, n));
                }
              }
              for (int64_t k = 0; k < R; ++k) n_fired = count_positive(n_fired, xv[k]);
              for (int64_t k = 0; k < R; ++k) yv[k] = act_fwd_vec<A, scalar_t>(xv[k], pc);
              store_narrow(ys + j, yv, n);
            });
            total += lane_sum(n_fired);  // at most kFlush: no int32 overflow
          }
        }
      };
      detail::write_range(stream, out, u0 * unit, u1 * unit, inputs, runs);
      // fired[(u0 + j) % C] += mine[j], as two contiguous loops (one with the modulo and the
      // layout reloaded at each channel took 60% of act_stats at 4x16384, NOTES §27)
      const std::lock_guard<SpinLock> guard(lock);
      int64_t* __restrict__ const total = fired;
      const int64_t* __restrict__ const m = mine.data();
      const int64_t start = u0 % C, wrap = std::min(held, C - start);
      for (int64_t j = 0; j < wrap; ++j) total[start + j] += m[j];
      for (int64_t j = wrap; j < held; ++j) total[j - wrap] += m[j];
    }
  };
  at::parallel_for(0, geo.n / unit, std::max<int64_t>(1, kGrainSize / unit), task);
}

// The activation on self (+ bias), and fired[c] = the number of self (+ bias) > 0 in channel
// c (index along dim; PReLU's weight runs along dim 1, as in torch, or with a bias along dim).
std::tuple<at::Tensor, at::Tensor> act_stats_cpu(const at::Tensor& self,
                                                 const std::optional<at::Tensor>& weight,
                                                 int64_t dim, c10::string_view activation,
                                                 double param,
                                                 const std::optional<at::Tensor>& bias) {
  const Act act = check_act_stats(self, weight, dim, activation, bias, "relu_ext::act_stats");
  const auto x = as_dense(self);
  auto out = empty_like_cpu(x);
  at::Tensor fired = at::detail::empty_cpu({x.size(dim)}, at::kLong);
  if (x.numel() == 0) {  // every count 0 (otherwise stats_forward writes them all)
    std::fill_n(fired.data_ptr<int64_t>(), fired.numel(), int64_t{0});
    return {out, fired};
  }
  const auto geo = geometry(x, dim);
  RELU_EXT_DISPATCH(x.scalar_type(), "act_stats_cpu", [&] {
    const auto p = activation_params<scalar_t>(weight ? &*weight : nullptr, param);
    with_activation(act, [&](auto a) {
      constexpr Act A = decltype(a)::value;
      if (bias) {
        stats_forward<A, true>(out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), p,
                               per_channel<scalar_t>(*bias), geo, fired.data_ptr<int64_t>(),
                               ComputeOp{});
        return;
      }
      with_stats_op<A, scalar_t>(static_cast<float>(p[0]), [&](auto bits_op) {
        stats_forward<A, false>(out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), p, {},
                                geo, fired.data_ptr<int64_t>(), bits_op);
      });
    });
  });
  return {out, fired};
}

}  // namespace

TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("act_stats", &act_stats_cpu);
}

}  // namespace relu_ext
