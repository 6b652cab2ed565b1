// The CUDA elementwise driver shared by every activation: one kernel launch,
// on the current stream, with
//  - a fast path for operands sharing one dense layout: 16-byte vector loads
//    and stores (4 x fp32, 8 x fp16/bf16, 2 x fp64), the misaligned head and the
//    tail done element by element, 64-bit indices;
//  - a strided path for any other layout (broadcast, sliced, ...) through
//    TensorIterator and an offset calculator, split into 32-bit-indexable pieces.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/TensorIterator.h>
#include <ATen/core/Array.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/detail/OffsetCalculator.cuh>
#include <c10/cuda/CUDAGuard.h>

#include <cstdint>
#include <utility>

#include "../common.h"

namespace relu_ext {

constexpr int kBlockSize = 256;

// float16 / bfloat16 storage, computed in float (the exact GELU's cheaper steps, ../common.h
// gelu_half_tail, are for these).
template <typename scalar_t>
constexpr bool kHalfStorage = !std::is_same_v<scalar_t, at::opmath_type<scalar_t>>;

// act_fwd / act_bwd (../common.h) for scalar_t storage: the one place where float16 /
// bfloat16 storage picks the exact GELU's cheaper steps (every CUDA kernel computing a GELU
// calls these).
template <Act A, typename scalar_t, typename T>
__device__ __forceinline__ T act_fwd_stored(T x, T p) {
  return act_fwd<A, kHalfStorage<scalar_t>>(x, p);
}
template <Act A, typename scalar_t, typename T>
__device__ __forceinline__ T act_bwd_stored(T g, T x, T p) {
  return act_bwd<A, kHalfStorage<scalar_t>>(g, x, p);
}

// Blocks for `work_items` threads' work, no more than `waves` times what the device holds at
// once (full occupancy). Kernels whose threads carry work from one grid-stride step to the
// next (a division done once, sums kept) take the default, 4 waves. The element-wise
// kernels, whose steps share nothing, take kDenseWaves: a thread a work item up to 64 waves
// (ATen's vectorized kernels take one 16-byte vector a thread). Short blocks let the device
// keep its SMs busy to the end; in 4 waves each block lasts a quarter of the kernel, and SMs
// idle while the last ones finish (NOTES §49).
constexpr int64_t kDenseWaves = 64;
inline int64_t grid_for(int64_t work_items, int64_t waves = 4) {
  const auto* prop = at::cuda::getCurrentDeviceProperties();
  const int64_t resident =
      int64_t{prop->multiProcessorCount} * (prop->maxThreadsPerMultiProcessor / kBlockSize);
  const int64_t need = (work_items + kBlockSize - 1) / kBlockSize;
  return std::max<int64_t>(1, std::min(resident * waves, need));
}

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// op(in...), or with kBits op(bit, in...) (bit: bit 0 of `bits`).
template <typename opmath_t, bool kBits, typename Op, typename... A>
__device__ __forceinline__ opmath_t call_op(const Op& op, uint32_t bits, A... a) {
  if constexpr (kBits) {
    return op(static_cast<bool>(bits & 1u), a...);
  } else {
    return op(a...);
  }
}

template <typename opmath_t, bool kBits, typename Op, typename T, size_t... I>
__device__ __forceinline__ opmath_t apply_op(const Op& op, uint32_t bits, const T* const* in,
                                             int64_t i, std::index_sequence<I...>) {
  return call_op<opmath_t, kBits>(op, bits, static_cast<opmath_t>(in[I][i])...);
}

template <typename opmath_t, bool kBits, typename Op, typename V, size_t... I>
__device__ __forceinline__ opmath_t apply_op_vec(const Op& op, uint32_t bits, const V* vecs,
                                                 int k, std::index_sequence<I...>) {
  return call_op<opmath_t, kBits>(op, bits, static_cast<opmath_t>(vecs[I].v[k])...);
}

// A thread's share of a dense kernel's n elements: vectors v = tid, tid + stride, ... below
// num_vec (elements head + v * VEC ...), then the head [0, head) and the tail [tail, n).
struct DenseSplit {
  int64_t tid, stride, num_vec, tail;
};
template <int VEC>
__device__ __forceinline__ DenseSplit dense_split(int64_t n, int64_t head) {
  const int64_t num_vec = (n - head) / VEC;
  return {int64_t{blockIdx.x} * blockDim.x + threadIdx.x, int64_t{gridDim.x} * blockDim.x,
          num_vec, head + num_vec * VEC};
}

// out[i] = op(in[0][i], in[1][i], ...) over n elements of one dense layout:
// `head` elements first (until the pointers are 16-byte aligned), then
// VEC-wide vector loads and stores, then the tail. kBits: op(bit i of a 1-bit mask, in...)
// (see "bit masks" below; then head is 0).
template <typename scalar_t, int VEC, int NIN, bool kBits = false, typename Op>
__global__ void elementwise_dense_kernel(int64_t n, int64_t head, Op op, scalar_t* out,
                                         at::detail::Array<const scalar_t*, NIN> in,
                                         const uint8_t* mask = nullptr) {
  using opmath_t = at::opmath_type<scalar_t>;
  using V = Vec<scalar_t, VEC>;
  constexpr auto idx = std::make_index_sequence<NIN>{};
  const auto bits_at = [mask](int64_t i) -> uint32_t {
    if constexpr (kBits) {
      return mask[i / 8] >> (i % 8);
    } else {
      return 0;
    }
  };
  const auto r = dense_split<VEC>(n, head);
  for (int64_t v = r.tid; v < r.num_vec; v += r.stride) {
    const int64_t i = head + v * VEC;
    const uint32_t bits = bits_at(i);
    V loaded[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k) loaded[k] = *reinterpret_cast<const V*>(in[k] + i);
    V o;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      o.v[k] =
          static_cast<scalar_t>(apply_op_vec<opmath_t, kBits>(op, bits >> k, loaded, k, idx));
    }
    *reinterpret_cast<V*>(out + i) = o;
  }
  // Head [0, head) and tail [tail, n), element by element.
  for (int64_t j = r.tid; j < head + (n - r.tail); j += r.stride) {
    const int64_t i = j < head ? j : r.tail + (j - head);
    out[i] = static_cast<scalar_t>(apply_op<opmath_t, kBits>(op, bits_at(i), in.data, i, idx));
  }
}

