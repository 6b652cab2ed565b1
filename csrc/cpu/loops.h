// The CPU elementwise driver shared by every activation: one pass over the
// data, threaded with at::parallel_for, any strides through TensorIterator.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

#include <array>
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
  at::TensorIteratorConfig config;
  config.add_output(out);
  (config.add_const_input(ins), ...);
  auto iter = config.build();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t n) {
        detail::strided_loop<scalar_t>(data, strides, n, op, std::index_sequence_for<Ts...>{});
      },
      kGrainSize);
}

}  // namespace relu_ext
