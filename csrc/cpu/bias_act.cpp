// Fused bias + activation on CPU: y = act(x + b[c]), c the index along `dim`, one pass;
// backward: grad_input = g * act'(x + b[c]) and grad_bias[c] = sum of grad_input over the
// other dims in the same pass (PReLU: also grad_weight[c] = sum of g * min(z, 0)-part).
// The activation's math and derivative are its own (../common.h act_fwd/act_bwd, vectors in
// act_vec.h). Sums: fixed chunks of the data (never the thread count) give partial sums,
// added in chunk order in double: bitwise the same at any thread count.
// Also act_stats: the activation alone, counting per channel the inputs with x > 0 in the same
// pass (relu_ext.DeadUnitMonitor).
#include <torch/library.h>

#include <vector>

#include "../ops.h"
#include "act_vec.h"
#include "loops.h"

namespace relu_ext {
namespace {

// Vector math of activation A on Vectorized<T>: value and g * derivative at z.
template <Act A, typename V>
V act_fwd_vec(V z, V p) {
  using T = typename V::value_type;
  if constexpr (A == Act::kRelu) return at::vec::clamp_min(z, V(T(0)));
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return V::blendv(z * p, z, z > V(T(0)));
  if constexpr (A == Act::kElu) return elu_fwd_vec(z, p);
  if constexpr (A == Act::kGelu) return gelu_fwd_vec(z);
  if constexpr (A == Act::kGeluTanh) return gelu_tanh_fwd_vec(z);
}
template <Act A, typename V>
V act_bwd_vec(V g, V z, V p) {
  using T = typename V::value_type;
  if constexpr (A == Act::kRelu) return V::blendv(V(T(0)), g, z > V(T(0)));
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return V::blendv(g * p, g, z > V(T(0)));
  if constexpr (A == Act::kElu) return elu_bwd_vec(g, z, p);
  if constexpr (A == Act::kGelu) return gelu_bwd_vec(g, z);
  if constexpr (A == Act::kGeluTanh) return gelu_tanh_bwd_vec(g, z);
}

// The data's geometry: n elements in memory order, channel of position m = (m / inner) % C.
struct Geometry {
  int64_t n, inner, channels;
};

Geometry geometry(const at::Tensor& x, int64_t dim) {
  return {x.numel(), x.size(dim) == 1 ? x.numel() : x.stride(dim), x.size(dim)};
}

// Per-channel values in the compute type, contiguous (bias; PReLU's weight, 1 or C values).
template <typename opmath_t>
std::vector<opmath_t> per_channel(const at::Tensor& t) {
  const at::Tensor c = t.to(c10::CppTypeToScalarType<opmath_t>::value).contiguous();
  const opmath_t* data = c.const_data_ptr<opmath_t>();
  return std::vector<opmath_t>(data, data + c.numel());
}

// Vector path only where the storage type is the compute type (float, double); half types
// take the scalar loop.
template <typename scalar_t>
constexpr bool kVectorized = std::is_same_v<scalar_t, at::opmath_type<scalar_t>>;

template <Act A, typename scalar_t>
void bias_forward(scalar_t* out, const scalar_t* x, const std::vector<at::opmath_type<scalar_t>>& b,
                  const std::vector<at::opmath_type<scalar_t>>& p, Geometry geo) {
  using T = at::opmath_type<scalar_t>;
  using V = at::vec::Vectorized<T>;
  const int64_t C = geo.channels;
  const bool per_c = p.size() > 1;
  if (geo.inner == 1) {  // channels are the fastest dim: rows of C
    const int64_t grain = std::max<int64_t>(1, kGrainSize / C);
    at::parallel_for(0, geo.n / C, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const scalar_t* xr = x + r * C;
        scalar_t* yr = out + r * C;
        int64_t c = 0;
        if constexpr (kVectorized<scalar_t>) {
          for (; c + V::size() <= C; c += V::size()) {
            const V pc = per_c ? V::loadu(p.data() + c) : V(p[0]);
            act_fwd_vec<A>(V::loadu(xr + c) + V::loadu(b.data() + c), pc).store(yr + c);
          }
        }
        for (; c < C; ++c) {
          yr[c] = static_cast<scalar_t>(act_fwd<A>(static_cast<T>(xr[c]) + b[c], p[per_c ? c : 0]));
        }
      }
    });
    return;
  }
  const int64_t inner = geo.inner;  // runs of `inner` elements share a channel
  const int64_t grain = std::max<int64_t>(1, kGrainSize / inner);
  at::parallel_for(0, geo.n / inner, grain, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c = q % C;
      const T bc = b[c], pc = p[per_c ? c : 0];
      const scalar_t* xs = x + q * inner;
      scalar_t* ys = out + q * inner;
      int64_t i = 0;
      if constexpr (kVectorized<scalar_t>) {
        for (; i + V::size() <= inner; i += V::size()) {
          act_fwd_vec<A>(V::loadu(xs + i) + V(bc), V(pc)).store(ys + i);
        }
      }
      for (; i < inner; ++i) {
        ys[i] = static_cast<scalar_t>(act_fwd<A>(static_cast<T>(xs[i]) + bc, pc));
      }
    }
  });
}