template <typename scalar_t, int N, typename Op>
__global__ void elementwise_strided_kernel(int n, OffsetCalculator<N> offsets,
                                           at::detail::Array<char*, N> data, Op op) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int stride = gridDim.x * blockDim.x;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const auto off = offsets.get(i);
    opmath_t args[N - 1];
#pragma unroll
    for (int k = 1; k < N; ++k) {
      args[k - 1] = static_cast<opmath_t>(*reinterpret_cast<const scalar_t*>(data[k] + off[k]));
    }
    opmath_t r;
    if constexpr (N == 2) r = op(args[0]);
    if constexpr (N == 3) r = op(args[0], args[1]);
    if constexpr (N == 4) r = op(args[0], args[1], args[2]);
    *reinterpret_cast<scalar_t*>(data[0] + off[0]) = static_cast<scalar_t>(r);
  }
}

template <typename scalar_t, int N, typename Op>
void launch_strided(at::TensorIteratorBase& iter, const Op& op) {
  if (!iter.can_use_32bit_indexing()) {
    for (auto& sub : iter.with_32bit_indexing()) launch_strided<scalar_t, N>(sub, op);
    return;
  }
  const int64_t n = iter.numel();
  if (n == 0) return;
  at::detail::Array<char*, N> data;
  for (int k = 0; k < N; ++k) data[k] = static_cast<char*>(iter.data_ptr(k));
  auto offsets = make_offset_calculator<N>(iter);
  elementwise_strided_kernel<scalar_t, N>
      <<<grid_for(n, kDenseWaves), kBlockSize, 0, at::cuda::getCurrentCUDAStream()>>>(
          static_cast<int>(n), offsets, data, op);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// For 16-byte vector loads and stores over tensors of one dense layout and dtype: the
// elements to take one by one before the first 16-byte boundary (at most n), or -1 when the
// tensors' starts are not equally misaligned (then no element is vector-aligned in all of them).
template <typename... Ts>
int64_t vector_head(const at::Tensor& out, const Ts&... ins) {
  const auto misalign = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16; };
  const uintptr_t m = misalign(out.const_data_ptr());
  const auto size = static_cast<uintptr_t>(out.element_size());
  if (!((misalign(ins.const_data_ptr()) == m) && ...) || m % size != 0) return -1;
  return std::min<int64_t>(out.numel(), ((16 - m) % 16) / size);
}

// Elements a thread takes at once over such tensors: 16 / element size when all their
// starts are 16-byte aligned, else 1.
template <typename... Ts>
int vector_width(const at::Tensor& out, const Ts&... ins) {
  return vector_head(out, ins...) == 0 ? static_cast<int>(16 / out.element_size()) : 1;
}

