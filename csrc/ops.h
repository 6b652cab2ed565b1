// C++ entry points that call relu_ext ops through the dispatcher, so that the
// autograd kernels reach whichever backend (CPU, CUDA) holds the tensors.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <tuple>

namespace relu_ext::ops {

using at::Tensor;

template <typename Sig>
inline c10::TypedOperatorHandle<Sig> handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

// Each op's handle is looked up once, on first use.
#define RELU_EXT_HANDLE(name, ...) \
  static const auto op = handle<__VA_ARGS__>("relu_ext::" name)

inline Tensor relu(const Tensor& self) {
  RELU_EXT_HANDLE("relu", Tensor(const Tensor&));
  return op.call(self);
}
inline void relu_(Tensor& self) {
  RELU_EXT_HANDLE("relu_", void(Tensor&));
  op.call(self);
}
inline Tensor relu_backward(const Tensor& grad, const Tensor& result) {
  RELU_EXT_HANDLE("relu_backward", Tensor(const Tensor&, const Tensor&));
  return op.call(grad, result);
}

inline Tensor leaky_relu(const Tensor& self, double negative_slope) {
  RELU_EXT_HANDLE("leaky_relu", Tensor(const Tensor&, double));
  return op.call(self, negative_slope);
}
inline void leaky_relu_(Tensor& self, double negative_slope) {
  RELU_EXT_HANDLE("leaky_relu_", void(Tensor&, double));
  op.call(self, negative_slope);
}
inline Tensor leaky_relu_backward(const Tensor& grad, const Tensor& self, double negative_slope,
                                  bool self_is_result) {
  RELU_EXT_HANDLE("leaky_relu_backward", Tensor(const Tensor&, const Tensor&, double, bool));
  return op.call(grad, self, negative_slope, self_is_result);
}

inline std::tuple<Tensor, Tensor> leaky_relu_mask(const Tensor& self, double negative_slope) {
  RELU_EXT_HANDLE("leaky_relu_mask", std::tuple<Tensor, Tensor>(const Tensor&, double));
  return op.call(self, negative_slope);
}
inline Tensor leaky_relu_mask_backward(const Tensor& grad, const Tensor& mask,
                                       double negative_slope) {
  RELU_EXT_HANDLE("leaky_relu_mask_backward", Tensor(const Tensor&, const Tensor&, double));
  return op.call(grad, mask, negative_slope);
}

inline Tensor prelu(const Tensor& self, const Tensor& weight) {
  RELU_EXT_HANDLE("prelu", Tensor(const Tensor&, const Tensor&));
  return op.call(self, weight);
}
inline std::tuple<Tensor, Tensor> prelu_backward(const Tensor& grad, const Tensor& self,
                                                 const Tensor& weight) {
  RELU_EXT_HANDLE("prelu_backward",
                  std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&));
  return op.call(grad, self, weight);
}

inline Tensor elu(const Tensor& self, double alpha, bool memory_efficient = false) {
  RELU_EXT_HANDLE("elu", Tensor(const Tensor&, double, bool));
  return op.call(self, alpha, memory_efficient);
}
inline void elu_(Tensor& self, double alpha) {
  RELU_EXT_HANDLE("elu_", void(Tensor&, double));
  op.call(self, alpha);
}
inline Tensor elu_backward(const Tensor& grad, const Tensor& self_or_result, double alpha,
                           bool is_result) {
  RELU_EXT_HANDLE("elu_backward", Tensor(const Tensor&, const Tensor&, double, bool));
  return op.call(grad, self_or_result, alpha, is_result);
}

inline Tensor gelu(const Tensor& self, c10::string_view approximate,
                   bool memory_efficient = false) {
  RELU_EXT_HANDLE("gelu", Tensor(const Tensor&, c10::string_view, bool));
  return op.call(self, approximate, memory_efficient);
}
inline Tensor gelu_backward(const Tensor& grad, const Tensor& self,
                            c10::string_view approximate) {
  RELU_EXT_HANDLE("gelu_backward", Tensor(const Tensor&, const Tensor&, c10::string_view));
  return op.call(grad, self, approximate);
}

inline std::tuple<Tensor, Tensor> gelu_mask(const Tensor& self, c10::string_view approximate) {
  RELU_EXT_HANDLE("gelu_mask", std::tuple<Tensor, Tensor>(const Tensor&, c10::string_view));
  return op.call(self, approximate);
}
inline Tensor gelu_backward_from_result(const Tensor& grad, const Tensor& result,
                                        const Tensor& mask, c10::string_view approximate) {
  RELU_EXT_HANDLE("gelu_backward_from_result",
                  Tensor(const Tensor&, const Tensor&, const Tensor&, c10::string_view));
  return op.call(grad, result, mask, approximate);
}
inline Tensor gelu_inverse(const Tensor& result, const Tensor& mask, c10::string_view approximate) {
  RELU_EXT_HANDLE("gelu_inverse", Tensor(const Tensor&, const Tensor&, c10::string_view));
  return op.call(result, mask, approximate);
}

inline Tensor bias_act(const Tensor& self, const Tensor& bias, int64_t dim,
                       c10::string_view activation, double param) {
  RELU_EXT_HANDLE("bias_act",
                  Tensor(const Tensor&, const Tensor&, int64_t, c10::string_view, double));
  return op.call(self, bias, dim, activation, param);
}
inline std::tuple<Tensor, Tensor> bias_act_backward(const Tensor& grad, const Tensor& self,
                                                    const Tensor& bias, int64_t dim,
                                                    c10::string_view activation, double param) {
  RELU_EXT_HANDLE("bias_act_backward",
                  std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&, int64_t,
                                             c10::string_view, double));
  return op.call(grad, self, bias, dim, activation, param);
}
inline Tensor bias_prelu(const Tensor& self, const Tensor& bias, const Tensor& weight,
                         int64_t dim) {
  RELU_EXT_HANDLE("bias_prelu", Tensor(const Tensor&, const Tensor&, const Tensor&, int64_t));
  return op.call(self, bias, weight, dim);
}
inline std::tuple<Tensor, Tensor, Tensor> bias_prelu_backward(const Tensor& grad,
                                                              const Tensor& self,
                                                              const Tensor& bias,
                                                              const Tensor& weight, int64_t dim) {
  RELU_EXT_HANDLE("bias_prelu_backward",
                  std::tuple<Tensor, Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                     const Tensor&, int64_t));
  return op.call(grad, self, bias, weight, dim);
}

inline std::tuple<Tensor, Tensor> act_stats(const Tensor& self,
                                            const std::optional<Tensor>& weight, int64_t dim,
                                            c10::string_view activation, double param,
                                            const std::optional<Tensor>& bias) {
  RELU_EXT_HANDLE("act_stats",
                  std::tuple<Tensor, Tensor>(const Tensor&, const std::optional<Tensor>&, int64_t,
                                             c10::string_view, double,
                                             const std::optional<Tensor>&));
  return op.call(self, weight, dim, activation, param, bias);
}

#undef RELU_EXT_HANDLE

}  // namespace relu_ext::ops
