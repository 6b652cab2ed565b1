// Shared by the C++ autograd kernels (registered on the Autograd key, so no Python runs
// per call). They are written as ATen's own generated kernels are: an op that records a
// gradient creates a Node holding what its backward needs and its outputs point to it; a
// forward-mode tangent is carried by the same derivative formula. The backward of each
// forward op calls its backward op through the dispatcher, and each backward op records
// its own Node, so double backward works. Nodes also support compiled autograd.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/util/FunctionRef.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/FunctionsManual.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/dynamo/compiled_autograd.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <memory>
#include <numeric>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../ops.h"

namespace relu_ext {

using torch::autograd::SavedVariable;
using torch::autograd::variable_list;
using torch::dynamo::autograd::CompiledNodeArgs;
using torch::dynamo::autograd::SwapSavedVariables;

// The smart pointer autograd holds nodes by: std::shared_ptr<Node> up to torch 2.11,
// c10::intrusive_ptr<Node> after; NodePtr<N> is that pointer to an N, new_node<N>() makes one.
template <typename P>
struct NodePointer;
template <>
struct NodePointer<std::shared_ptr<torch::autograd::Node>> {
  template <typename N>
  using to = std::shared_ptr<N>;
  template <typename N>
  static to<N> make() { return std::make_shared<N>(); }
};
template <typename Null>
struct NodePointer<c10::intrusive_ptr<torch::autograd::Node, Null>> {
  template <typename N>
  using to = c10::intrusive_ptr<N>;
  template <typename N>
  static to<N> make() { return c10::make_intrusive<N>(); }
};
using NodePointers = NodePointer<decltype(torch::autograd::Edge::function)>;
template <typename N>
using NodePtr = NodePointers::to<N>;
template <typename N>
NodePtr<N> new_node() { return NodePointers::make<N>(); }

// A node of the autograd graph with N saved tensors. Derived provides
//   static constexpr const char* kName;
//   variable_list backward(const variable_list& grads, const std::array<at::Tensor, N>& saved);
//       (grads[i] undefined when output i got no gradient; should_compute(i): whether
//       input i needs a gradient)
//   template <typename F> void fields(F&& f);   // f(member) for each non-tensor member
// Compiled autograd traces a node through backward_functional, a copy of it rebuilt from
// its packed state (as torch's own nodes are lifted).
template <typename Derived, size_t N>
struct Node : public torch::autograd::TraceableFunction {
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::array<at::Tensor, N> unpacked;
    for (size_t i = 0; i < N; ++i) unpacked[i] = saved_[i].unpack(getptr());
    return derived().backward(grads, unpacked);
  }
  std::string name() const override { return Derived::kName; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& s : saved_) s.reset_data();
  }

  void compiled_args(CompiledNodeArgs& args) const override {
    for (size_t i = 0; i < N; ++i) args.collect(saved_[i], saved_is_output_[i]);
    const_cast<Derived&>(derived()).fields([&](const auto& v) { args.collect(v); });
  }
  variable_list apply_with_saved(const variable_list& grads, SwapSavedVariables& swap) override {
    for (auto& s : saved_) swap.before(s);
    derived().fields([&](auto& v) { swap.before(v); });
    torch::dynamo::autograd::PackedArgs packed;
    std::vector<bool> needs;
    for (size_t i = 0; i < num_outputs(); ++i) needs.push_back(task_should_compute_output(i));
    packed.pack(needs);
    for (auto& s : saved_) packed.pack(s.unpack(getptr()));
    derived().fields([&](const auto& v) { packed.pack(v); });
    const auto args = std::move(packed).vec();
    std::vector<at::TypePtr> schema;
    for (const auto& a : args) schema.push_back(a.isTensor() ? at::TensorType::get() : a.type());
    const auto& py = torch::dynamo::autograd::getPyCompilerInterface();
    static bool bound = false;  // once per node type, as torch's own nodes (same schema)
    if (!bound) {
      bound = true;
      py->bind_function(swap.get_py_compiler(), Derived::kName, &Node::backward_functional,
                        schema);
    }
    auto grad_inputs = py->call_function(
        swap.get_py_compiler(), "apply_functional", Derived::kName, grads, args,
        torch::dynamo::autograd::IValuePacker<std::vector<std::optional<
            torch::autograd::InputMetadata>>>::pack(
            torch::dynamo::autograd::get_input_metadata(next_edges())));
    for (auto& s : saved_) swap.after(s);
    derived().fields([&](auto& v) { swap.after(v); });
    return grad_inputs;
  }
  static variable_list backward_functional(const variable_list& grads,
                                           const std::vector<c10::IValue>& args) {
    torch::dynamo::autograd::PackedArgs packed(args);
    auto node = new_node<Derived>();
    node->needs_ = packed.unpack<std::vector<bool>>();
    std::array<at::Tensor, N> saved;
    for (auto& t : saved) t = packed.unpack<at::Tensor>();
    node->fields([&](auto& v) { v = packed.unpack<std::decay_t<decltype(v)>>(); });
    return node->backward(grads, saved);
  }

  // Saves t for backward; is_output: t is an output of this node's op; inplace: that op
  // modified t in place (as ATen marks them).
  void save(size_t i, const at::Tensor& t, bool is_output, bool inplace = false) {
    saved_[i] = SavedVariable(t, is_output, inplace && t.is_view());
    saved_is_output_[i] = is_output;
  }

 protected:
  bool should_compute(size_t i) const {
    return needs_.empty() ? task_should_compute_output(i) : needs_[i];
  }

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
  const Derived& derived() const { return static_cast<const Derived&>(*this); }
  std::array<SavedVariable, N> saved_;
  std::array<bool, N> saved_is_output_{};
  std::vector<bool> needs_;  // set in backward_functional's copy
};

