// PReLU on CPU: y = x if x > 0 else w[c] * x, c the channel (dim 1).
//   d/dx = 1 if x > 0 else w[c];   d/dw[c] = sum over channel c of (x > 0 ? 0 : x) * g.
// The backward computes both in one pass. The weight gradient is summed in
// fixed-size chunks of the iteration into per-chunk partials, then reduced in
// chunk order, so it is bitwise identical at any thread count.
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "loops.h"

namespace relu_ext {
namespace {

at::Tensor prelu_forward_cpu(const at::Tensor& self, const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu");
  auto out = at::empty_like(self);
  const auto w = broadcast_weight(weight.contiguous(), self);
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_forward_cpu", [&] {
    cpu_elementwise<scalar_t>(out, [](auto x, auto w) { return prelu_fwd(x, w); }, self, w);
  });
  return out;
}

template <typename scalar_t>
void prelu_backward_kernel(at::TensorIterator& iter, const scalar_t* weight, int64_t channels,
                           scalar_t* grad_weight, int64_t grad_weight_stride) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t numel = iter.numel();
  // Bounded partials: at most numel / 16 + channels accumulators.
  const int64_t chunk = std::max<int64_t>(int64_t{1} << 16, 16 * channels);
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

  at::parallel_for(0, channels, 1024, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      double sum = 0;
      for (int64_t k = 0; k < num_chunks; ++k) sum += partials[k * channels + c];
      grad_weight[c * grad_weight_stride] = static_cast<scalar_t>(sum);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> prelu_backward_cpu(const at::Tensor& grad_output,
                                                      const at::Tensor& self,
                                                      const at::Tensor& weight) {
  check_input(self, "relu_ext::prelu_backward", "self");
  check_like(grad_output, self, "relu_ext::prelu_backward", "grad_output", "self");
  check_prelu_weight(self, weight, "relu_ext::prelu_backward");
  auto grad_input = at::empty_like(self);
  auto grad_weight = at::empty_like(weight);
  const auto w = weight.contiguous();
  const int64_t channels = w.numel();
  if (self.numel() == 0) {
    grad_weight.zero_();
    return {grad_input, grad_weight};
  }
  const auto w_view = broadcast_weight(w, self);
  auto iter = at::TensorIteratorConfig()
                  .add_output(grad_input)
                  .add_const_input(grad_output)
                  .add_const_input(self)
                  .add_const_input(w_view)
                  .build();
  const int64_t gw_stride = channels > 1 ? grad_weight.stride(0) : 0;
  RELU_EXT_DISPATCH(self.scalar_type(), "prelu_backward_cpu", [&] {
    prelu_backward_kernel<scalar_t>(iter, w.const_data_ptr<scalar_t>(), channels,
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
