// PReLU on CPU: y = x if x > 0 else w[c] * x, c the channel (dim 1).
//   d/dx = 1 if x > 0 else w[c];   d/dw[c] = sum over channel c of (x > 0 ? 0 : x) * g.
// The backward computes both in one pass. The weight gradient is summed in
// fixed-size chunks of the iteration into per-chunk partials (double; float and the half
// types first add at most 64 vectors' or rows' terms of a channel in float), then reduced in
// chunk order, so it is bitwise identical at any thread count.
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "act_vec.h"
#include "loops.h"

namespace relu_ext {
namespace {

// Where for_each_channel_piece last stopped: the next element, the end of its channel's piece
// and its channel.
struct ChannelCursor {
  int64_t next = -1;
  int64_t stop = 0;
  int64_t c = 0;
};

// Calls f(begin, end, c) for the pieces of [begin, end) that lie in one channel (two
// divisions in all, not two per piece: pieces are often short, e.g. 64 elements; none where
// begin is where `cursor` stopped: the streamed loops call this per 512-byte block).
template <typename F>
inline void for_each_channel_piece(int64_t begin, int64_t end, int64_t inner, int64_t channels,
                                   ChannelCursor& cursor, const F& f) {
  if (begin != cursor.next) {
    cursor = {begin, (begin / inner + 1) * inner, begin / inner % channels};
  }
  int64_t stop = cursor.stop, c = cursor.c;
  while (begin < end) {
    const int64_t e = std::min(end, stop);
    f(begin, e, c);
    begin = e;
    if (e == stop) {
      stop += inner;
      if (++c == channels) c = 0;
    }
  }
  cursor = {end, stop, c};
}

// The weights in the compute type: float and double as they are, the half types widened once
// per call (w_store keeps them).
template <typename scalar_t, typename opmath_t = at::opmath_type<scalar_t>>
const opmath_t* weights_in_opmath(const scalar_t* w, int64_t channels,
                                  std::vector<opmath_t>* w_store) {
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    return w;
  } else {
    w_store->assign(w, w + channels);
    return w_store->data();
  }
}

// The forward's float and half-type loops take at::vec, four vectors a step (half types
// widened in registers): the compiler's own loops do not vectorize c10::Half's scalar
// conversions (about 6 ns an element; float16 rows 39x slower) and in bfloat16 took
// 1.17-1.26x relu's time (forward, 4M-16M; now 1.04-1.14x); in float32 its loop of one vector
// a step took 82-86 µs at 1M elements in some processes against 59 in others (NOTES §63).
// Double's loops are the compiler's; the baseline library's generic vectors are slower than
// its scalar loops.
template <typename scalar_t>
constexpr bool kVecForward =
    std::is_same_v<at::opmath_type<scalar_t>, float> && !RELU_EXT_GENERIC_VEC;
// The backward's float and half-type loops in at::vec (the baseline library's generic vectors
// are slower than its scalar float loop).
template <typename scalar_t>
constexpr bool kVecFloat = std::is_same_v<at::opmath_type<scalar_t>, float> &&
                           !(RELU_EXT_GENERIC_VEC && std::is_same_v<scalar_t, float>);

// Elements [first, first + count) of the forward into dst[0, count): rows of C channels
// (inner == 1) or runs of `inner` elements of one channel; w in the compute type. kSplit:
// float's input loaded in halves (split_loads(), cpu_choices.h; NOTES §65).
template <bool kSplit, typename scalar_t, typename opmath_t = at::opmath_type<scalar_t>>
inline void prelu_forward_range(scalar_t* dst, const scalar_t* x, const opmath_t* w,
                                int64_t first, int64_t count, int64_t channels, int64_t inner,
                                ChannelCursor& cursor) {
  using VF = at::vec::Vectorized<float>;
  const int64_t end = first + count;
  if (inner == 1) {
    for (int64_t i = first, c = first % channels; i < end; c = 0) {
      const int64_t n = std::min(end - i, channels - c);
      if constexpr (kVecForward<scalar_t>) {
        run_steps<VF::size()>(n, [&](int64_t k, auto vecs, int64_t m) RELU_EXT_STEP {
          constexpr int64_t R = decltype(vecs)::value;
          VF y[R];
          for (int64_t r = 0; r < R; ++r) {
            const int64_t j = k + r * VF::size();
            y[r] = leaky_relu_fwd_vec(load_wide<kSplit>(x + i + j, m), VF::loadu(w + c + j, m));
          }
          store_narrow(dst + (i - first) + k, y, m);
        });
      } else {
        for (int64_t k = 0; k < n; ++k) {
          dst[i - first + k] =
              static_cast<scalar_t>(prelu_fwd(static_cast<opmath_t>(x[i + k]), w[c + k]));
        }
      }
      i += n;
    }
    return;
  }
  for_each_channel_piece(first, end, inner, channels, cursor,
                         [&](int64_t b, int64_t e, int64_t c) {
    const opmath_t wc = w[c];
    if constexpr (kVecForward<scalar_t>) {
      const VF wv(wc);
      run_steps<VF::size()>(e - b, [&](int64_t i, auto vecs, int64_t m) RELU_EXT_STEP {
        constexpr int64_t R = decltype(vecs)::value;
        VF y[R];
        for (int64_t r = 0; r < R; ++r) {
          y[r] = leaky_relu_fwd_vec(load_wide<kSplit>(x + b + i + r * VF::size(), m), wv);
        }
        store_narrow(dst + (b - first) + i, y, m);
      });
    } else {
      for (int64_t i = b; i < e; ++i) {
        dst[i - first] = static_cast<scalar_t>(prelu_fwd(static_cast<opmath_t>(x[i]), wc));
      }
    }
  });
}

// Threaded; outputs larger than the last-level cache streamed (loops.h), as relu's are.
template <typename scalar_t>
void prelu_forward_dense(scalar_t* out, const scalar_t* x, const scalar_t* weight, int64_t numel,
                         int64_t channels, int64_t inner) {
  std::vector<at::opmath_type<scalar_t>> w_store;
  const auto* w = weights_in_opmath(weight, channels, &w_store);
  const std::array<const scalar_t*, 1> inputs{x};
  const bool stream = detail::use_streaming(out, inputs, numel);
  const auto run = [&](auto kSplit) {
    at::parallel_for(0, numel, kGrainSize, [&](int64_t begin, int64_t end) {
      ChannelCursor cursor;
      detail::write_range(stream, out, begin, end, inputs,
                          [&](scalar_t* dst, int64_t first, int64_t count) {
        prelu_forward_range<kSplit>(dst, x, w, first, count, channels, inner, cursor);
      });
    });
  };
  detail::with_split_loads<std::is_same_v<scalar_t, float>>(run);
}

at::Tensor prelu_forward_cpu(const at::Tensor& self, const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu");
  auto out = empty_like_cpu(self);
  const auto w = weight.contiguous();
  if (self.numel() == 0) return out;
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_forward_cpu", [&] {
    if (same_dense_layout(out, self)) {
      prelu_forward_dense(out.data_ptr<scalar_t>(), self.const_data_ptr<scalar_t>(),
                          w.const_data_ptr<scalar_t>(), self.numel(), w.numel(),
                          channel_inner(self, w.numel()));
    } else {
      cpu_elementwise<scalar_t>(out, [](auto x, auto wc) { return prelu_fwd(x, wc); }, self,
                                broadcast_weight(w, self));
    }
  });
  return out;
}