// `t` in `like`'s dense layout: itself when it has it, else a copy into it.
inline at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& like) {
  return same_dense_layout(like, t) ? t : at::empty_like(like).copy_(t);
}

// out[i] = op(ins[i]...), op a __device__ lambda on the compute type (float for
// half/bfloat16). `out` is allocated by the caller; it may be one of the inputs
// (in-place), never a partial overlap of one (that raises).
template <typename scalar_t, typename Op, typename... Ts>
void cuda_elementwise(const at::Tensor& out, const Op& op, const Ts&... ins) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const auto stream = at::cuda::getCurrentCUDAStream();
  if (same_dense_layout(out, ins...)) {
    constexpr int kVec = 16 / sizeof(scalar_t);
    constexpr int kIn = sizeof...(Ts);
    at::detail::Array<const scalar_t*, kIn> in;
    int k = 0;
    ((in[k++] = ins.template const_data_ptr<scalar_t>()), ...);
    const int64_t head = vector_head(out, ins...);
    if (head >= 0) {
      elementwise_dense_kernel<scalar_t, kVec, kIn>
          <<<grid_for((n + kVec - 1) / kVec, kDenseWaves), kBlockSize, 0, stream>>>(
              n, head, op, out.data_ptr<scalar_t>(), in);
    } else {
      elementwise_dense_kernel<scalar_t, 1, kIn>
          <<<grid_for(n, kDenseWaves), kBlockSize, 0, stream>>>(n, 0, op,
                                                                out.data_ptr<scalar_t>(), in);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
  at::TensorIteratorConfig config;
  config.add_output(out);
  (config.add_const_input(ins), ...);
  auto iter = config.build();
  launch_strided<scalar_t, sizeof...(Ts) + 1>(iter, op);
}

// ------------------------------------------------- per-channel maps --
// out[m] = op(x[m], c) over a dense tensor, c the channel of memory position m:
// (m / inner) % channels. Vector loads and stores as cuda_elementwise's; a thread works out
// its first vector's channel once, then steps it by the grid stride (ChannelStep, below).
//
// Memory position i's place in its run (i % inner) and channel ((i / inner) % channels),
// moved forward by a fixed count d with adds alone: `rem` = d % inner, `runs` = (d / inner) %
// channels, worked out once (a 64-bit division costs more than an element's arithmetic).
struct ChannelStep {
  int64_t rem, runs;
};
__device__ __forceinline__ ChannelStep channel_step(int64_t d, int64_t inner, int64_t channels) {
  return {d % inner, (d / inner) % channels};
}
__device__ __forceinline__ void channel_advance(int64_t& pos, int64_t& c, ChannelStep s,
                                                int64_t inner, int64_t channels) {
  pos += s.rem;
  c += s.runs;
  if (pos >= inner) {
    pos -= inner;
    ++c;
  }
  if (c >= channels) c -= channels;  // c + runs + 1 < 2 * channels
}

template <typename scalar_t, int VEC, typename Op>
__global__ void channel_elementwise_kernel(int64_t n, int64_t head, Op op, scalar_t* out,
                                           const scalar_t* x, int64_t inner, int64_t channels) {
  using opmath_t = at::opmath_type<scalar_t>;
  using V = Vec<scalar_t, VEC>;
  const auto r = dense_split<VEC>(n, head);
  const int64_t first = head + r.tid * VEC;  // the thread's first vector, then r.stride apart
  int64_t pos = first % inner, c = (first / inner) % channels;
  const ChannelStep step = channel_step(r.stride * VEC, inner, channels);
  for (int64_t v = r.tid; v < r.num_vec; v += r.stride) {
    const int64_t i = head + v * VEC;
    const V xv = *reinterpret_cast<const V*>(x + i);
    V o;
    int64_t p = pos, ck = c;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      o.v[k] = static_cast<scalar_t>(op(static_cast<opmath_t>(xv.v[k]), ck));
      if (++p == inner) {
        p = 0;
        if (++ck == channels) ck = 0;
      }
    }
    *reinterpret_cast<V*>(out + i) = o;
    channel_advance(pos, c, step, inner, channels);
  }
  for (int64_t j = r.tid; j < head + (n - r.tail); j += r.stride) {
    const int64_t i = j < head ? j : r.tail + (j - head);
    out[i] = static_cast<scalar_t>(op(static_cast<opmath_t>(x[i]), (i / inner) % channels));
  }
}