// Elements per chunk of the reductions: fixed (never the thread count), large enough that
// the per-chunk partials stay small next to the data, small enough to spread over threads.
// (A channel's count within a chunk stays exact in float up to 2^24 units per chunk.)
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
                     for (int64_t c = c0; c < c1; ++c) {
                       double s = 0;
                       for (int64_t k = 0; k < chunks; ++k) s += part[k * C + c];
                       out[c] = s;
                     }
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
  using V = at::vec::Vectorized<T>;
  constexpr bool kWeight = A == Act::kPrelu;
  const int64_t C = geo.channels;
  const bool per_c = p.size() > 1;
  const int64_t Cw = static_cast<int64_t>(p.size());
  // Fixed chunks of whole rows / runs.
  const int64_t unit = geo.inner == 1 ? C : geo.inner;  // elements per row / run
  const int64_t units = geo.n / unit;
  const int64_t per_chunk = units_per_chunk(units, unit, C);
  const int64_t chunks = (units + per_chunk - 1) / per_chunk;
  std::vector<T> part_b(chunks * C, T(0)), part_w(kWeight ? chunks * Cw : 0, T(0));
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* pb = part_b.data() + k * C;
      T* pw = kWeight ? part_w.data() + k * Cw : nullptr;
      const int64_t u1 = std::min(units, (k + 1) * per_chunk);
      if (geo.inner == 1) {  // rows of C (element c has channel c), four at a time: one
                             // update of the partial sums for four rows
        for (int64_t u = k * per_chunk; u < u1; u += 4) {
          const int64_t rows = std::min<int64_t>(4, u1 - u);
          int64_t c = 0;
          if constexpr (kVectorized<scalar_t>) {
            for (; c + V::size() <= C; c += V::size()) {
              const V bv = V::loadu(b.data() + c);
              const V pc = per_c ? V::loadu(p.data() + c) : V(p[0]);
              V sb = V::loadu(pb + c);
              V sw = kWeight && per_c ? V::loadu(pw + c) : V(T(0));
              for (int64_t r = 0; r < rows; ++r) {
                const int64_t m = (u + r) * C + c;
                const V z = V::loadu(x + m) + bv;
                const V gv = V::loadu(g + m);
                const V d = act_bwd_vec<A>(gv, z, pc);
                d.store(gi + m);
                sb = sb + d;
                if constexpr (kWeight) sw = sw + V::blendv(gv * z, V(T(0)), z > V(T(0)));
              }
              sb.store(pb + c);
              if constexpr (kWeight) {
                if (per_c) {
                  sw.store(pw + c);
                } else {
                  T lanes[V::size()];
                  sw.store(lanes);
                  for (int j = 0; j < V::size(); ++j) pw[0] += lanes[j];
                }
              }
            }
          }
          for (; c < C; ++c) {
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t m = (u + r) * C + c;
              const T z = static_cast<T>(x[m]) + b[c];
              const T gv = static_cast<T>(g[m]);
              const T d = act_bwd<A>(gv, z, p[per_c ? c : 0]);
              gi[m] = static_cast<scalar_t>(d);
              pb[c] += d;
              if constexpr (kWeight) pw[per_c ? c : 0] += prelu_bwd_weight(gv, z);
            }
          }
        }
        continue;
      }
      for (int64_t u = k * per_chunk; u < u1; ++u) {
        const int64_t base = u * unit;
        {  // a run of `inner` elements of channel c
          const int64_t c = u % C;
          const T bc = b[c], pc = p[per_c ? c : 0];
          T sum_b = 0, sum_w = 0;
          int64_t i = 0;
          if constexpr (kVectorized<scalar_t>) {
            V acc_b(T(0)), acc_w(T(0));
            for (; i + V::size() <= geo.inner; i += V::size()) {
              const V z = V::loadu(x + base + i) + V(bc);
              const V gv = V::loadu(g + base + i);
              const V d = act_bwd_vec<A>(gv, z, V(pc));
              d.store(gi + base + i);
              acc_b = acc_b + d;
              if constexpr (kWeight) acc_w = acc_w + V::blendv(gv * z, V(T(0)), z > V(T(0)));
            }
            T lanes[V::size()];
            acc_b.store(lanes);
            for (int j = 0; j < V::size(); ++j) sum_b += lanes[j];
            if constexpr (kWeight) {
              acc_w.store(lanes);
              for (int j = 0; j < V::size(); ++j) sum_w += lanes[j];
            }
          }
          for (; i < geo.inner; ++i) {
            const T z = static_cast<T>(x[base + i]) + bc;
            const T gv = static_cast<T>(g[base + i]);
            const T d = act_bwd<A>(gv, z, pc);
            gi[base + i] = static_cast<scalar_t>(d);
            sum_b += d;
            if constexpr (kWeight) sum_w += prelu_bwd_weight(gv, z);
          }
          pb[c] += sum_b;
          if constexpr (kWeight) pw[per_c ? c : 0] += sum_w;
        }
      }
    }
  });
  sum_chunks(part_b, chunks, C, gb);
  if constexpr (kWeight) sum_chunks(part_w, chunks, Cw, gw);
}