// The weight gradient is summed per chunk of the iteration, each chunk with its
// own C partial sums (at most numel / 16 + C of them); chunks depend on the
// shape alone. 64K elements, fewer down to 8K for tensors under 512K elements, so that
// those still make eight chunks to share among threads (one chunk ran 64K elements on one
// thread).
int64_t weight_grad_chunk(int64_t numel, int64_t channels, bool rows_of_channels) {
  const int64_t eighth = (numel / 8 + 8191) / 8192 * 8192;
  int64_t chunk = std::max(std::clamp<int64_t>(eighth, 8192, 65536), 16 * channels);
  if (rows_of_channels) chunk = (chunk + channels - 1) / channels * channels;
  return chunk;
}

// Sums the per-chunk partials, in chunk order, into grad_weight.
template <typename scalar_t>
void reduce_partials(const std::vector<double>& partials, int64_t num_chunks, int64_t channels,
                     scalar_t* grad_weight, int64_t grad_weight_stride) {
  at::parallel_for(0, channels, 1024, [&](int64_t c_begin, int64_t c_end) {
    std::vector<double> sum(c_end - c_begin);
    sum_rows_in_order(partials.data(), num_chunks, channels, c_begin, c_end, sum.data());
    for (int64_t c = c_begin; c < c_end; ++c) {
      grad_weight[c * grad_weight_stride] = static_cast<scalar_t>(sum[c - c_begin]);
    }
  });
}

