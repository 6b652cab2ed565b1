// Every relu_ext op schema, in one place. Kernels: cpu/<act>.cpp,
// cuda/<act>.cu; autograd: autograd/<act>.cpp. All arguments are positional.
#include <torch/library.h>

TORCH_LIBRARY(relu_ext, m) {
  m.def("relu(Tensor self) -> Tensor");
  m.def("relu_(Tensor(a!) self) -> ()");
  m.def("relu_backward(Tensor grad_output, Tensor result) -> Tensor");

  m.def("leaky_relu(Tensor self, float negative_slope) -> Tensor");
  m.def("leaky_relu_(Tensor(a!) self, float negative_slope) -> ()");
  m.def("leaky_relu_backward(Tensor grad_output, Tensor self, float negative_slope, "
        "bool self_is_result) -> Tensor");

  m.def("prelu(Tensor self, Tensor weight) -> Tensor");
  m.def("prelu_backward(Tensor grad_output, Tensor self, Tensor weight) -> (Tensor, Tensor)");

  m.def("elu(Tensor self, float alpha) -> Tensor");
  m.def("elu_(Tensor(a!) self, float alpha) -> ()");
  m.def("elu_backward(Tensor grad_output, Tensor self_or_result, float alpha, "
        "bool is_result) -> Tensor");

  m.def("gelu(Tensor self, str approximate) -> Tensor");
  m.def("gelu_backward(Tensor grad_output, Tensor self, str approximate) -> Tensor");
}
