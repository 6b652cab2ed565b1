// Fused bias + activation on CPU: y = act(x + b[c]), c the index along `dim`, one pass;
// backward: grad_input = g * act'(x + b[c]) and grad_bias[c] = sum of grad_input over the
// other dims in the same pass (PReLU: also grad_weight[c] = sum of g * min(z, 0)-part).
// The activation's math and derivative are its own (../common.h act_fwd/act_bwd, vectors in
// act_vec.h); float16 / bfloat16 are computed in float in the same loops. Sums: fixed chunks
// of the data (never the thread count) give partial sums, added in chunk order in double:
// bitwise the same at any thread count.
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "channels.h"

namespace relu_ext {
namespace {

// Every loop below walks a row of C (channels the fastest dim) or a run (`inner` elements of
// one channel) with run_steps (loops.h), kRows vectors at a time. (Rows were once taken kRows
// rows at a time, one vector of each, to update the per-channel sums and counts once per
// kRows vectors: on Zen 4 that cost 30-100% over the activation alone, a row at a time 0-20%;
// benchmarks/NOTES.md §15.)

// The piecewise-linear activations in float and double are memory-bound: their loops are
// ones the compiler vectorizes, on the scalar formulas of ../common.h (at 4M float elements
// 6-17% faster than the at::vec loops below on Zen 4, NOTES §25); the per-channel sums in the
// same order as the at::vec loops.
template <Act A, typename scalar_t>
constexpr bool kLinearAuto = std::is_same_v<scalar_t, at::opmath_type<scalar_t>> &&
                             (A == Act::kRelu || A == Act::kLeakyRelu || A == Act::kPrelu);

// y = act(x + b[c]) for channels c in [0, n) of a row, the pointers at its first channel (p:
// the slope or weight, p[c] when per_c)
template <Act A, typename T>
inline void bias_row_linear(T* __restrict__ y, const T* __restrict__ x, const T* __restrict__ b,
                            const T* __restrict__ p, bool per_c, int64_t n) {
  if (per_c) {
    for (int64_t c = 0; c < n; ++c) y[c] = act_fwd<A>(x[c] + b[c], p[c]);
  } else {
    const T p0 = p[0];
    for (int64_t c = 0; c < n; ++c) y[c] = act_fwd<A>(x[c] + b[c], p0);
  }
}
// y = act(x + b) for n elements of one channel
template <Act A, typename T>
inline void bias_run_linear(T* __restrict__ y, const T* __restrict__ x, T b, T p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = act_fwd<A>(x[i] + b, p);
}
// The backward on channels [0, n) of a row, the pointers at its first channel: grad_input
// gi = g * act'(x + b), sb[c] += gi and (PReLU, a weight per channel) sw[c] += its weight term.
// No product joined to a sum in one fma (fp-contract): the compiler would do it in some loops
// (the vector body, the scalar tail) and not others, so a sum's last bits would depend on
// where the row's pieces start (streamed or not).
template <Act A, typename T>
__attribute__((optimize("fp-contract=off"))) void bias_row_linear_bwd(
    T* __restrict__ gi, const T* __restrict__ g, const T* __restrict__ x,
    const T* __restrict__ b, const T* __restrict__ p, bool per_c, T* __restrict__ sb,
    T* __restrict__ sw, int64_t n) {
  if (per_c) {
    for (int64_t c = 0; c < n; ++c) {
      const T z = x[c] + b[c], d = act_bwd<A>(g[c], z, p[c]);
      gi[c] = d;
      sb[c] += d;
      if constexpr (A == Act::kPrelu) sw[c] += prelu_bwd_weight(g[c], z);
    }
  } else {
    const T p0 = p[0];
    for (int64_t c = 0; c < n; ++c) {
      const T d = act_bwd<A>(g[c], x[c] + b[c], p0);
      gi[c] = d;
      sb[c] += d;
    }
  }
}

// The loops below copy the pointers they use into locals first: read through the task's
// closure, every store (which may alias anything under -fno-strict-aliasing) would make the
// compiler load them again. Outputs larger than the last-level cache stream (loops.h): a
// task's range of elements is then computed in 512-byte blocks, which cut rows and runs into
// pieces.
template <Act A, typename scalar_t>
void bias_forward(scalar_t* out, const scalar_t* x, const std::vector<at::opmath_type<scalar_t>>& b,
                  const std::vector<at::opmath_type<scalar_t>>& p, Geometry geo) {
  using T = at::opmath_type<scalar_t>;
  using V = VecOf<scalar_t>;
  const int64_t C = geo.channels;
  const bool per_c = A == Act::kPrelu && p.size() > 1;  // (false at compile time for the others)
  const int64_t unit = geo.inner == 1 ? C : geo.inner;  // a row of C, or a run of one channel
  const std::array<const scalar_t*, 1> inputs{x};  // (what the output streams past)
  const bool stream = detail::use_streaming(out, inputs, geo.n);
  at::parallel_for(0, geo.n / unit, std::max<int64_t>(1, kGrainSize / unit), [&](int64_t u0,
                                                                                int64_t u1) {
    const scalar_t* const xs = x;
    const T* const bs = b.data();
    const T* const ps = p.data();
    const bool pc_each = per_c;
    const V p0(ps[0]);
    // elements [first, first + count) into dst: pieces of rows (channels the fastest dim)
    const auto rows = [&](scalar_t* dst, int64_t first, int64_t count) {
      for (int64_t i = first, end = first + count; i < end;) {
        const int64_t c0 = i % C, n = std::min(C - c0, end - i);
        scalar_t* const y = dst + (i - first);
        const scalar_t* const xi = xs + i;
        const T* const bi = bs + c0;
        const T* const pi = pc_each ? ps + c0 : ps;
        i += n;
        if constexpr (kLinearAuto<A, scalar_t>) {
          bias_row_linear<A>(y, xi, bi, pi, pc_each, n);
        } else {
          run_steps<V::size()>(n, [&](int64_t c, auto vecs, int64_t m) RELU_EXT_STEP {
            constexpr int64_t R = decltype(vecs)::value;
            V z[R];
            for (int64_t k = 0; k < R; ++k) {
              z[k] = load_wide(xi + c + k * V::size(), m) + V::loadu(bi + c + k * V::size(), m);
            }
            for (int64_t k = 0; k < R; ++k) {
              const int64_t ck = c + k * V::size();
              z[k] = act_fwd_vec<A, scalar_t>(z[k], pc_each ? V::loadu(pi + ck, m) : p0);
            }
            store_narrow(y + c, z, m);
          });
        }
      }
    };
    // the same, in pieces of runs (`inner` elements of one channel)
    const auto runs = [&](scalar_t* dst, int64_t first, int64_t count) {
      for (int64_t i = first, end = first + count; i < end;) {
        const int64_t q = i / unit, c = q % C, n = std::min(q * unit + unit, end) - i;
        scalar_t* const y = dst + (i - first);
        const scalar_t* const xi = xs + i;
        i += n;
        if constexpr (kLinearAuto<A, scalar_t>) {
          bias_run_linear<A>(y, xi, bs[c], ps[pc_each ? c : 0], n);
        } else {
          const V bc(bs[c]), pc(ps[pc_each ? c : 0]);
          run_steps<V::size()>(n, [&](int64_t j, auto vecs, int64_t m) RELU_EXT_STEP {
            constexpr int64_t R = decltype(vecs)::value;
            V z[R];
            for (int64_t k = 0; k < R; ++k) z[k] = load_wide(xi + j + k * V::size(), m) + bc;
            for (int64_t k = 0; k < R; ++k) z[k] = act_fwd_vec<A, scalar_t>(z[k], pc);
            store_narrow(y + j, z, m);
          });
        }
      }
    };
    if (geo.inner == 1) {
      detail::write_range(stream, out, u0 * unit, u1 * unit, inputs, rows);
    } else {
      detail::write_range(stream, out, u0 * unit, u1 * unit, inputs, runs);
    }
  });
}

// Elements per chunk of the reductions: fixed (never the thread count), large enough that
// the per-chunk partials stay small next to the data, small enough to spread over threads.
constexpr int64_t kChunkElements = 65536;

// Units (rows or runs) per chunk: about kChunkElements elements, fewer chunks when there are
// many channels, so the partials (chunks x C) stay within 32K values (no fresh pages per
// call). A function of the shape alone.
inline int64_t units_per_chunk(int64_t units, int64_t unit, int64_t C) {
  const int64_t by_size = std::max<int64_t>(1, kChunkElements / unit);
  const int64_t max_chunks = std::max<int64_t>(1, 32768 / C);
  return std::max(by_size, (units + max_chunks - 1) / max_chunks);
}

// out[c] = sum over chunks k, in order, of part[k * C + c] (in double), channels threaded.
template <typename T>
void sum_chunks(const std::vector<T>& part, int64_t chunks, int64_t C, std::vector<double>& out) {
  out.assign(C, 0.0);
  at::parallel_for(0, C, std::max<int64_t>(1, 4096 / std::max<int64_t>(chunks, 1)),
                   [&](int64_t c0, int64_t c1) {
                     sum_rows_in_order(part.data(), chunks, C, c0, c1, out.data() + c0);
                   });
}

// grad_input, and the per-channel sums of grad_input (-> grad_bias) and, for PReLU, of
// g * (z > 0 ? 0 : z) (-> grad_weight), into gb and gw (double, C and p.size() values).
template <Act A, typename scalar_t>
void bias_backward(scalar_t* gi, const scalar_t* g, const scalar_t* x,
                   const std::vector<at::opmath_type<scalar_t>>& b,
                   const std::vector<at::opmath_type<scalar_t>>& p, Geometry geo,
                   std::vector<double>& gb, std::vector<double>& gw) {
  using T = at::opmath_type<scalar_t>;
  using V = VecOf<scalar_t>;
  constexpr bool kWeight = A == Act::kPrelu;
  const int64_t C = geo.channels;
  const bool per_c = A == Act::kPrelu && p.size() > 1;  // (false at compile time for the others)
  const int64_t Cw = static_cast<int64_t>(p.size());
  // Lanes past a partial vector's end load g = 0, x = b = 0: they add 0 to every sum.
  // Fixed chunks of whole rows / runs.
  const int64_t unit = geo.inner == 1 ? C : geo.inner;  // elements per row / run
  const int64_t units = geo.n / unit;
  const int64_t per_chunk = units_per_chunk(units, unit, C);
  const int64_t chunks = (units + per_chunk - 1) / per_chunk;
  std::vector<T> part_b(chunks * C, T(0)), part_w(kWeight ? chunks * Cw : 0, T(0));
  // grad_input streamed when larger than the last-level cache (loops.h), rows only. The
  // 512-byte blocks cut rows into pieces, which moves a single PReLU weight's terms to other
  // lanes: its gradient's last bits depend on whether it streamed, never on the threads.
  const std::array<const scalar_t*, 2> inputs{g, x};
  const bool stream = geo.inner == 1 && detail::use_streaming(gi, inputs, geo.n);
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    scalar_t* const gis = gi;
    const scalar_t* const gs = g;
    const scalar_t* const xs = x;
    const T* const bs = b.data();
    const T* const ps = p.data();
    const bool pc_each = per_c;  // a local: the row loop reads no captured reference
    const V p0(ps[0]);
    for (int64_t k = k0; k < k1; ++k) {
      T* pb = part_b.data() + k * C;
      T* pw = kWeight ? part_w.data() + k * Cw : nullptr;
      const int64_t u1 = std::min(units, (k + 1) * per_chunk);
      if (geo.inner == 1) {  // rows of C (element c has channel c), each lane's sums in row
                             // order; a row at a time (as act_stats.cpp counts), in pieces when
                             // grad_input streams
        V sw(T(0));  // a single weight's gradient terms of the current row
        // channels [c_begin, c_end) of the row starting at element base, grad_input into dst
        const auto row_piece = [&](scalar_t* dst, int64_t base, int64_t c_begin, int64_t c_end) {
          if constexpr (kLinearAuto<A, scalar_t>) {
            if (A != Act::kPrelu || pc_each) {  // (PReLU's single weight: its row sum below)
              return bias_row_linear_bwd<A>(dst, gs + base + c_begin, xs + base + c_begin,
                                            bs + c_begin, pc_each ? ps + c_begin : ps, pc_each,
                                            pb + c_begin, kWeight ? pw + c_begin : nullptr,
                                            c_end - c_begin);
            }
          }
          run_steps<V::size()>(c_end - c_begin, [&](int64_t j0, auto vecs,
                                                    int64_t n) RELU_EXT_STEP {
            constexpr int64_t R = decltype(vecs)::value;
            const int64_t c0 = c_begin + j0;
            V z[R], gv[R];
            for (int64_t r = 0; r < R; ++r) {
              const int64_t c = c0 + r * V::size();
              z[r] = load_wide(xs + base + c, n) + V::loadu(bs + c, n);
              gv[r] = load_wide(gs + base + c, n);
            }
            for (int64_t r = 0; r < R; ++r) {
              const int64_t c = c0 + r * V::size();
              const V d = act_bwd_vec<A, scalar_t>(gv[r], z[r], pc_each ? V::loadu(ps + c, n) : p0);
              store_narrow(dst + (c - c_begin), d, n);
              (V::loadu(pb + c, n) + d).store(pb + c, n);
              if constexpr (kWeight) {
                const V wt = prelu_bwd_weight_vec(gv[r], z[r]);
                if (pc_each) {
                  (V::loadu(pw + c, n) + wt).store(pw + c, n);
                } else {
                  sw = sw + wt;
                }
              }
            }
          });
          if constexpr (kWeight) {
            if (!pc_each && c_end == C) {
              pw[0] += lane_sum(sw);
              sw = V(T(0));
            }
          }
        };
        // elements [first, first + count) (whole rows' worth, cut anywhere), into dst
        const auto rows = [&](scalar_t* dst, int64_t first, int64_t count) {
          for (int64_t i = first, end = first + count; i < end;) {
            const int64_t row = i / C, c_begin = i - row * C;
            const int64_t c_end = std::min(C, c_begin + (end - i));
            row_piece(dst + (i - first), row * C, c_begin, c_end);
            i += c_end - c_begin;
          }
        };
        const int64_t e0 = k * per_chunk * C, e1 = u1 * C;
        if constexpr (A == Act::kRelu) {  // not prefetched, as relu's backward (relu.cpp): on
          // a Zen 4 the prefetch cost it 14-18% (float32 4M-16M, bfloat16 16M; 5% the other
          // way at bfloat16 4M; NOTES §42)
          detail::write_range(stream, gis, e0, e1, std::array<const scalar_t*, 0>{}, rows);
        } else {
          detail::write_range(stream, gis, e0, e1, inputs, rows);
        }
        continue;
      }
      for (int64_t u = k * per_chunk; u < u1; ++u) {  // runs of `inner` elements of channel c
        const int64_t c = u % C, base = u * unit;
        const V bc(bs[c]), pc(ps[per_c ? c : 0]);
        V acc_b(T(0)), acc_w(T(0));
        run_steps<V::size()>(geo.inner, [&](int64_t i, auto vecs, int64_t n) RELU_EXT_STEP {
          constexpr int64_t R = decltype(vecs)::value;
          const int64_t m = base + i;
          V z[R], gv[R], d[R];
          for (int64_t k = 0; k < R; ++k) {
            z[k] = load_wide(xs + m + k * V::size(), n) + bc;
            gv[k] = load_wide(gs + m + k * V::size(), n);
          }
          for (int64_t k = 0; k < R; ++k) d[k] = act_bwd_vec<A, scalar_t>(gv[k], z[k], pc);
          store_narrow(gis + m, d, n);
          for (int64_t k = 0; k < R; ++k) {  // in memory order: a function of the shape alone
            acc_b = acc_b + d[k];
            if constexpr (kWeight) acc_w = acc_w + prelu_bwd_weight_vec(gv[k], z[k]);
          }
        });
        pb[c] += lane_sum(acc_b);
        if constexpr (kWeight) pw[per_c ? c : 0] += lane_sum(acc_w);
      }
    }
  });
  sum_chunks(part_b, chunks, C, gb);
  if constexpr (kWeight) sum_chunks(part_w, chunks, Cw, gw);
}