// The inner loops of the dense backward.

// Float and the half types, runs of one channel: grad_input and the weight-gradient terms with
// at::vec (half types widened to float), the terms summed per lane into the channel's float
// vector `lanes` (kept across the chunk's pieces of that channel, so a short piece costs no
// reduction), which is added to the channel's double after at most 64 vectors (`pending`
// counts them) and at the chunk's end: on AVX-512 the 16 lanes widened to two vectors of
// doubles, added, and reduced pairwise (lanes j and j + 8, then j and j + 4, ...: where added
// one by one, a chain of 16 dependent adds, the flushes took a fifth of a 64K-element
// backward, NOTES §44); elsewhere in lane order. Each lane's terms are added in element order:
// the sum depends on the shape (and on streaming, below), never on the thread count.
constexpr int kLaneFlush = 64;
template <typename V>
inline void flush_lanes(V* lanes, int* pending, double* sum) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (V::size() == 16) {
    const __m512 f = *lanes;
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
    *sum += _mm512_reduce_add_pd(
        _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), _mm512_cvtps_pd(high)));
  } else
#endif
  {
    float v[V::size()];
    lanes->store(v);
    for (float f : v) *sum += static_cast<double>(f);
  }
  *lanes = V(0.0f);
  *pending = 0;
}
// One vector of the backward: returns grad_input (x > 0 ? g : g w) and adds the weight
// gradient's term (x > 0 ? 0 : x g) to s. On AVX-512 one compare's mask drives a masked
// multiply and a masked add (no blends: 12 instructions a vector for 14 in bfloat16).
inline at::vec::Vectorized<float> prelu_bwd_step(at::vec::Vectorized<float> g,
                                                 at::vec::Vectorized<float> x,
                                                 at::vec::Vectorized<float> w,
                                                 at::vec::Vectorized<float>* s) {
#if defined(CPU_CAPABILITY_AVX512)
  const __mmask16 not_pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGT_UQ);  // NaN too
  *s = _mm512_mask_add_ps(*s, not_pos, *s, _mm512_mul_ps(x, g));
  return _mm512_mask_mul_ps(g, not_pos, g, w);
#else
  *s = *s + prelu_bwd_weight_vec(g, x);
  return leaky_relu_bwd_vec(g, x, w);
#endif
}

template <typename scalar_t>
void prelu_backward_piece_vec(scalar_t* __restrict__ grad_input,
                              const scalar_t* __restrict__ grad,
                              const scalar_t* __restrict__ x, float w, int64_t n,
                              at::vec::Vectorized<float>* lanes, int* pending, double* sum) {
  using VF = at::vec::Vectorized<float>;
  const VF wv(w);
  VF s = *lanes;
  int count = *pending;
  // R vectors at i, their terms added to s in element order
  const auto step = [&](int64_t i, auto vecs, int64_t m) RELU_EXT_STEP {
    constexpr int64_t R = decltype(vecs)::value;
    VF gi[R];
    for (int64_t k = 0; k < R; ++k) {
      const int64_t j = i + k * VF::size();  // lanes past m load as 0
      gi[k] = prelu_bwd_step(load_wide(grad + j, m), load_wide(x + j, m), wv, &s);
      if (++count == kLaneFlush) flush_lanes(&s, &count, sum);
    }
    store_narrow(grad_input + i, gi, m);
  };
  if constexpr (std::is_same_v<scalar_t, float>) {  // a vector a step (four: 5-10% slower)
    vec_steps<VF::size()>(n, [&](int64_t i, int64_t m) {
      step(i, std::integral_constant<int64_t, 1>{}, m);
    });
  } else {  // the half types kRows vectors a step: a pair narrows in one instruction (-10%)
    run_steps<VF::size()>(n, step);
  }
  *lanes = s;
  *pending = count;
}

