// ReLU on CPU: y = max(x, 0);  d/dx = (y > 0), computed from the saved output.
#include <torch/library.h>

#include "act_vec.h"
#include "loops.h"

namespace relu_ext {
namespace {

// relu's loops: the half types on their patterns (bits_op), float and double in at::vec's
// vectors (vop), four a step: on AVX2 the compiler's loop of the scalar op ran 15-25% slower
// than ATen's at 64K-256K float32 elements, one thread (benchmarks/NOTES.md §36).
// kPrefetch: whether the streamed loops prefetch the inputs (loops.h, prefetch_ahead).
template <typename scalar_t, bool kPrefetch = true, typename Op, typename VOp, typename BitsOp,
          typename... Ts>
void relu_loop(const at::Tensor& out, const Op& op, const VOp& vop, const BitsOp& bits_op,
               const Ts&... ins) {
  if constexpr (sizeof(scalar_t) == 2) {
    cpu_elementwise_patterns<scalar_t, kPrefetch>(out, op, bits_op, ins...);
  } else {
    cpu_elementwise_vec<scalar_t, kPrefetch>(out, op, vop, ins...);
  }
}

// out = relu(self) (out may be self). The streamed loops prefetch the inputs for the half
// types only: on a Zen 4 at 16M elements (ATen's time / relu_ext's, medians of four or five
// processes each way, NOTES §42) float32 1.43x without the prefetch and 1.21x with it,
// float64 1.55x and 1.27x, bfloat16 (the patterns) 1.21x and 1.61x.
template <typename scalar_t>
void relu_forward_loop(const at::Tensor& out, const at::Tensor& self) {
  relu_loop<scalar_t, /*kPrefetch=*/sizeof(scalar_t) == 2>(
      out, [](auto x) { return relu_fwd(x); },
      [](auto x) { return at::vec::clamp_min(x, decltype(x)(0)); },  // max(0, x): NaN, -0 stay
      [](int16_t x) { return relu_fwd_bits<scalar_t>(x); }, self);
}

at::Tensor relu_forward_cpu(const at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu")) return at::relu(self);
  check_input(self, "relu_ext::relu", "self");
  auto out = empty_like_cpu(self);
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_forward_cpu",
                    [&] { relu_forward_loop<scalar_t>(out, self); });
  return out;
}

void relu_inplace_cpu(at::Tensor& self) {
  if (relu_integer_input(self, "relu_ext::relu_")) {
    at::relu_(self);
    return;
  }
  check_input(self, "relu_ext::relu_", "self");
  RELU_EXT_DISPATCH(self.scalar_type(), "relu_inplace_cpu",
                    [&] { relu_forward_loop<scalar_t>(self, self); });
}

at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& result) {
  check_input(result, "relu_ext::relu_backward", "result");
  check_like(grad_output, result, "relu_ext::relu_backward", "grad_output", "result");
  auto grad_input = empty_like_cpu(result);
  // Without the inputs prefetched in software: two streams read with a compare and a blend
  // between them, the hardware's prefetchers keep ahead alone. The prefetch left it the same
  // on an Intel Xeon (4.8 ms at 16M float32 elements, NOTES §35) and cost it 13-31% on a
  // Zen 4 (16M, float32 and bfloat16, one and two threads, §42).
  RELU_EXT_DISPATCH(result.scalar_type(), "relu_backward_cpu", [&] {
    relu_loop<scalar_t, /*kPrefetch=*/false>(
        grad_input, [](auto g, auto y) { return relu_bwd(g, y); },
        [](auto g, auto y) {
          using V = decltype(g);
          return V::blendv(g, V(0), y <= V(0));  // NaN: g
        },
        [](int16_t g, int16_t y) { return relu_bwd_bits<scalar_t>(g, y); }, grad_output, result);
  });
  return grad_input;
}

}  // namespace

// CPU kernels for relu, relu_, relu_backward
TORCH_LIBRARY_IMPL(relu_ext, CPU, m) {
  m.impl("relu", &relu_forward_cpu);
  m.impl("relu_", &relu_inplace_cpu);
  m.impl("relu_backward", &relu_backward_cpu);
}

}  // namespace relu_ext
