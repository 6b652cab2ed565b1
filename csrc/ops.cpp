// Every relu_ext op schema, in one place. Kernels: cpu/<act>.cpp,
// cuda/<act>.cu; autograd: autograd/<act>.cpp. All arguments are positional.
//
// Bit masks (leaky_relu_mask, gelu_mask): uint8 tensors of 4 * ceil(numel / 32) bytes, bit i
// (bit i % 8 of byte i / 8) for the i-th element in the memory order of the tensor they
// describe (the forward's result, which is non-overlapping and dense).
#include <torch/library.h>

TORCH_LIBRARY(relu_ext, m) {
  m.def("relu(Tensor self) -> Tensor");
  m.def("relu_(Tensor(a!) self) -> ()");
  m.def("relu_backward(Tensor grad_output, Tensor result) -> Tensor");

  m.def("leaky_relu(Tensor self, float negative_slope) -> Tensor");
  m.def("leaky_relu_(Tensor(a!) self, float negative_slope) -> ()");
  m.def("leaky_relu_backward(Tensor grad_output, Tensor self, float negative_slope, "
        "bool self_is_result) -> Tensor");
  // Leaky ReLU's autograd saves a 1-bit mask (self > 0) instead of the input.
  m.def("leaky_relu_mask(Tensor self, float negative_slope) -> (Tensor, Tensor)");
  m.def("leaky_relu_mask_backward(Tensor grad_output, Tensor mask, float negative_slope) -> Tensor");

  m.def("prelu(Tensor self, Tensor weight) -> Tensor");
  m.def("prelu_backward(Tensor grad_output, Tensor self, Tensor weight) -> (Tensor, Tensor)");

  // memory_efficient: autograd saves the result instead of the input (alpha >= 0).
  m.def("elu(Tensor self, float alpha, bool memory_efficient=False) -> Tensor");
  m.def("elu_(Tensor(a!) self, float alpha) -> ()");
  m.def("elu_backward(Tensor grad_output, Tensor self_or_result, float alpha, "
        "bool is_result) -> Tensor");

  // memory_efficient: autograd saves the result and a 1-bit branch mask (self >= the minimum's
  // x) instead of the input, which the backward recovers from them.
  m.def("gelu(Tensor self, str approximate, bool memory_efficient=False) -> Tensor");
  m.def("gelu_backward(Tensor grad_output, Tensor self, str approximate) -> Tensor");
  m.def("gelu_mask(Tensor self, str approximate) -> (Tensor, Tensor)");
  m.def("gelu_backward_from_result(Tensor grad_output, Tensor result, Tensor mask, "
        "str approximate) -> Tensor");
  m.def("gelu_inverse(Tensor result, Tensor mask, str approximate) -> Tensor");

  // Fused bias + activation: act(self + bias), bias of size self.size(dim) broadcast along every
  // other dim. activation: relu, leaky_relu, elu, gelu, gelu_tanh; param: leaky_relu's slope or
  // elu's alpha (ignored by the others). PReLU's weight (1 or size(dim) values) follows dim too.
  // Backward: grad_input and grad_bias (and grad_weight) from one pass over the data.
  m.def("bias_act(Tensor self, Tensor bias, int dim, str activation, float param) -> Tensor");
  m.def("bias_act_backward(Tensor grad_output, Tensor self, Tensor bias, int dim, "
        "str activation, float param) -> (Tensor, Tensor)");
  m.def("bias_prelu(Tensor self, Tensor bias, Tensor weight, int dim) -> Tensor");
  m.def("bias_prelu_backward(Tensor grad_output, Tensor self, Tensor bias, Tensor weight, "
        "int dim) -> (Tensor, Tensor, Tensor)");

  // An activation that also counts, per channel (index along dim), the inputs in its active
  // regime (x > 0), in the same pass: for relu_ext.DeadUnitMonitor. activation: relu,
  // leaky_relu, elu, gelu, gelu_tanh, prelu (weight along dim 1, as torch's); param: slope or
  // alpha. With a bias, bias_act's (or bias_prelu's) act(self + bias) with the same values,
  // counting self + bias > 0 (bias and PReLU's weight along dim; a watched LinearAct).
  // Returns (result, fired: int64, size(dim) values).
  m.def("act_stats(Tensor self, Tensor? weight, int dim, str activation, float param, "
        "Tensor? bias=None) -> (Tensor, Tensor)");
}