// Double (and float in the baseline library, whose generic vectors are slower), one
// channel's piece (restrict pointers: the compiler vectorizes it): writes
// grad_input and returns the weight-gradient sum, kept in eight independent partial sums
// combined in a fixed order.
template <typename scalar_t, typename opmath_t = at::opmath_type<scalar_t>>
C10_NOINLINE double prelu_backward_piece(scalar_t* __restrict__ grad_input,
                                         const scalar_t* __restrict__ grad,
                                         const scalar_t* __restrict__ x, opmath_t w, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      const auto g = static_cast<opmath_t>(grad[i + j]);
      const auto xi = static_cast<opmath_t>(x[i + j]);
      grad_input[i + j] = static_cast<scalar_t>(prelu_bwd_input(g, xi, w));
      lane[j] += static_cast<double>(prelu_bwd_weight(g, xi));
    }
  }
  for (; i < n; ++i) {
    const auto g = static_cast<opmath_t>(grad[i]);
    const auto xi = static_cast<opmath_t>(x[i]);
    grad_input[i] = static_cast<scalar_t>(prelu_bwd_input(g, xi, w));
    lane[0] += static_cast<double>(prelu_bwd_weight(g, xi));
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Channels [0, channels) of a row (channels the fastest dim; the pointers at its first one),
// float and the half types: grad_input, and each channel's weight-gradient term added to its
// float lane, lanes[c] (kRows vectors a step).
template <typename scalar_t>
void prelu_backward_row_vec(scalar_t* __restrict__ grad_input, const scalar_t* __restrict__ grad,
                            const scalar_t* __restrict__ x, const float* __restrict__ w,
                            float* __restrict__ lanes, int64_t channels) {
  using VF = at::vec::Vectorized<float>;
  run_steps<VF::size()>(channels, [&](int64_t c, auto vecs, int64_t m) RELU_EXT_STEP {
    constexpr int64_t R = decltype(vecs)::value;
    VF gi[R];
    for (int64_t k = 0; k < R; ++k) {
      const int64_t ck = c + k * VF::size();
      VF s = VF::loadu(lanes + ck, m);
      gi[k] = prelu_bwd_step(load_wide(grad + ck, m), load_wide(x + ck, m),
                             VF::loadu(w + ck, m), &s);
      s.store(lanes + ck, m);
    }
    store_narrow(grad_input + c, gi, m);
  });
}

// acc[c] += lanes[c], lanes[c] = 0 for the C channels.
inline void flush_row_lanes(float* __restrict__ lanes, double* __restrict__ acc, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    acc[c] += static_cast<double>(lanes[c]);
    lanes[c] = 0.0f;
  }
}

// One row of C channels, double (and, in the baseline library, float and the half types):
// per-channel sums into acc, each term added to its channel's double in row order.
template <typename scalar_t, typename opmath_t = at::opmath_type<scalar_t>>
C10_NOINLINE void prelu_backward_row(scalar_t* __restrict__ grad_input,
                                     const scalar_t* __restrict__ grad,
                                     const scalar_t* __restrict__ x,
                                     const opmath_t* __restrict__ w, double* __restrict__ acc,
                                     int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    const auto g = static_cast<opmath_t>(grad[c]);
    const auto xi = static_cast<opmath_t>(x[c]);
    grad_input[c] = static_cast<scalar_t>(prelu_bwd_input(g, xi, w[c]));
    acc[c] += static_cast<double>(prelu_bwd_weight(g, xi));
  }
}