// act(x) and, per channel, the number of x > 0 (into fired, C values).
template <Act A, typename scalar_t>
void stats_forward(scalar_t* out, const scalar_t* x,
                   const std::vector<at::opmath_type<scalar_t>>& p,
                   Geometry geo, std::vector<int64_t>& fired) {
  using T = at::opmath_type<scalar_t>;
  using V = at::vec::Vectorized<T>;
  const int64_t C = geo.channels;
  const bool per_c = p.size() > 1;
  const int64_t unit = geo.inner == 1 ? C : geo.inner;
  const int64_t units = geo.n / unit;
  const int64_t per_chunk = units_per_chunk(units, unit, C);
  const int64_t chunks = (units + per_chunk - 1) / per_chunk;
  std::vector<T> part(chunks * C, T(0));
  const V one(T(1)), zero(T(0));
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* pc_count = part.data() + k * C;
      const int64_t u1 = std::min(units, (k + 1) * per_chunk);
      if (geo.inner == 1) {  // rows of C, four at a time (one update of the counts for four)
        for (int64_t u = k * per_chunk; u < u1; u += 4) {
          const int64_t rows = std::min<int64_t>(4, u1 - u);
          int64_t c = 0;
          if constexpr (kVectorized<scalar_t>) {
            for (; c + V::size() <= C; c += V::size()) {
              const V pv = per_c ? V::loadu(p.data() + c) : V(p[0]);
              V count = V::loadu(pc_count + c);
              for (int64_t r = 0; r < rows; ++r) {
                const int64_t m = (u + r) * C + c;
                const V xv = V::loadu(x + m);
                act_fwd_vec<A>(xv, pv).store(out + m);
                count = count + (one & (xv > zero));
              }
              count.store(pc_count + c);
            }
          }
          for (; c < C; ++c) {
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t m = (u + r) * C + c;
              const T xv = static_cast<T>(x[m]);
              out[m] = static_cast<scalar_t>(act_fwd<A>(xv, p[per_c ? c : 0]));
              pc_count[c] += xv > T(0) ? T(1) : T(0);
            }
          }
        }
        continue;
      }
      for (int64_t u = k * per_chunk; u < u1; ++u) {
        const int64_t base = u * unit;
        {
          const int64_t c = u % C;
          const T pc = p[per_c ? c : 0];
          T count = 0;
          int64_t i = 0;
          if constexpr (kVectorized<scalar_t>) {
            V acc(T(0));
            for (; i + V::size() <= geo.inner; i += V::size()) {
              const V xv = V::loadu(x + base + i);
              act_fwd_vec<A>(xv, V(pc)).store(out + base + i);
              acc = acc + (one & (xv > zero));
            }
            T lanes[V::size()];
            acc.store(lanes);
            for (int j = 0; j < V::size(); ++j) count += lanes[j];
          }
          for (; i < geo.inner; ++i) {
            const T xv = static_cast<T>(x[base + i]);
            out[base + i] = static_cast<scalar_t>(act_fwd<A>(xv, pc));
            count += xv > T(0) ? T(1) : T(0);
          }
          pc_count[c] += count;
        }
      }
    }
  });
  std::vector<double> sums;
  sum_chunks(part, chunks, C, sums);
  fired.assign(sums.begin(), sums.end());
}

