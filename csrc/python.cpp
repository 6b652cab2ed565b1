// Python entry points for the functional API (relu_ext/functional.py) and the dead-unit
// monitor: each calls its op through the dispatcher exactly as torch.ops.relu_ext.<op>.default
// does (every dispatch key: autograd, vmap, fake tensors, Python modes), but reads its
// arguments straight from the Python objects instead of through torch.ops's stack of IValues
// checked against the schema (about 0.2 µs an argument): a relu call 0.93 -> 0.60 µs, ATen's
// own 0.80 (benchmarks/NOTES.md §28).
//
// Only arguments of exactly the types below are read here; a call with any other (a tensor
// subclass, which may define __torch_function__; an int for a bool; a list), with another
// count of arguments, or inside a TorchFunctionMode goes to the OpOverload's own function:
// the same result, and for an argument of the wrong type a TypeError naming it (torch.ops
// raises RuntimeError there). Under torch.compile functional.py calls the OpOverload.
// An input of a layout relu_ext's kernels do not take (sparse, quantized, nested, MKL-DNN)
// goes to torch's own function (torch.nn.functional's result and errors), and a DTensor to
// relu_ext's op on its local shard (relu_ext/_other_inputs.py), so that the modules
// work wherever torch.nn's do.
#include <ATen/PythonTorchFunctionTLS.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/extension.h>

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cpu/cpu_choices.h"
#include "ops.h"