template <typename scalar_t>
void prelu_backward_dense(scalar_t* grad_input, const scalar_t* grad, const scalar_t* x,
                          const scalar_t* weight, int64_t numel, int64_t channels, int64_t inner,
                          scalar_t* grad_weight, int64_t grad_weight_stride) {
  using opmath_t = at::opmath_type<scalar_t>;
  std::vector<opmath_t> w_store;
  const opmath_t* w = weights_in_opmath(weight, channels, &w_store);
  const int64_t chunk = weight_grad_chunk(numel, channels, inner == 1);
  const int64_t num_chunks = (numel + chunk - 1) / chunk;
  std::vector<double> partials(num_chunks * channels, 0.0);
  // grad_input streamed when larger than the last-level cache (loops.h), as relu's is. In
  // runs the 512-byte blocks then cut pieces in two, which moves terms to other lanes: the
  // weight gradient's last bits depend on whether it streamed (on the size and the machine's
  // cache), never on the thread count.
  const std::array<const scalar_t*, 2> inputs{grad, x};
  const bool stream = detail::use_streaming(grad_input, inputs, numel);
  at::parallel_for(0, num_chunks, 1, [&](int64_t k_begin, int64_t k_end) {
    std::vector<float> row_lanes;  // rows: each channel's float lane
    // runs: each channel's float vector and its count of vectors (flush_lanes), zero again
    // after each chunk (allocated per chunk, they took ~8% of a 64K-element backward)
    std::vector<at::vec::Vectorized<float>> lanes;
    std::vector<int> pending;
    for (int64_t k = k_begin; k < k_end; ++k) {
      double* acc = partials.data() + k * channels;
      const int64_t begin = k * chunk, end = std::min(numel, begin + chunk);
      if (inner == 1) {  // chunks hold whole rows
        if constexpr (!RELU_EXT_GENERIC_VEC && std::is_same_v<at::opmath_type<scalar_t>, float>) {
          // float lanes, added to the doubles every kLaneFlush whole rows and at the chunk's
          // end; grad_input streamed like the runs', in pieces of rows (a lane per channel:
          // the sums do not depend on where the pieces start)
          row_lanes.resize(channels, 0.0f);
          int rows = 0;
          const auto compute = [&](scalar_t* dst, int64_t first, int64_t count) {
            for (int64_t i = first, e = first + count; i < e;) {
              const int64_t c0 = i % channels, n = std::min(channels - c0, e - i);
              prelu_backward_row_vec(dst + (i - first), grad + i, x + i, w + c0,
                                     row_lanes.data() + c0, n);
              i += n;
              if (c0 + n == channels && ++rows == kLaneFlush) {
                flush_row_lanes(row_lanes.data(), acc, channels);
                rows = 0;
              }
            }
          };
          detail::write_range(stream, grad_input, begin, end, inputs, compute);
          flush_row_lanes(row_lanes.data(), acc, channels);
        } else {
          for (int64_t r = begin; r < end; r += channels) {
            prelu_backward_row(grad_input + r, grad + r, x + r, w, acc, channels);
          }
        }
        continue;
      }
      if constexpr (kVecFloat<scalar_t>) {
        using VF = at::vec::Vectorized<float>;
        if (lanes.empty()) {
          lanes.assign(channels, VF(0.0f));
          pending.assign(channels, 0);
        }
        // grad_input[first, first + count) into dst[0, count)
        ChannelCursor cursor;
        const auto compute = [&](scalar_t* dst, int64_t first, int64_t count) {
          for_each_channel_piece(first, first + count, inner, channels, cursor,
                                 [&](int64_t b, int64_t e, int64_t c) {
            prelu_backward_piece_vec(dst + (b - first), grad + b, x + b, w[c], e - b,
                                     &lanes[c], &pending[c], &acc[c]);
          });
        };
        detail::write_range(stream, grad_input, begin, end, inputs, compute);
        for (int64_t c = 0; c < channels; ++c) flush_lanes(&lanes[c], &pending[c], &acc[c]);
      } else {
        ChannelCursor cursor;
        for_each_channel_piece(begin, end, inner, channels, cursor,
                               [&](int64_t b, int64_t e, int64_t c) {
          acc[c] += prelu_backward_piece(grad_input + b, grad + b, x + b, w[c], e - b);
        });
      }
    }
  });
  reduce_partials(partials, num_chunks, channels, grad_weight, grad_weight_stride);
}