// out and x share one dense layout; op a __device__ lambda (x on the compute type, channel).
template <typename scalar_t, typename Op>
void cuda_channel_elementwise(const at::Tensor& out, const at::Tensor& x, int64_t inner,
                              int64_t channels, const Op& op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, x));
  constexpr int kVec = 16 / sizeof(scalar_t);
  const auto stream = at::cuda::getCurrentCUDAStream();
  const int64_t head = vector_head(out, x);
  if (head >= 0) {
    channel_elementwise_kernel<scalar_t, kVec>
        <<<grid_for((n + kVec - 1) / kVec), kBlockSize, 0, stream>>>(
            n, head, op, out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), inner,
            channels);
  } else {
    channel_elementwise_kernel<scalar_t, 1><<<grid_for(n), kBlockSize, 0, stream>>>(
        n, 0, op, out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), inner, channels);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ------------------------------------------------------------ bit masks --
// 1-bit-per-element masks (../common.h): bit i of 32-bit word i / 32 for memory position i
// of dense tensors, which on a little-endian GPU is bit i % 8 of byte i / 8. With every
// tensor 16-byte aligned, a thread takes VEC consecutive elements (one 16-byte vector: 8
// fp16/bf16, 4 fp32, 2 fp64), so its VEC bits are one mask byte or a piece of one: for the
// forward, the 8 / VEC lanes sharing a byte OR their pieces together by warp shuffles and the
// first stores the byte; for the backward, a thread reads its piece of a byte. Otherwise
// VEC = 1: a thread takes one element (and 8 lanes share a byte). Elements past the last
// whole warp's worth (32 * VEC): the forward's warps take 32 at a time and pack each word
// with __ballot_sync.

template <typename scalar_t, int VEC, typename Op, typename Pred>
__global__ void elementwise_bits_out_kernel(int64_t n, Op op, Pred pred, scalar_t* out,
                                            const scalar_t* in, uint32_t* mask) {
  using opmath_t = at::opmath_type<scalar_t>;
  using V = Vec<scalar_t, VEC>;
  static_assert(8 % VEC == 0, "a thread's bits lie in one mask byte");
  constexpr int kLanesPerByte = 8 / VEC;
  constexpr int64_t kChunk = 32 * VEC;  // a warp's elements a step
  const int lane = threadIdx.x % 32;
  const int64_t warp = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = int64_t{gridDim.x} * blockDim.x / 32;
  const int64_t chunks = n / kChunk;
  auto* bytes = reinterpret_cast<uint8_t*>(mask);
  for (int64_t c = warp; c < chunks; c += warps) {  // uniform across the warp
    const int64_t i = c * kChunk + lane * VEC;
    const V xv = *reinterpret_cast<const V*>(in + i);
    V o;
    uint32_t bits = 0;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const auto x = static_cast<opmath_t>(xv.v[k]);
      o.v[k] = static_cast<scalar_t>(op(x));
      bits |= static_cast<uint32_t>(pred(x)) << k;
    }
    *reinterpret_cast<V*>(out + i) = o;
    bits <<= i % 8;
#pragma unroll
    for (int s = 1; s < kLanesPerByte; s *= 2) bits |= __shfl_down_sync(0xffffffffu, bits, s);
    if (lane % kLanesPerByte == 0) bytes[i / 8] = static_cast<uint8_t>(bits);
  }
  for (int64_t base = chunks * kChunk + warp * 32; base < n; base += warps * 32) {
    const int64_t i = base + lane;
    bool bit = false;
    if (i < n) {
      const auto x = static_cast<opmath_t>(in[i]);
      out[i] = static_cast<scalar_t>(op(x));
      bit = pred(x);
    }
    const uint32_t word = __ballot_sync(0xffffffffu, bit);
    if (lane == 0) mask[base / 32] = word;
  }
}

// out[i] = op(x[i]) and bit i of mask = pred(x[i]); out and x share one dense layout.
template <typename scalar_t, typename Op, typename Pred>
void cuda_elementwise_bits_out(const at::Tensor& out, const at::Tensor& mask, const Op& op,
                               const Pred& pred, const at::Tensor& x) {
  const int64_t n = out.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, x));
  constexpr int kVec = 16 / sizeof(scalar_t);
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto* words = reinterpret_cast<uint32_t*>(mask.data_ptr<uint8_t>());
  if (vector_head(out, x) == 0) {
    elementwise_bits_out_kernel<scalar_t, kVec>
        <<<grid_for((n + kVec - 1) / kVec, kDenseWaves), kBlockSize, 0, stream>>>(
            n, op, pred, out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), words);
  } else {
    elementwise_bits_out_kernel<scalar_t, 1><<<grid_for(n, kDenseWaves), kBlockSize, 0, stream>>>(
        n, op, pred, out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), words);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// out[i] = op(bit i of mask, ins[i]...) (one or two inputs); all share out's dense layout:
