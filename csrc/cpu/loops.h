// The CPU elementwise driver shared by every activation: one pass over the
// data, threaded with at::parallel_for, any strides through TensorIterator.
// This file is compiled once per instruction set (setup.py: CPU_CAPABILITY =
// DEFAULT, AVX2, AVX512), so at::vec::Vectorized is that ISA's vector.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <array>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../common.h"

namespace relu_ext {

constexpr int64_t kGrainSize = 32768;

namespace detail {

template <typename scalar_t, typename Op, size_t... I>
inline void strided_loop(char** data, const int64_t* strides, int64_t n, const Op& op,
                         std::index_sequence<I...>) {
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

template <typename scalar_t, typename Op, size_t N, size_t... I>
inline void flat_loop(scalar_t* o, const std::array<const scalar_t*, N>& in, int64_t begin,
                      int64_t end, const Op& op, std::index_sequence<I...>) {
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t i = begin; i < end; ++i) {
    o[i] = static_cast<scalar_t>(op(static_cast<opmath_t>(in[I][i])...));
  }
}

// The dense loop with a vector op: vop takes and returns Vectorized<opmath_t>
// (half types widened to two float vectors); op finishes the tail.
template <typename scalar_t, typename Op, typename VOp, size_t N, size_t... I>
inline void flat_vec_loop(scalar_t* o, const std::array<const scalar_t*, N>& in, int64_t begin,
                          int64_t end, const Op& op, const VOp& vop, std::index_sequence<I...>) {
  using opmath_t = at::opmath_type<scalar_t>;
  using Vec = at::vec::Vectorized<scalar_t>;
  int64_t i = begin;
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    for (; i + Vec::size() <= end; i += Vec::size()) {
      vop(Vec::loadu(in[I] + i)...).store(o + i);
    }
  } else {
    for (; i + Vec::size() <= end; i += Vec::size()) {
      const std::array<std::tuple<at::vec::Vectorized<float>, at::vec::Vectorized<float>>, N>
          wide = {at::vec::convert_to_float<scalar_t>(Vec::loadu(in[I] + i))...};
      at::vec::convert_from_float<scalar_t>(vop(std::get<0>(wide[I])...),
                                            vop(std::get<1>(wide[I])...))
          .store(o + i);
    }
  }
  for (; i < end; ++i) {
    o[i] = static_cast<scalar_t>(op(static_cast<opmath_t>(in[I][i])...));
  }
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
template <typename scalar_t, typename Op, typename... Ts>
void cpu_elementwise(const at::Tensor& out, const Op& op, const Ts&... ins) {
  const int64_t numel = out.numel();
  if (numel == 0) return;
  if (same_dense_layout(out, ins...)) {
    scalar_t* o = out.data_ptr<scalar_t>();
    const std::array<const scalar_t*, sizeof...(Ts)> in = {ins.template const_data_ptr<scalar_t>()...};
    at::parallel_for(0, numel, kGrainSize, [&](int64_t begin, int64_t end) {
      detail::flat_loop<scalar_t>(o, in, begin, end, op, std::index_sequence_for<Ts...>{});
    });
    return;
  }
  detail::strided_elementwise<scalar_t>(out, op, ins...);
}

// As cpu_elementwise, with a vector version of op (Vectorized<opmath_t> -> same)
// for dense tensors; for ops whose math a compiler does not vectorize by itself
// (exp, erfc, tanh: at::vec uses SLEEF, as ATen does).
template <typename scalar_t, typename Op, typename VOp, typename... Ts>
void cpu_elementwise_vec(const at::Tensor& out, const Op& op, const VOp& vop, const Ts&... ins) {
  const int64_t numel = out.numel();
  if (numel == 0) return;
  if (!same_dense_layout(out, ins...)) {
    detail::strided_elementwise<scalar_t>(out, op, ins...);
    return;
  }
  scalar_t* o = out.data_ptr<scalar_t>();
  const std::array<const scalar_t*, sizeof...(Ts)> in = {ins.template const_data_ptr<scalar_t>()...};
  at::parallel_for(0, numel, kGrainSize, [&](int64_t begin, int64_t end) {
    detail::flat_vec_loop<scalar_t>(o, in, begin, end, op, vop, std::index_sequence_for<Ts...>{});
  });
}

}  // namespace relu_ext