// Any other layouts (strided, broadcast grad): through TensorIterator, whose
// fixed linear order is cut into chunks the same way.
template <typename scalar_t>
void prelu_backward_strided(at::TensorIterator& iter, const scalar_t* weight, int64_t channels,
                           scalar_t* grad_weight, int64_t grad_weight_stride) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t numel = iter.numel();
  const int64_t chunk = weight_grad_chunk(numel, channels, false);
  const int64_t num_chunks = (numel + chunk - 1) / chunk;
  std::vector<double> partials(num_chunks * channels, 0.0);

  at::parallel_for(0, num_chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t k = chunk_begin; k < chunk_end; ++k) {
      double* acc = partials.data() + k * channels;
      // operands: 0 grad_input, 1 grad_output, 2 self, 3 weight (broadcast view)
      auto loop = [&](char** base, const int64_t* strides, int64_t size0, int64_t size1) {
        const int64_t* outer = strides + iter.ntensors();
        for (int64_t j = 0; j < size1; ++j) {
          char* gi = base[0] + j * outer[0];
          const char* go = base[1] + j * outer[1];
          const char* x = base[2] + j * outer[2];
          const char* w = base[3] + j * outer[3];
          if (strides[3] == 0) {  // one channel along this row
            const int64_t c = (reinterpret_cast<const scalar_t*>(w) - weight);
            const opmath_t wc = static_cast<opmath_t>(*reinterpret_cast<const scalar_t*>(w));
            double sum = 0;
            for (int64_t i = 0; i < size0; ++i) {
              const opmath_t g = *reinterpret_cast<const scalar_t*>(go + i * strides[1]);
              const opmath_t xi = *reinterpret_cast<const scalar_t*>(x + i * strides[2]);
              *reinterpret_cast<scalar_t*>(gi + i * strides[0]) =
                  static_cast<scalar_t>(prelu_bwd_input(g, xi, wc));
              sum += static_cast<double>(prelu_bwd_weight(g, xi));
            }
            acc[c] += sum;
          } else {
            for (int64_t i = 0; i < size0; ++i) {
              const auto* wp = reinterpret_cast<const scalar_t*>(w + i * strides[3]);
              const opmath_t g = *reinterpret_cast<const scalar_t*>(go + i * strides[1]);
              const opmath_t xi = *reinterpret_cast<const scalar_t*>(x + i * strides[2]);
              *reinterpret_cast<scalar_t*>(gi + i * strides[0]) =
                  static_cast<scalar_t>(prelu_bwd_input(g, xi, static_cast<opmath_t>(*wp)));
              acc[wp - weight] += static_cast<double>(prelu_bwd_weight(g, xi));
            }
          }
        }
      };
      iter.serial_for_each(loop, {k * chunk, std::min(numel, (k + 1) * chunk)});
    }
  });

  reduce_partials(partials, num_chunks, channels, grad_weight, grad_weight_stride);
}

std::tuple<at::Tensor, at::Tensor> prelu_backward_cpu(const at::Tensor& grad_output,
                                                      const at::Tensor& self,
                                                      const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu_backward", "self");
  check_like(grad_output, self, "relu_ext::prelu_backward", "grad_output", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu_backward");
  auto grad_input = empty_like_cpu(self);
  auto grad_weight = empty_like_cpu(weight);
  const auto w = weight.contiguous();
  const int64_t channels = w.numel();
  if (self.numel() == 0) {
    grad_weight.zero_();
    return {grad_input, grad_weight};
  }
  const int64_t gw_stride = channels > 1 ? grad_weight.stride(0) : 0;
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_backward_cpu", [&] {
    if (same_dense_layout(grad_input, grad_output, self)) {
      prelu_backward_dense(grad_input.data_ptr<scalar_t>(), grad_output.const_data_ptr<scalar_t>(),
                           self.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
                           self.numel(), channels, channel_inner(self, channels),
                           grad_weight.data_ptr<scalar_t>(), gw_stride);
      return;
    }
    const auto w_view = broadcast_weight(w, self);
    auto iter = at::TensorIteratorConfig()
                    .add_output(grad_input)
                    .add_const_input(grad_output)
                    .add_const_input(self)
                    .add_const_input(w_view)
                    .build();
    prelu_backward_strided<scalar_t>(iter, w.const_data_ptr<scalar_t>(), channels,
                                     grad_weight.data_ptr<scalar_t>(), gw_stride);
  });
  return {grad_input, grad_weight};
}

}  // namespace

// CPU kernels for prelu, prelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("prelu", &prelu_forward_cpu);
  m.impl("prelu_backward", &prelu_backward_cpu);
}

}  // namespace relu_ext
