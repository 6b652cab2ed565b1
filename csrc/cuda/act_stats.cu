// act_stats on CUDA (relu_ext.DeadUnitMonitor's forward): y = act(x), the activation alone,
// and per channel the number of inputs with x > 0, counted in the same pass (with a bias: of
// z = x + b[c], y = act(z), as bias_act.cu computes it): each block takes a fixed piece of the
// data (loops.cuh: channel_sums) and counts its share; a second, tiny kernel adds each
// channel's slices in order (as bias_act.cu's sums). Exact counts. Math:
// ../common.h act_fwd (through loops.cuh act_fwd_stored: float16/bfloat16 GELU as gelu.cu
// computes it); act_stats has no derivative of its own: autograd takes the activation's
// (../autograd/act_stats.cpp).
#include <torch/library.h>

#include "loops.cuh"

namespace relu_ext::cuda {

template <Act A>
std::tuple<at::Tensor, at::Tensor> stats(const at::Tensor& self, const at::Tensor* weight,
                                         const at::Tensor* bias, int64_t dim, double param) {
  const c10::cuda::CUDAGuard guard(self.device());
  const auto x = as_dense(self);
  auto out = at::empty_like(x);
  const int64_t channels = x.size(dim);
  const int64_t n = x.numel();
  // channel_totals writes every channel's count
  const auto opts = x.options().dtype(at::kLong);
  auto fired = n == 0 ? at::zeros({channels}, opts) : at::empty({channels}, opts);
  if (n == 0) return {out, fired};
  const auto w = weight ? weight->contiguous() : at::Tensor();
  const auto b = bias ? bias->contiguous() : at::Tensor();
  const auto split =
      channel_split(n, channels, channel_inner(x, channels, dim), vector_width(out, x));
  auto part = at::empty({split.parts()}, x.options().dtype(at::kFloat));
  RELU_EXT_DISPATCH(x.scalar_type(), "act_stats_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto pc = channel_param<scalar_t>(w, param);
    const scalar_t* bp = b.defined() ? b.const_data_ptr<scalar_t>() : nullptr;
    // act(z), and the count of z > 0 (exact in float: a slice has at most 2^24 elements)
    channel_sums<float, 1, scalar_t>(
        split,
        [=] __device__(int64_t c, Sums<float, 1>& sums, opmath_t x) {
          const opmath_t z = bp ? x + static_cast<opmath_t>(bp[c]) : x;
          sums.v[0] += z > opmath_t(0) ? 1.0f : 0.0f;
          return act_fwd_stored<A, scalar_t>(z, pc(c));
        },
        part.data_ptr<float>(), out, x);
  });
  channel_totals(part.const_data_ptr<float>(), split, false, fired.data_ptr<int64_t>());
  return {out, fired};
}

std::tuple<at::Tensor, at::Tensor> act_stats_cuda(const at::Tensor& self,
                                                  const std::optional<at::Tensor>& weight,
                                                  int64_t dim, c10::string_view activation,
                                                  double param,
                                                  const std::optional<at::Tensor>& bias) {
  const Act act = check_act_stats(self, weight, dim, activation, bias, "relu_ext::act_stats");
  const at::Tensor* w = weight ? &*weight : nullptr;
  const at::Tensor* b = bias ? &*bias : nullptr;
  return with_activation(act, [&](auto a) {
    return stats<decltype(a)::value>(self, w, b, dim, param);
  });
}

TORCH_LIBRARY_IMPL(relu_ext, CUDA, m) {
  m.impl("act_stats", &act_stats_cuda);
}

}  // namespace relu_ext::cuda
