"""Loads the compiled libraries and reports what was loaded (backend_info)."""
import importlib.machinery
import os

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
REBUILD = "pip install --no-build-isolation -e .  (or: make build)"

_info = {
    "cpu": False,
    "cuda_built": False,
    "cuda_loaded": False,
    "cuda_error": None,
    "libraries": [],
}


def _find(name):
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_HERE, name + suffix)
        if os.path.exists(path):
            return path
    return None


def _cpu_has_avx512_bf16():
    try:
        with open("/proc/cpuinfo") as f:  # the first CPU's flags (the file repeats them per CPU)
            for line in f:
                if line.startswith("flags"):
                    return "avx512_bf16" in line.split()
    except OSError:  # not Linux: the plain AVX-512 library
        pass
    return False


def runnable_isas():
    """The CPU libraries this CPU can run, lowest first: torch's CPU capability
    (ATEN_CPU_CAPABILITY lowers it) and the ones below it; avx512_bf16 where the CPU also
    has the AVX512-BF16 conversions."""
    capability = torch.backends.cpu.get_cpu_capability().lower()
    isas = {"avx512": ["default", "avx2", "avx512"], "avx2": ["default", "avx2"]}.get(
        capability, ["default"])
    if capability == "avx512" and _cpu_has_avx512_bf16():
        isas.append("avx512_bf16")
    return isas


def load():
    """Load _C (schemas, CPU and autograd kernels) and, when built, _C_cuda.

    Fails loudly when the library is missing or was built against another torch.
    """
    try:
        from . import _build_info
    except ImportError:
        raise ImportError(
            "relu_ext: the compiled library is missing (relu_ext/_build_info.py and "
            f"relu_ext/_C*.so are written by the build). Build it with: {REBUILD}"
        ) from None
    _info["built_with_torch"] = _build_info.TORCH_VERSION
    _info["cuda_version"] = _build_info.CUDA_VERSION
    if _build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            f"relu_ext was built against torch {_build_info.TORCH_VERSION}, but torch "
            f"{torch.__version__} is installed; its compiled library cannot be loaded. "
            f"Rebuild it against the installed torch with: {REBUILD}"
        )
    path = _find("_C")
    if path is None:
        raise ImportError(f"relu_ext: relu_ext/_C*.so is missing. Build it with: {REBUILD}")
    torch.ops.load_library(path)
    _info["libraries"].append(path)
    # The CPU kernels, built once per instruction set: the best one this CPU runs, as torch
    # itself chooses (ATEN_CPU_CAPABILITY=default|avx2|avx512 overrides, for both), and on an
    # AVX-512 CPU with the bfloat16 conversions, the library that uses them.
    # RELU_EXT_CPU_ISA=<isa> starts the search there instead (one this CPU runs).
    order = runnable_isas()[::-1]
    wanted = os.environ.get("RELU_EXT_CPU_ISA", "").lower()
    if wanted:
        if wanted not in order:
            raise ImportError(f"relu_ext: RELU_EXT_CPU_ISA={wanted} is not one this CPU runs "
                              f"(it runs {', '.join(order)})")
        order = order[order.index(wanted):]
    for isa in order:
        cpu_path = _find(f"_C_cpu_{isa}")
        if cpu_path is not None:
            break
    else:
        raise ImportError(
            f"relu_ext: relu_ext/_C_cpu_*.so (the CPU kernels) is missing. Build it with: {REBUILD}"
        )
    # the CPU library's choices for this CPU, overridden (csrc/cpu/cpu_choices.h)
    for name, meaning in (("RELU_EXT_SLOW_GATHERS", "the half types' ELU computed, not looked "
                                                    "up, and GELU's tables read by scalar loads"),
                          ("RELU_EXT_ROW_BLOCKS", "the monitor's counts of half-type rows taken "
                                                  "in blocks of rows"),
                          ("RELU_EXT_SPLIT_LOADS", "the AVX-512 float loops without a prefetch "
                                                   "loading vectors in halves")):
        value = os.environ.get(name)
        if value is not None and value not in ("0", "1"):
            raise ImportError(f"relu_ext: {name}={value!r} must be 1 ({meaning}) or 0")
    torch.ops.load_library(cpu_path)
    _info["cpu"] = True
    _info["cpu_isa"] = isa
    from . import _C  # (the library loaded above: its Python entry points)

    _info["half_tables"] = (() if isa == "default" else
                            ("gelu",) if _C.slow_gathers() else ("elu", "gelu"))
    _info["libraries"].append(cpu_path)

    cuda_path = _find("_C_cuda")
    _info["cuda_built"] = cuda_path is not None
    if cuda_path is None:
        _info["cuda_error"] = (
            "relu_ext was built without CUDA kernels (no nvcc or a CPU-only torch at build "
            "time; RELU_EXT_CUDA=1 forces them)"
        )
        return
    try:
        torch.ops.load_library(cuda_path)
    except OSError as e:
        _info["cuda_error"] = f"loading {os.path.basename(cuda_path)} failed: {e}"
        return
    _info["cuda_loaded"] = True
    _info["libraries"].append(cuda_path)


def backend_info():
    """What relu_ext loaded, for which torch (and CUDA), and why a backend is unavailable.

    Returns a dict: ``torch`` (running version), ``built_with_torch``, ``cpu`` (bool),
    ``cpu_isa`` (the instruction set of the CPU kernels loaded: default, avx2, avx512 or
    avx512_bf16), ``half_tables`` (which activations' bfloat16 / float16 kernels look their
    values up in tables rather than compute them: ``("elu", "gelu")``; ``("gelu",)`` where
    the CPU's vector gathers are slow (AMD's AVX-512 CPUs; ``RELU_EXT_SLOW_GATHERS=1|0``
    decides instead); ``()`` in the default library),
    ``cuda`` (bool: CUDA kernels loaded and a GPU usable), ``cuda_built``, ``cuda_version``
    (CUDA the kernels were compiled with, or None), ``cuda_reason`` (None when ``cuda``,
    otherwise why not), ``libraries`` (paths loaded).
    """
    reason = _info["cuda_error"]
    if reason is None and not torch.cuda.is_available():
        reason = "relu_ext's CUDA kernels are loaded, but torch sees no usable GPU/driver"
    return {
        "torch": torch.__version__,
        "built_with_torch": _info.get("built_with_torch"),
        "cpu": _info["cpu"],
        "cpu_isa": _info.get("cpu_isa"),
        "half_tables": _info.get("half_tables"),
        "cuda": reason is None,
        "cuda_built": _info["cuda_built"],
        "cuda_version": _info.get("cuda_version"),
        "cuda_reason": reason,
        "libraries": list(_info["libraries"]),
    }


if __name__ == "__main__":
    # `python relu_ext/_library.py`: the CPU library this machine loads, read without
    # importing the package, which needs the built libraries (the Makefile, gpu_check.sh).
    print(runnable_isas()[-1])