template <typename F>
void with_activation(Act act, const F& f) {
  switch (act) {
    case Act::kRelu: return f(std::integral_constant<Act, Act::kRelu>{});
    case Act::kLeakyRelu: return f(std::integral_constant<Act, Act::kLeakyRelu>{});
    case Act::kElu: return f(std::integral_constant<Act, Act::kElu>{});
    case Act::kGelu: return f(std::integral_constant<Act, Act::kGelu>{});
    case Act::kGeluTanh: return f(std::integral_constant<Act, Act::kGeluTanh>{});
    case Act::kPrelu: return f(std::integral_constant<Act, Act::kPrelu>{});
  }
}

// x in a dense layout (a contiguous copy otherwise), and y / grads in the same one.
at::Tensor dense(const at::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous();
}
at::Tensor like(const at::Tensor& t, const at::Tensor& ref) {
  return same_dense_layout(ref, t) ? t : at::empty_like(ref).copy_(t);
}
at::Tensor to_tensor(const std::vector<double>& v, const at::Tensor& like_t) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble))
      .to(like_t.scalar_type())
      .view(like_t.sizes());
}

// float16 / bfloat16: the fused loops above vectorize float and double only, and their
// scalar loop is many times slower than ATen; until they widen half types, these take the
// bias add, the bias-gradient sum and act_stats's count from ATen around relu_ext's
// (vectorized) activation kernels: unfused, 0.6-1.0x ATen's bias_act path.
bool is_half(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
}

at::Tensor along(const at::Tensor& v, const at::Tensor& x, int64_t dim) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[dim] = v.numel();
  return v.reshape(shape);
}

at::Tensor half_forward(const at::Tensor& z, const at::Tensor* weight, int64_t dim, Act act,
                        double param) {
  switch (act) {
    case Act::kRelu: return ops::relu(z);
    case Act::kLeakyRelu: return ops::leaky_relu(z, param);
    case Act::kElu: return ops::elu(z, param);
    case Act::kGelu: return ops::gelu(z, "none");
    case Act::kGeluTanh: return ops::gelu(z, "tanh");
    case Act::kPrelu:
      if (weight->numel() == 1 || dim == 1) return ops::prelu(z, weight->reshape({-1}));
      return at::where(z > 0, z, along(*weight, z, dim) * z);
  }
  return z;
}