namespace relu_ext {
namespace {

namespace py = pybind11;

PyTypeObject* g_tensor = nullptr;     // torch.Tensor
PyTypeObject* g_parameter = nullptr;  // torch.nn.Parameter (its __torch_function__ is off)

// Arg<T>::read(o, out): whether o is a Python object of the kind torch.ops takes for a C++
// argument of type T (as these ops' schemas use them), and if so its value in out.
template <typename T>
struct Arg;
template <>
struct Arg<at::Tensor> {
  using type = at::Tensor;
  static bool read(PyObject* o, type& out) {
    if (Py_TYPE(o) != g_tensor && Py_TYPE(o) != g_parameter) return false;
    out = THPVariable_Unpack(o);
    return true;
  }
};
template <>
struct Arg<std::optional<at::Tensor>> {
  using type = std::optional<at::Tensor>;
  static bool read(PyObject* o, type& out) {
    if (o == Py_None) return true;
    at::Tensor t;
    if (!Arg<at::Tensor>::read(o, t)) return false;
    out = std::move(t);
    return true;
  }
};
template <>
struct Arg<double> {  // float, or int (exactly representable or not, as torch.ops)
  using type = double;
  static bool read(PyObject* o, type& out) {
    if (!PyFloat_CheckExact(o) && !PyLong_CheckExact(o)) return false;
    out = PyFloat_AsDouble(o);
    if (out == -1.0 && PyErr_Occurred()) {  // an int too large for a double
      PyErr_Clear();
      return false;
    }
    return true;
  }
};
template <>
struct Arg<int64_t> {
  using type = int64_t;
  static bool read(PyObject* o, type& out) {
    if (!PyLong_CheckExact(o)) return false;
    int overflow = 0;
    out = PyLong_AsLongLongAndOverflow(o, &overflow);
    return overflow == 0;
  }
};
template <>
struct Arg<bool> {
  using type = bool;
  static bool read(PyObject* o, type& out) {
    if (!PyBool_Check(o)) return false;
    out = o == Py_True;
    return true;
  }
};
template <>
struct Arg<c10::string_view> {  // a view of the str's UTF-8 form, alive as long as the str
  using type = c10::string_view;
  static bool read(PyObject* o, type& out) {
    if (!PyUnicode_CheckExact(o)) return false;
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(o, &size);
    if (data == nullptr) {
      PyErr_Clear();
      return false;
    }
    out = c10::string_view(data, static_cast<size_t>(size));
    return true;
  }
};

// Whether torch is about to skip the next __torch_function__ check (a flag torch 2.11 and
// earlier do not have).
template <typename TLS, typename = void>
struct HasSkipNext : std::false_type {};
template <typename TLS>
struct HasSkipNext<TLS, std::void_t<decltype(TLS::peek_skip_next())>> : std::true_type {};
template <typename TLS = at::impl::PythonTorchFunctionTLS>
bool skip_next_torch_function() {
  if constexpr (HasSkipNext<TLS>::value) {
    return TLS::peek_skip_next();
  } else {
    return false;
  }
}

// Whether a TorchFunctionMode is active (or torch is about to skip the next
// __torch_function__ check): then the call must go through torch's own Python path.
inline bool torch_function_active() {
  return at::impl::torch_function_mode_enabled() || skip_next_torch_function();
}

template <typename A>
using ArgOf = Arg<std::remove_const_t<std::remove_reference_t<A>>>;

// Whether t has a layout relu_ext's kernels take: strided and neither quantized nor nested
// (not sparse, MKL-DNN, quantized, nested or jagged).
inline bool plain_layout(const at::Tensor& t) {
  return t.layout() == at::kStrided && !t.is_quantized() && !t.is_nested();
}

// The function to call instead for an input relu_ext's kernels do not take as it is (another
// layout, a DTensor): relu_ext/_other_inputs.py: other_function; None for the usual path.
py::object other_function(const char* name, py::handle input) {
  return py::module_::import("relu_ext._other_inputs").attr("other_function")(name, input);
}

// The OpOverload's function, with arguments of the wrong type reported as TypeError, as
// torch's own functions do (torch.ops raises RuntimeError: "Expected a value of type 'float'
// for argument 'negative_slope' ..."; with no tensor at all, a NotImplementedError that names
// no argument).
py::object call_fallback(const char* name, const py::object& fallback, const py::args& args) {
  if (args.size() > 0 && !THPVariable_Check(args[0].ptr()) &&
      !PyObject_HasAttrString(reinterpret_cast<PyObject*>(Py_TYPE(args[0].ptr())),
                              "__torch_function__")) {  // (tensor-likes take their own path)
    throw py::type_error(std::string("relu_ext::") + name +
                         "(): argument 'input' (position 1) must be Tensor, not " +
                         Py_TYPE(args[0].ptr())->tp_name);
  }
  try {
    return fallback(*args);
  } catch (py::error_already_set& e) {
    if (e.matches(PyExc_RuntimeError)) {
      const std::string message = py::str(e.value());
      if (message.find("Expected a value of type") != std::string::npos) {
        throw py::type_error(message.substr(0, message.find('\n')));
      }
    }
    throw;
  }
}

template <typename R, typename... A, size_t... I>
py::object call(R (*op)(A...), const char* name, const py::object& fallback,
                const py::args& args, std::index_sequence<I...>) {
  // the input (the first argument) a tensor subclass or of another layout: _other_inputs.py
  // names the function to call, if any
  if (args.size() > 0 && THPVariable_Check(args[0].ptr())) {
    PyObject* const input = args[0].ptr();
    if ((Py_TYPE(input) != g_tensor && Py_TYPE(input) != g_parameter) ||
        !plain_layout(THPVariable_Unpack(input))) {
      py::object other = other_function(name, input);
      if (!other.is_none()) return other(*args);
    }
  }
  std::tuple<typename ArgOf<A>::type...> values;
  if (args.size() != sizeof...(A) ||
      !(ArgOf<A>::read(args[I].ptr(), std::get<I>(values)) && ...) ||
      torch_function_active()) {
    return call_fallback(name, fallback, args);
  }
  if constexpr (std::is_void_v<R>) {
    {
      py::gil_scoped_release no_gil;  // as torch's own bindings, while the op runs
      op(std::get<I>(values)...);
    }
    return py::none();
  } else {
    R result;
    {
      py::gil_scoped_release no_gil;
      result = op(std::get<I>(values)...);
    }
    return py::cast(std::move(result));
  }
}

// Binds name to the op's C++ entry point op (ops.h), falling back to
// torch.ops.relu_ext.<name>.default's function (and to torch's for other layouts).
template <typename R, typename... A>
void def(py::module_& m, const char* name, R (*op)(A...)) {
  py::object fallback = py::module_::import("torch")
                            .attr("ops").attr("relu_ext").attr(name).attr("default").attr("_op");
  m.def(name, [op, name, fallback](const py::args& args) {
    return call(op, name, fallback, args, std::index_sequence_for<A...>{});
  });
}

// The dead-unit monitor's running counts for one watched module (relu_ext/monitor.py).
// step(input, weight, activation, param) is the module's forward while monitored: act_stats,
// then its per-channel counts added into `fired` and the inputs per channel into `seen`, in
// one call from Python (the same steps in Python cost ~10 µs a call, a 64K-element GELU 15.5
// -> 26 µs; more after a large input, the interpreter's data then out of the cache;
// benchmarks/NOTES.md §29). It returns None, counting nothing, where the monitor's Python path
// must take the call: an argument not exactly a tensor (or None for the weight), a
// TorchFunctionMode, a tensor without storage (vmap's, functorch's wrappers), a dtype or
// device act_stats does not take, a weight per channel with the channels not at dim 1, a
// 0-dim input, a channel dim out of range, or a channel count other than the one counted so
// far (Python raises the errors).
class ActCounter {
 public:
  explicit ActCounter(std::optional<int64_t> channel_dim) : channel_dim_(channel_dim) {}