// v as a tensor of like_t's dtype and shape, each value rounded from double as
// at::Tensor::to rounds it (one tensor, not three).
at::Tensor to_tensor(const std::vector<double>& v, const at::Tensor& like_t) {
  auto out = at::empty(like_t.sizes(), like_t.options());
  RELU_EXT_DISPATCH(out.scalar_type(), "to_tensor", [&] {
    scalar_t* data = out.data_ptr<scalar_t>();
    for (size_t i = 0; i < v.size(); ++i) data[i] = static_cast<scalar_t>(v[i]);
  });
  return out;
}

at::Tensor forward(const at::Tensor& self, const at::Tensor& bias, const at::Tensor* weight,
                   int64_t dim, Act act, double param) {
  const auto x = as_dense(self);
  auto out = empty_like_cpu(x);
  if (x.numel() == 0) return out;
  const auto geo = geometry(x, dim);
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_cpu", [&] {
    const auto b = per_channel<scalar_t>(bias);
    const auto p = activation_params<scalar_t>(weight, param);
    with_activation(act, [&](auto a) {
      bias_forward<decltype(a)::value>(out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), b,
                                       p, geo);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_output,
                                                        const at::Tensor& self,
                                                        const at::Tensor& bias,
                                                        const at::Tensor* weight, int64_t dim,
                                                        Act act, double param) {
  const auto x = as_dense(self);
  const auto g = in_layout_of_cpu(grad_output, x);  // x: from as_dense
  auto gi = empty_like_cpu(x);
  std::vector<double> gb(bias.numel(), 0.0), gw(weight ? weight->numel() : 0, 0.0);
  if (x.numel() > 0) {
    const auto geo = geometry(x, dim);
    RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_backward_cpu", [&] {
      const auto b = per_channel<scalar_t>(bias);
      const auto p = activation_params<scalar_t>(weight, param);
      with_activation(act, [&](auto a) {
        bias_backward<decltype(a)::value>(gi.data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                                          x.const_data_ptr<scalar_t>(), b, p, geo, gb, gw);
      });
    });
  }
  return {gi, to_tensor(gb, bias), weight ? to_tensor(gw, *weight) : at::Tensor()};
}