at::Tensor forward(const at::Tensor& self, const at::Tensor& bias, const at::Tensor* weight,
                   int64_t dim, Act act, double param) {
  if (is_half(self)) return half_forward(self + along(bias, self, dim), weight, dim, act, param);
  const auto x = dense(self);
  auto out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const auto geo = geometry(x, dim);
  RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_cpu", [&] {
    using T = at::opmath_type<scalar_t>;
    const auto b = per_channel<T>(bias);
    const auto p = weight ? per_channel<T>(*weight) : std::vector<T>{static_cast<T>(param)};
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
  if (is_half(self)) {
    const auto z = self + along(bias, self, dim);
    std::vector<int64_t> others;
    for (int64_t d = 0; d < z.dim(); ++d) {
      if (d != dim) others.push_back(d);
    }
    const auto sum_others = [&](const at::Tensor& t) {
      return (others.empty() ? t.to(at::kFloat) : t.sum(others, false, at::kFloat))
          .to(self.scalar_type());
    };
    at::Tensor gi, gw;
    switch (act) {
      case Act::kRelu: gi = ops::leaky_relu_backward(grad_output, z, 0.0, false); break;
      case Act::kLeakyRelu: gi = ops::leaky_relu_backward(grad_output, z, param, false); break;
      case Act::kElu: gi = ops::elu_backward(grad_output, z, param, false); break;
      case Act::kGelu: gi = ops::gelu_backward(grad_output, z, "none"); break;
      case Act::kGeluTanh: gi = ops::gelu_backward(grad_output, z, "tanh"); break;
      case Act::kPrelu: {
        const auto positive = z > 0;
        gi = at::where(positive, grad_output,
                       (weight->numel() == 1 ? weight->reshape({}) : along(*weight, z, dim)) *
                           grad_output);
        const auto term = at::where(positive, at::zeros_like(z), z * grad_output);
        gw = (weight->numel() == 1 ? term.sum(at::kFloat) : sum_others(term).to(at::kFloat))
                 .to(self.scalar_type())
                 .reshape(weight->sizes());
        break;
      }
    }
    return {gi, sum_others(gi).reshape(bias.sizes()), gw};
  }
  const auto x = dense(self);
  const auto g = like(grad_output, x);
  auto gi = at::empty_like(x);
  std::vector<double> gb(bias.numel(), 0.0), gw(weight ? weight->numel() : 0, 0.0);
  if (x.numel() > 0) {
    const auto geo = geometry(x, dim);
    RELU_EXT_DISPATCH(x.scalar_type(), "bias_act_backward_cpu", [&] {
      using T = at::opmath_type<scalar_t>;
      const auto b = per_channel<T>(bias);
      const auto p = weight ? per_channel<T>(*weight) : std::vector<T>{static_cast<T>(param)};
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

// The activation on self, and fired[c] = the number of self > 0 in channel c (index along
// dim; PReLU's weight runs along dim 1, as in torch).
std::tuple<at::Tensor, at::Tensor> act_stats_cpu(const at::Tensor& self,
                                                 const std::optional<at::Tensor>& weight,
                                                 int64_t dim, c10::string_view activation,
                                                 double param) {
  constexpr const char* op = "relu_ext::act_stats";
  const Act act = parse_stats_activation(activation, weight, op);
  check_input(self, op, "self");
  TORCH_CHECK(self.dim() > 0, op, ": expected self to have at least 1 dimension, but got a "
              "0-dim tensor");
  dim = c10::maybe_wrap_dim(dim, self.dim());
  if (weight) check_prelu_weight(self, *weight, op);
  TORCH_CHECK(!weight || weight->numel() == 1 || dim == 1, op,
              ": PReLU with a weight per channel counts along dim 1 (its channels), got dim ", dim);
  if (is_half(self)) {  // as half_forward: relu_ext's activation, then ATen's count
    std::vector<int64_t> others;
    for (int64_t d = 0; d < self.dim(); ++d) {
      if (d != dim) others.push_back(d);
    }
    const auto positive = self > 0;
    auto fired = others.empty() ? positive.to(at::kLong) : positive.sum(others, false, at::kLong);
    return {half_forward(self, weight ? &*weight : nullptr, dim, act, param), fired};
  }
  const auto x = dense(self);
  auto out = at::empty_like(x);
  std::vector<int64_t> fired(x.size(dim), 0);
  if (x.numel() > 0) {
    const auto geo = geometry(x, dim);
    RELU_EXT_DISPATCH(x.scalar_type(), "act_stats_cpu", [&] {
      using T = at::opmath_type<scalar_t>;
      const auto p = weight ? per_channel<T>(*weight) : std::vector<T>{static_cast<T>(param)};
      with_activation(act, [&](auto a) {
        stats_forward<decltype(a)::value>(out.data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                                          p, geo, fired);
      });
    });
  }
  return {out, at::tensor(fired, at::TensorOptions().dtype(at::kLong))};
}

}  // namespace

// CPU kernels for bias_act, bias_act_backward, bias_prelu, bias_prelu_backward, act_stats
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("act_stats", &act_stats_cpu);
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_backward", &bias_act_backward_cpu);
  m.impl("bias_prelu", &bias_prelu_cpu);
  m.impl("bias_prelu_backward", &bias_prelu_backward_cpu);
}

}  // namespace relu_ext
