// Shared by the C++ autograd kernels (registered on the Autograd key, so no
// Python runs per call). Each forward op has a torch::autograd::Function whose
// backward calls the backward op through the dispatcher; each backward op has
// its own Function, so double backward works.
#pragma once

#include <torch/autograd.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/library.h>

#include "../ops.h"

namespace relu_ext {

using torch::autograd::AutogradContext;
using torch::autograd::Function;
using torch::autograd::variable_list;

// True when the call must go through Function::apply: it is recorded for
// backward, or a tensor carries a forward-mode tangent (which Function::apply
// then rejects with a clear error instead of dropping it).
template <typename... Ts>
inline bool needs_autograd(const Ts&... ts) {
  const bool grad = at::GradMode::is_enabled() && ((ts.defined() && ts.requires_grad()) || ...);
  return grad || ((ts.defined() && ts._fw_grad(/*level=*/0).defined()) || ...);
}

}  // namespace relu_ext
