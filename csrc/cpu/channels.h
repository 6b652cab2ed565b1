// What the per-channel CPU kernels share: the fused bias + activation (bias_act.cpp) and the
// activation with its dead-unit counts (act_stats.cpp). Activation A's vector math picked by
// the Act value, the data's channel geometry, the per-channel parameters in the compute type.
// Compiled once per instruction set with the kernel files that include it.
#pragma once

#include <vector>

#include "act_vec.h"
#include "loops.h"

namespace relu_ext {

// The scalar forward of ELU or GELU (../common.h) on each lane of z.
template <Act A, typename V>
V act_fwd_lanes(V z, V p) {
  using T = typename V::value_type;
  T x[V::size()], a[V::size()];
  z.store(x);
  p.store(a);
  for (int64_t j = 0; j < V::size(); ++j) {
    if constexpr (A == Act::kElu) x[j] = elu_fwd_scalar(x[j], a[j]);
    if constexpr (A == Act::kGelu) x[j] = gelu_fwd(x[j]);
    if constexpr (A == Act::kGeluTanh) x[j] = gelu_tanh_fwd(x[j]);
  }
  return V::loadu(x);
}
// Vector math of activation A on Vectorized<T>: value and g * derivative at z (for results
// stored as scalar_t: act_vec.h's kHalfMath). (The baseline library's forwards run the
// scalar ops, vec_math.h: its ELU and GELU here too, so that act_stats, the monitor's forward,
// gives their values.)
template <Act A, typename scalar_t, typename V>
RELU_EXT_VEC_INLINE V act_fwd_vec(V z, V p) {
  using T = typename V::value_type;
  constexpr bool kHalf = kHalfMath<scalar_t>;
  if constexpr (A == Act::kRelu) return at::vec::clamp_min(z, V(T(0)));
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return leaky_relu_fwd_vec(z, p);
  if constexpr (RELU_EXT_GENERIC_VEC && A != Act::kRelu && A != Act::kLeakyRelu &&
                A != Act::kPrelu) {
    return act_fwd_lanes<A>(z, p);
  } else {
    if constexpr (A == Act::kElu) return elu_fwd_vec<kHalf>(z, p);
    if constexpr (A == Act::kGelu) return gelu_fwd_vec<kHalf>(z);
    if constexpr (A == Act::kGeluTanh) return gelu_tanh_fwd_vec<kHalf>(z);
  }
}
template <Act A, typename scalar_t, typename V>
RELU_EXT_VEC_INLINE V act_bwd_vec(V g, V z, V p) {
  using T = typename V::value_type;
  if constexpr (A == Act::kRelu) return V::blendv(g, V(T(0)), z <= V(T(0)));  // NaN: g
  if constexpr (A == Act::kLeakyRelu || A == Act::kPrelu) return leaky_relu_bwd_vec(g, z, p);
  if constexpr (A == Act::kElu) return elu_bwd_vec<kHalfMath<scalar_t>>(g, z, p);
  if constexpr (A == Act::kGelu) return gelu_bwd_vec(g, z);
  if constexpr (A == Act::kGeluTanh) return gelu_tanh_bwd_vec(g, z);
}

// The data's geometry: n elements in memory order, channel of position m = (m / inner) % C.
struct Geometry {
  int64_t n, inner, channels;
};

inline Geometry geometry(const at::Tensor& x, int64_t dim) {
  return {x.numel(), channel_inner(x, x.size(dim), dim), x.size(dim)};
}

// Per-channel values of dtype scalar_t (bias; PReLU's weight, 1 or C values) in the compute
// type, widened here element by element (at::Tensor::to would cost a half type 1-2 µs a
// call).
template <typename scalar_t>
std::vector<at::opmath_type<scalar_t>> per_channel(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const scalar_t* data = c.const_data_ptr<scalar_t>();
  return std::vector<at::opmath_type<scalar_t>>(data, data + c.numel());
}

// The sum of v's lanes, in lane order.
template <typename V>
typename V::value_type lane_sum(const V& v) {
  typename V::value_type lanes[V::size()];
  v.store(lanes);
  typename V::value_type s = 0;
  for (int j = 0; j < V::size(); ++j) s += lanes[j];
  return s;
}

// Every loop below walks the data one Vectorized<opmath_t> at a time (loops.h: half types
// widened on load, narrowed on store; the last piece of a row or run a partial vector).
template <typename scalar_t>
using VecOf = at::vec::Vectorized<at::opmath_type<scalar_t>>;

// PReLU's weight (1 or C values), or the other activations' parameter, in the compute type.
template <typename scalar_t>
std::vector<at::opmath_type<scalar_t>> activation_params(const at::Tensor* weight, double param) {
  using T = at::opmath_type<scalar_t>;
  return weight ? per_channel<scalar_t>(*weight) : std::vector<T>{static_cast<T>(param)};
}

}  // namespace relu_ext