// elementwise_dense_kernel with kBits, a thread's VEC bits read from one mask byte.
template <typename scalar_t, typename Op, typename... Ts>
void cuda_elementwise_bits_in(const at::Tensor& out, const at::Tensor& mask, const Op& op,
                              const Ts&... ins) {
  static_assert(sizeof...(Ts) == 1 || sizeof...(Ts) == 2, "one or two inputs");
  const int64_t n = out.numel();
  if (n == 0) return;
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, ins...));
  constexpr int kIn = sizeof...(Ts);
  constexpr int kVec = 16 / sizeof(scalar_t);
  at::detail::Array<const scalar_t*, kIn> in;
  int k = 0;
  ((in[k++] = ins.template const_data_ptr<scalar_t>()), ...);
  const auto stream = at::cuda::getCurrentCUDAStream();
  const uint8_t* bits = mask.const_data_ptr<uint8_t>();
  if (vector_head(out, ins...) == 0) {
    elementwise_dense_kernel<scalar_t, kVec, kIn, true>
        <<<grid_for((n + kVec - 1) / kVec, kDenseWaves), kBlockSize, 0, stream>>>(
            n, 0, op, out.data_ptr<scalar_t>(), in, bits);
  } else {
    elementwise_dense_kernel<scalar_t, 1, kIn, true>
        <<<grid_for(n, kDenseWaves), kBlockSize, 0, stream>>>(n, 0, op, out.data_ptr<scalar_t>(),
                                                              in, bits);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Sum of `v` over the block (kBlockSize threads), by a fixed tree (warp shuffles, then across
// warps): the same inputs always give the same bits. Valid in thread 0; every thread must call.
template <typename acc_t>
__device__ acc_t block_sum(acc_t v) {
  __shared__ acc_t warp_sums[kBlockSize / 32];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kBlockSize / 32 ? warp_sums[lane] : acc_t(0);
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

// ------------------------------------------------ per-channel sums --
// One pass over dense tensors of one layout that writes out[m] = op(c, sums, in[0][m], ...)
// and sums K values per channel (op adds its terms into sums.v[0..K)), with no atomics and a
// fixed order (bitwise deterministic run to run): each block sums a fixed piece of the data
// into partials, laid out [K][columns][slices]; channel_totals (below) adds each channel's
// in order. c is the channel of memory position m. Where every pointer is 16-byte aligned
// and the pieces are whole vectors (sp.vec > 1), a thread loads and stores 16 bytes at a
// time (4 fp32, 8 fp16/bf16, 2 fp64), as cuda_elementwise does; else one element.
// Runs of 32 elements or more (N, C, H, W with H * W >= 32): block b takes slice b % slices
// of channel b / slices, its threads along the runs (a vector never crosses a run: inner is
// a whole number of them). Shorter runs, down to the channels being the innermost dim (inner
// == 1: (N, C) after nn.Linear, channels_last): the tensor seen as rows of channels * inner
// columns, a block takes 32 * vec columns of a slice of rows, a warp's threads 32
// neighbouring vectors of a row (coalesced), its 8 warps every 8th row; a thread keeps each
// of its vec columns' sums apart, and a channel's partials are those of its inner columns.
// What the partial sums of scalar_t terms are kept in: double for double, else float.
template <typename scalar_t>
using sum_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

template <typename acc_t, int K>
struct Sums {
  acc_t v[K];
};

struct ChannelSplit {
  int64_t channels, inner;
  bool rows;                // the rows kernel: columns = channels * inner, per_channel = rows
  int64_t columns, per_channel;
  int64_t per_slice, slices;  // from the shape (and vec) alone, never from the device
  int vec;                    // elements a thread takes at once: 16 / element size, or 1
  // Partial sums per term (K of them): columns * slices; a channel's are consecutive.
  C10_HOST_DEVICE int64_t parts() const { return columns * slices; }
  C10_HOST_DEVICE int64_t parts_per_channel() const { return (rows ? inner : 1) * slices; }
};

constexpr int kSumColumns = 32, kSumRowLanes = kBlockSize / kSumColumns;

constexpr int64_t kSumShortRun = 32;  // runs shorter than this: the rows kernel

// vec: vector_width of the tensors channel_sums will take.
inline ChannelSplit channel_split(int64_t n, int64_t channels, int64_t inner, int vec) {
  const bool rows = inner < kSumShortRun && channels * inner > 1;
  const int64_t columns = rows ? channels * inner : channels;
  if ((rows ? columns : inner) % vec != 0) vec = 1;  // rows / runs of whole vectors
  ChannelSplit sp{channels, inner, rows, columns, n / columns, 0, 0, vec};
  if (rows) {
    // Slices enough for ~2^20 threads with work (a thread a vector column and row lane a
    // slice: with few columns, many slices), 4 rows a row lane or more, at most 65535
    // (grid dim y): (4096, 1024) float32 makes 128 slices, (64K, 1024) 512, (32M, 2) 65409.
    const int64_t vector_columns = columns / vec;
    const int64_t target =
        std::max<int64_t>(1, (int64_t{1} << 20) / (vector_columns * kSumRowLanes));
    sp.per_slice = std::max({int64_t{4} * kSumRowLanes, (sp.per_channel + target - 1) / target,
                             (sp.per_channel + 65534) / 65535});
  } else {  // ~8K elements a slice, at most 4096 slices a channel, whole vectors
    const int64_t slices = std::min<int64_t>(4096, (sp.per_channel + 8191) / 8192);
    sp.per_slice = (sp.per_channel + slices * vec - 1) / (slices * vec) * vec;
  }
  sp.slices = std::max<int64_t>(1, (sp.per_channel + sp.per_slice - 1) / sp.per_slice);
  return sp;
}

// op(c, sums, in[0][i], in[1][i], ...) for element k of a thread's loaded vectors.
template <typename opmath_t, typename Op, typename S, typename V, size_t... I>
__device__ __forceinline__ opmath_t apply_sums_op(const Op& op, int64_t c, S& sums,
                                                  const V* loaded, int k,
                                                  std::index_sequence<I...>) {
  return op(c, sums, static_cast<opmath_t>(loaded[I].v[k])...);
}

// One vector step of the kernels below: VEC elements at m of each input loaded, out[m + k] =
// op(channel(k), sums_at(k), ...) stored.
template <int VEC, typename scalar_t, int NIN, typename Op, typename Channel, typename SumsAt>
__device__ __forceinline__ void channel_sums_step(const Op& op, scalar_t* out,
                                                  const at::detail::Array<const scalar_t*, NIN>& in,
                                                  int64_t m, Channel channel, SumsAt sums_at) {
  using V = Vec<scalar_t, VEC>;
  V loaded[NIN];
#pragma unroll
  for (int j = 0; j < NIN; ++j) loaded[j] = *reinterpret_cast<const V*>(in[j] + m);
  V o;
#pragma unroll
  for (int k = 0; k < VEC; ++k) {
    o.v[k] = static_cast<scalar_t>(apply_sums_op<at::opmath_type<scalar_t>>(
        op, channel(k), sums_at(k), loaded, k, std::make_index_sequence<NIN>{}));
  }
  *reinterpret_cast<V*>(out + m) = o;
}

template <typename acc_t, int K, int VEC, int NIN, typename scalar_t, typename Op>
__global__ void channel_slices_kernel(ChannelSplit sp, Op op, scalar_t* out,
                                      at::detail::Array<const scalar_t*, NIN> in,
                                      acc_t* partials) {
  const int64_t c = blockIdx.x / sp.slices, s = blockIdx.x % sp.slices;
  const int64_t begin = s * sp.per_slice;
  const int64_t end = std::min(sp.per_channel, begin + sp.per_slice);
  const int64_t step = int64_t{blockDim.x} * VEC;
  Sums<acc_t, K> sums{};
  const auto visit = [&](int64_t outer, int64_t pos) {  // VEC elements of one run
    channel_sums_step<VEC>(
        op, out, in, (outer * sp.channels + c) * sp.inner + pos, [c](int) { return c; },
        // (by pointer: nvcc takes `return sums` of a reference capture for a local's reference)
        [p = &sums](int) -> Sums<acc_t, K>& { return *p; });
  };
  // (outer, pos) of k, stepped by adds: step = outer_step * inner + pos_step
  int64_t k = begin + int64_t{threadIdx.x} * VEC;
  int64_t outer = k / sp.inner, pos = k - outer * sp.inner;
  const int64_t outer_step = step / sp.inner, pos_step = step - outer_step * sp.inner;
  for (; k < end; k += step) {
    visit(outer, pos);
    outer += outer_step;
    pos += pos_step;
    if (pos >= sp.inner) {
      pos -= sp.inner;
      ++outer;
    }
  }
#pragma unroll
  for (int j = 0; j < K; ++j) {
    const acc_t total = block_sum(sums.v[j]);
    if (threadIdx.x == 0) partials[j * sp.parts() + blockIdx.x] = total;
  }
}

template <typename acc_t, int K, int VEC, int NIN, typename scalar_t, typename Op>
__global__ void channel_rows_kernel(ChannelSplit sp, Op op, scalar_t* out,
                                    at::detail::Array<const scalar_t*, NIN> in,
                                    acc_t* partials) {
  constexpr int kCols = kSumColumns * VEC;  // a block's columns
  __shared__ acc_t lanes[K][kSumRowLanes][kCols];
  const int tx = threadIdx.x % kSumColumns, ty = threadIdx.x / kSumColumns;
  const int64_t first = int64_t{blockIdx.x} * kCols;
  const int64_t col = first + tx * VEC, s = blockIdx.y;  // the thread's columns [col, col+VEC)
  const int64_t begin = s * sp.per_slice;
  const int64_t end = std::min(sp.per_channel, begin + sp.per_slice);
  Sums<acc_t, K> sums[VEC] = {};
  if (col < sp.columns) {  // columns: a whole number of vectors
    int64_t channel[VEC];    // of each of the thread's columns
    channel[0] = col / sp.inner;
    for (int64_t k = 1, pos = col - channel[0] * sp.inner; k < VEC; ++k) {
      channel[k] = channel[k - 1] + (++pos == sp.inner);
      if (pos == sp.inner) pos = 0;
    }
    for (int64_t r = begin + ty; r < end; r += kSumRowLanes) {
      channel_sums_step<VEC>(
          op, out, in, r * sp.columns + col, [&channel](int k) { return channel[k]; },
          [&sums](int k) -> Sums<acc_t, K>& { return sums[k]; });
    }
  }
#pragma unroll
  for (int k = 0; k < VEC; ++k) {
#pragma unroll
    for (int j = 0; j < K; ++j) lanes[j][ty][tx * VEC + k] = sums[k].v[j];
  }
  __syncthreads();
  for (int cc = threadIdx.x; cc < kCols; cc += blockDim.x) {  // a column's 8 lanes in order
    if (first + cc >= sp.columns) break;
#pragma unroll
    for (int j = 0; j < K; ++j) {
      acc_t total = 0;
      for (int l = 0; l < kSumRowLanes; ++l) total += lanes[j][l][cc];
      partials[j * sp.parts() + (first + cc) * sp.slices + s] = total;
    }
  }
}

template <typename acc_t, int K, int VEC, typename scalar_t, typename Op, int NIN>
void launch_channel_sums(const ChannelSplit& sp, const Op& op, acc_t* partials, scalar_t* out,
                         const at::detail::Array<const scalar_t*, NIN>& in) {
  const auto stream = at::cuda::getCurrentCUDAStream();
  if (sp.rows) {
    const dim3 grid(static_cast<unsigned>((sp.columns + kSumColumns * VEC - 1) /
                                          (kSumColumns * VEC)),
                    static_cast<unsigned>(sp.slices));
    channel_rows_kernel<acc_t, K, VEC, NIN>
        <<<grid, kBlockSize, 0, stream>>>(sp, op, out, in, partials);
  } else {
    channel_slices_kernel<acc_t, K, VEC, NIN>
        <<<sp.channels * sp.slices, kBlockSize, 0, stream>>>(sp, op, out, in, partials);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Runs op over every element (see above): `out` and `ins` (one or two) share one dense
// layout, and sp is channel_split(..., vector_width(out, ins...)); partials: K * sp.parts()
// values. op: a __device__ lambda (int64_t c, Sums<acc_t, K>& sums, opmath_t in...) ->
// opmath_t, the value stored to out.
template <typename acc_t, int K, typename scalar_t, typename Op, typename... Ts>
void channel_sums(const ChannelSplit& sp, const Op& op, acc_t* partials, const at::Tensor& out,
                  const Ts&... ins) {
  constexpr int kIn = sizeof...(Ts), kVec = 16 / sizeof(scalar_t);
  TORCH_INTERNAL_ASSERT(same_dense_layout(out, ins...) && (sp.vec == 1 || sp.vec == kVec));
  at::detail::Array<const scalar_t*, kIn> in;
  int j = 0;
  ((in[j++] = ins.template const_data_ptr<scalar_t>()), ...);
  if (sp.vec == kVec) {
    launch_channel_sums<acc_t, K, kVec>(sp, op, partials, out.data_ptr<scalar_t>(), in);
  } else {
    launch_channel_sums<acc_t, K, 1>(sp, op, partials, out.data_ptr<scalar_t>(), in);
  }
}

// Each channel's total from one term's channel_sums partials (`partials`: sp.parts() values,
// each channel's `parts_per_channel` consecutive ones), added in double in a fixed order (the
// same bits run to run; the order depends on the shape alone): out[c * out_stride], one
// thread a channel adding its partials in a row, or with kWarp (64 partials or more) one
// warp a channel (lane l adds partials l, l + 32, ... in order, then the warp's shuffle
// tree); with reduce_all, every channel's into out[0] (one weight shared by all channels), as
// one channel's, 64 or more by one block (thread t adds t, t + 256, ..., then block_sum).
// Fewer partials stay one thread's: less to launch, and much less to emulate (tests/cuda_emu
// runs each thread as a fiber). (One thread adding every partial in a row was the likely
// cause of LinearAct's shared-weight PReLU taking 1.65 ms against ATen's 0.62 on an H200: 32K
// partials; NOTES §47.)
constexpr int64_t kWarpTotals = 64;

template <typename scalar_t, typename acc_t, bool kWarp>
__global__ void channel_totals_kernel(const acc_t* partials, int64_t parts_per_channel,
                                      int64_t channels, scalar_t* out, int64_t out_stride) {
  constexpr int kLanes = kWarp ? 32 : 1;
  const int lane = threadIdx.x % kLanes;
  const int64_t c = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / kLanes;
  if (c >= channels) return;  // a warp's lanes alike
  double sum = 0;
  for (int64_t i = lane; i < parts_per_channel; i += kLanes) {
    sum += static_cast<double>(partials[c * parts_per_channel + i]);
  }
  if constexpr (kWarp) {
    for (int offset = 16; offset > 0; offset /= 2) {
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    }
  }
  if (lane == 0) out[c * out_stride] = static_cast<scalar_t>(sum);
}

template <typename scalar_t, typename acc_t>
__global__ void grand_total_kernel(const acc_t* partials, int64_t count, scalar_t* out) {
  double sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    sum += static_cast<double>(partials[i]);
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[0] = static_cast<scalar_t>(sum);
}

template <typename scalar_t, typename acc_t>
void channel_totals(const acc_t* partials, const ChannelSplit& sp, bool reduce_all, scalar_t* out,
                    int64_t out_stride = 1) {
  const auto stream = at::cuda::getCurrentCUDAStream();
  // reduce_all: every channel's partials, consecutive, as one channel's
  const int64_t channels = reduce_all ? 1 : sp.channels;
  const int64_t per_channel = sp.parts_per_channel() * (reduce_all ? sp.channels : 1);
  if (reduce_all && per_channel >= kWarpTotals) {
    grand_total_kernel<scalar_t, acc_t><<<1, kBlockSize, 0, stream>>>(partials, per_channel, out);
  } else if (per_channel >= kWarpTotals) {
    constexpr int64_t kPerBlock = kBlockSize / 32;
    channel_totals_kernel<scalar_t, acc_t, true>
        <<<static_cast<unsigned>((channels + kPerBlock - 1) / kPerBlock), kBlockSize, 0,
           stream>>>(partials, per_channel, channels, out, out_stride);
  } else {
    channel_totals_kernel<scalar_t, acc_t, false>
        <<<static_cast<unsigned>((channels + kBlockSize - 1) / kBlockSize), kBlockSize, 0,
           stream>>>(partials, per_channel, channels, out, out_stride);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The activation's parameter for channel c on the device: PReLU's weight (one for all
// channels, or one a channel), else the scalar `param` (slope, alpha).
template <typename scalar_t>
struct ChannelParam {
  using opmath_t = at::opmath_type<scalar_t>;
  const scalar_t* weight;
  bool per_channel;
  opmath_t param;
  __device__ opmath_t operator()(int64_t c) const {
    return weight ? static_cast<opmath_t>(weight[per_channel ? c : 0]) : param;
  }
};
template <typename scalar_t>
ChannelParam<scalar_t> channel_param(const at::Tensor& weight, double param) {
  return {weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr,
          weight.defined() && weight.numel() > 1,
          static_cast<at::opmath_type<scalar_t>>(param)};
}

}  // namespace relu_ext