// The node for a call whose differentiable inputs are ts, or null when the call records no
// gradient (grad mode off, or no input requires grad).
template <typename N, typename... Ts>
NodePtr<N> make_node_if(bool requires_grad, const Ts&... ts) {
  if (!requires_grad) return {};
  auto node = new_node<N>();
  node->set_next_edges(torch::autograd::collect_next_edges(ts...));
  return node;
}
template <typename N, typename... Ts>
NodePtr<N> make_node(const Ts&... ts) {
  return make_node_if<N>(torch::autograd::compute_requires_grad(ts...), ts...);
}

// Makes node the grad_fn of the op's outputs.
inline void set_grad_fn(const std::vector<at::Tensor>& outputs,
                        const NodePtr<torch::autograd::Node>& node) {
  if (node) torch::autograd::set_history(outputs, node);
}

// The checks and history of an in-place op on self (torch's errors for a leaf that
// requires grad, or a view whose base cannot be modified).
template <typename N>
NodePtr<N> make_inplace_node(const at::Tensor& self) {
  const bool requires_grad = torch::autograd::compute_requires_grad(self);
  torch::autograd::check_inplace(self, requires_grad);
  return make_node_if<N>(requires_grad, self);
}
inline void rebase_grad_fn(const at::Tensor& self,
                           const NodePtr<torch::autograd::Node>& node) {
  if (node) torch::autograd::rebase_history(self, node);
}

// t in the memory order of a dense tensor with the given strides (the tensor a bit mask
// describes): t itself when it already is, else a copy, made out of place (so it also works
// under vmap) by permuting to that order, making it contiguous and permuting back.
inline at::Tensor with_strides(const at::Tensor& t, c10::SymIntArrayRef strides) {
  const auto sizes = t.sym_sizes();
  const auto have = t.sym_strides();
  const auto n = static_cast<int64_t>(strides.size());
  bool same = static_cast<int64_t>(have.size()) == n;
  for (int64_t i = 0; same && i < n; ++i) same = sizes[i] == 1 || have[i] == strides[i];
  if (same) return t;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return strides[a] > strides[b]; });
  std::vector<int64_t> back(n);
  for (int64_t i = 0; i < n; ++i) back[order[i]] = i;
  return t.permute(order).contiguous().permute(back);
}

// Forward-mode AD (level 0, as ATen's own kernels read it): whether t carries a tangent,
// the tangent, and t's primal (t without its tangent, for the derivative formulas).
inline bool has_tangent(const at::Tensor& t) { return torch::autograd::isFwGradDefined(t); }
inline at::Tensor tangent(const at::Tensor& t) {
  return torch::autograd::generated::details::toNonOptFwGrad(t);
}
inline at::Tensor primal(const at::Tensor& t) {
  return torch::autograd::generated::details::toNonOptPrimal(t);
}
// Gives y the tangent t; after an in-place op on y, its existing tangent is overwritten in
// place (as forward AD requires).
inline void set_tangent(const at::Tensor& y, const at::Tensor& t, bool inplace = false) {
  if (inplace) {
    auto existing = y._fw_grad(/*level=*/0);
    if (existing.defined()) {
      existing.copy_(t);
      return;
    }
  }
  y._set_fw_grad(t, /*level=*/0, /*is_inplace_op=*/inplace);
}

// The autograd of bias_act (w null) or bias_prelu (w PReLU's weight) around forward(), which
// computes y = act(x + b) below autograd (AutoDispatchBelowADInplaceOrView): y's node and
// tangent as the op's own (bias_act.cpp). act_stats with a bias takes it too (act_stats.cpp).
at::Tensor bias_act_autograd_of(const at::Tensor& x, const at::Tensor& b, const at::Tensor* w,
                                int64_t dim, c10::string_view activation, double param,
                                c10::function_ref<at::Tensor()> forward);

// An Autocast kernel's view of autocast on the device: its guard (the op's call below it
// runs without autocast) and tensors cast as torch's autocast casts them (floating-point
// tensors only, fp32 parameters cached for the autocast region).
template <c10::DeviceType device>
struct Autocast {
  c10::impl::ExcludeDispatchKeyGuard below{
      at::autocast::get_autocast_dispatch_key_from_device_type(device)};
  // t in the autocast dtype (a "lower precision" op's inputs, as torch's prelu takes them)
  at::Tensor lower(const at::Tensor& t) const {
    return at::autocast::cached_cast(at::autocast::get_autocast_dtype(device), t, device);
  }
  // A parameter (a bias) in the dtype of the input it is added to, when that is floating.
  at::Tensor like(const at::Tensor& input, const at::Tensor& t) const {
    return input.is_floating_point() ? at::autocast::cached_cast(input.scalar_type(), t, device)
                                     : t;
  }
};

}  // namespace relu_ext