at::Tensor bias_act_cpu(const at::Tensor& self, const at::Tensor& bias, int64_t dim,
                        c10::string_view activation, double param) {
  const Act act = parse_activation(activation, "relu_ext::bias_act");
  dim = check_bias(self, bias, dim, "relu_ext::bias_act");
  return forward(self, bias, nullptr, dim, act, param);
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward_cpu(const at::Tensor& grad_output,
                                                         const at::Tensor& self,
                                                         const at::Tensor& bias, int64_t dim,
                                                         c10::string_view activation,
                                                         double param) {
  constexpr const char* op = "relu_ext::bias_act_backward";
  const Act act = parse_activation(activation, op);
  dim = check_bias(self, bias, dim, op);
  check_like(grad_output, self, op, "grad_output", "self");
  auto [gi, gb, gw] = backward(grad_output, self, bias, nullptr, dim, act, param);
  return {gi, gb};
}

at::Tensor bias_prelu_cpu(const at::Tensor& self, const at::Tensor& bias, const at::Tensor& weight,
                          int64_t dim) {
  dim = check_bias(self, bias, dim, "relu_ext::bias_prelu");
  check_bias_weight(self, weight, dim, "relu_ext::bias_prelu");
  return forward(self, bias, &weight, dim, Act::kPrelu, 0.0);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bias_prelu_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& bias,
    const at::Tensor& weight, int64_t dim) {
  constexpr const char* op = "relu_ext::bias_prelu_backward";
  dim = check_bias(self, bias, dim, op);
  check_bias_weight(self, weight, dim, op);
  check_like(grad_output, self, op, "grad_output", "self");
  return backward(grad_output, self, bias, &weight, dim, Act::kPrelu, 0.0);
}


}  // namespace

// CPU kernels for bias_act, bias_act_backward, bias_prelu, bias_prelu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_backward", &bias_act_backward_cpu);
  m.impl("bias_prelu", &bias_prelu_cpu);
  m.impl("bias_prelu_backward", &bias_prelu_backward_cpu);
}

}  // namespace relu_ext