  py::object step(py::handle input, py::handle weight, py::handle activation,
                  py::handle param) {
    at::Tensor x;
    std::optional<at::Tensor> w;
    c10::string_view act;
    double p = 0;
    if (!Arg<at::Tensor>::read(input.ptr(), x) ||
        !Arg<std::optional<at::Tensor>>::read(weight.ptr(), w) ||
        !Arg<c10::string_view>::read(activation.ptr(), act) ||
        !Arg<double>::read(param.ptr(), p) || torch_function_active() ||
        !x.unsafeGetTensorImpl()->has_storage() || !plain_layout(x)) {
      return py::none();
    }
    const auto dtype = x.scalar_type();
    const int64_t nd = x.dim();
    if ((dtype != at::kFloat && dtype != at::kDouble && dtype != at::kHalf &&
         dtype != at::kBFloat16) ||
        (!x.is_cpu() && !x.is_cuda()) || nd == 0) {
      return py::none();
    }
    int64_t dim = channel_dim_.value_or(nd >= 2 ? 1 : 0);
    if (dim < -nd || dim >= nd) return py::none();
    if (dim < 0) dim += nd;
    const int64_t channels = x.size(dim);
    if ((w && w->numel() != 1 && dim != 1) || (fired.defined() && fired.numel() != channels)) {
      return py::none();
    }
    at::Tensor y, counts;
    {
      py::gil_scoped_release no_gil;
      std::tie(y, counts) = ops::act_stats(x, w, dim, act, p, std::nullopt);
    }
    add(counts, x.numel() / std::max<int64_t>(1, channels));
    return py::cast(std::move(y));
  }

  // counts (int64, one per channel) and the inputs each channel saw, added to the totals
  void add(const at::Tensor& counts, int64_t inputs) {
    if (!fired.defined()) {
      c10::InferenceMode normal(false);  // (counted in inference mode: still a normal tensor)
      fired = counts.detach().clone();
    } else if (fired.is_cpu() && counts.is_cpu() && counts.scalar_type() == at::kLong &&
               !fired.key_set().has(c10::DispatchKey::Python) &&  // (not DTensors)
               !counts.key_set().has(c10::DispatchKey::Python) &&
               counts.is_contiguous() && counts.unsafeGetTensorImpl()->has_storage() &&
               counts.numel() == fired.numel()) {
      int64_t* const total = fired.data_ptr<int64_t>();  // (contiguous: made by clone)
      const int64_t* const more = counts.const_data_ptr<int64_t>();
      for (int64_t c = 0, n = fired.numel(); c < n; ++c) total[c] += more[c];
    } else {
      fired.add_(counts.detach().to(fired.device()));
    }
    seen += inputs;
  }

  void reset() {
    fired = at::Tensor();
    seen = 0;
  }

  std::optional<int64_t> channel_dim() const { return channel_dim_; }

  at::Tensor fired;  // undefined until the first count
  int64_t seen = 0;

 private:
  std::optional<int64_t> channel_dim_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  g_tensor = reinterpret_cast<PyTypeObject*>(py::module_::import("torch").attr("Tensor").ptr());
  g_parameter =
      reinterpret_cast<PyTypeObject*>(py::module_::import("torch.nn").attr("Parameter").ptr());
  def(m, "relu", &ops::relu);
  def(m, "relu_", &ops::relu_);
  def(m, "leaky_relu", &ops::leaky_relu);
  def(m, "leaky_relu_", &ops::leaky_relu_);
  def(m, "prelu", &ops::prelu);
  def(m, "elu", &ops::elu);
  def(m, "elu_", &ops::elu_);
  def(m, "gelu", &ops::gelu);
  def(m, "bias_act", &ops::bias_act);
  def(m, "bias_prelu", &ops::bias_prelu);
  def(m, "act_stats", &ops::act_stats);
  // the CPU library's choices for this CPU (cpu/cpu_choices.h): whether it computes the half
  // types' ELU instead of looking it up; whether act_stats takes the half types' pattern rows
  // in blocks; whether the float loops without a prefetch load vectors in halves
  m.def("slow_gathers", &slow_gathers);
  m.def("stats_row_blocks", &stats_row_blocks);
  m.def("split_loads", &split_loads);
  py::class_<ActCounter>(m, "ActCounter")
      .def(py::init<std::optional<int64_t>>(), py::arg("channel_dim"))
      .def("step", &ActCounter::step)
      .def("add", &ActCounter::add, py::arg("counts"), py::arg("inputs"))
      .def("reset", &ActCounter::reset)
      .def_property_readonly("fired", [](const ActCounter& c) -> py::object {
        return c.fired.defined() ? py::cast(c.fired) : py::none();
      })
      .def_readonly("seen", &ActCounter::seen)
      .def(py::pickle(  // (a watched model is copied or saved with its monitor's counts)
          [](const ActCounter& c) {
            return py::make_tuple(c.channel_dim(),
                                  c.fired.defined() ? py::cast(c.fired) : py::none(), c.seen);
          },
          [](const py::tuple& state) {
            ActCounter c(state[0].cast<std::optional<int64_t>>());
            if (!state[1].is_none()) c.fired = state[1].cast<at::Tensor>();
            c.seen = state[2].cast<int64_t>();
            return c;
          }));
}

}  // namespace relu_ext
