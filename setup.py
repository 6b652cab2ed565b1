"""Build relu_ext's compiled libraries.

    pip install --no-build-isolation -e .      (or: make build)

relu_ext/_C              every op schema and the C++ autograd kernels
relu_ext/_C_cpu_<isa>    the CPU kernels, once per instruction set (default, avx2, avx512,
                         avx512_bf16)
relu_ext/_C_cuda         the CUDA kernels (csrc/cuda/*.cu), built whenever nvcc and a
                         CUDA-enabled torch are present

Environment switches:
    RELU_EXT_CUDA=1 / =0     force / skip the CUDA library (default: build it when possible)
    TORCH_CUDA_ARCH_LIST     GPU architectures (default "8.0;9.0+PTX": A100, H100/H200, and PTX
                             that newer GPUs compile at load time)
    CUDA_HOME                the CUDA toolkit (default: the one `nvcc` on PATH runs, even
                             through a wrapper script)
    MAX_JOBS                 parallel compile jobs (ninja; default: the CPU count), and
                             the most translation units a library's kernel files make

Kernel sources are globbed: adding an activation never edits this file.
"""
import glob
import os
import platform
import re
import shutil
import sys

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
os.chdir(ROOT)


def find_cuda_home():
    """CUDA_HOME if set; otherwise the toolkit root that `nvcc` on PATH really runs.

    torch guesses the root from nvcc's location, which is wrong when nvcc is a wrapper
    script (e.g. /usr/local/bin/nvcc exec'ing /usr/local/cuda-13.0/bin/nvcc).
    """
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    real = os.path.realpath(nvcc)
    with open(real, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"#!"):  # a script: find the nvcc it runs
        m = re.search(rb"(/[^\s'\"]+)/bin/nvcc\b", head)
        if m and os.path.isfile(os.path.join(m.group(1).decode(), "bin", "nvcc")):
            return m.group(1).decode()
    return os.path.dirname(os.path.dirname(real))


if not os.environ.get("CUDA_HOME") and find_cuda_home():
    os.environ["CUDA_HOME"] = find_cuda_home()  # before torch.utils.cpp_extension reads it

try:
    import torch
    from torch.utils import cpp_extension
except ImportError:  # torch must already be installed: we never pull or replace it
    sys.exit(
        "relu_ext: building needs torch installed first (e.g. pip install torch), then "
        "pip install --no-build-isolation -e ."
    )

if shutil.which(os.environ.get("CXX", "c++")) is None:
    sys.exit(
        f"relu_ext: no C++ compiler found ({os.environ.get('CXX', 'c++')!r} is not on PATH); "
        "install one (e.g. g++ 9 or newer) or set CXX, then pip install --no-build-isolation -e ."
    )

# -fno-trapping-math lets the compiler turn the branches of piecewise functions into
# vector selects (results are unchanged: we never read floating-point exception flags).
CXX_FLAGS = ["-O3", "-g0", "-fopenmp", "-fno-trapping-math"]
NVCC_FLAGS = ["-O3", "-DNDEBUG", "--extended-lambda", "--expt-relaxed-constexpr"]
# The C++ runtime as the shared library, by its file name: the lent GPU machines' g++ (a
# wrapper passing -B/opt/gcc/lib/gcc/x86_64-linux-gnu/13/, a folder with libstdc++.a and no
# libstdc++.so) linked a static copy into each library, and that copy's iostreams crashed
# beside the process's own (std::ifstream, and the messages TORCH_CHECK formats:
# benchmarks/NOTES.md §46); -Wl,-Bdynamic -lstdc++ still found the archive first. With
# -l:libstdc++.so.6 the linker takes the shared library wherever it lies on its search path,
# and the archive then supplies nothing. .ci/static-cxx-g++ builds the compat stage that way.
SHARED_CXX_RUNTIME = ["-l:libstdc++.so.6"] if sys.platform.startswith("linux") else []
LINK_FLAGS = ["-fopenmp"] + SHARED_CXX_RUNTIME
# Warnings the CPU libraries' build leaves out, none of them a bug of ours. gcc 12 takes the
# deliberate self-initialisation in its AVX-512 intrinsics' headers (_mm512_undefined_ps) for
# an uninitialised read: 10^5 lines of warnings at -O3 ("maybe"), and in the sanitizer build's
# -O1 (below) ~10 of the definite kind; it does not know the `#pragma unroll` of ATen's vector
# headers (~40 lines a unit); and the baseline library's at::vec vectors, passed by value, draw
# its note that passing 32-byte aligned parameters changed in gcc 4.6.
ISA_QUIET = ["-Wno-maybe-uninitialized", "-Wno-unknown-pragmas", "-Wno-psabi"]
# RELU_EXT_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer build of the C++ code
# (make sanitize-test; the interpreter then needs libasan preloaded).
if os.environ.get("RELU_EXT_SANITIZE") == "1":
    SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined"]
    # Kernels not forced inline into their loops (csrc/cpu/vec_math.h): the same code, which
    # otherwise took over 3 minutes to compile instrumented (gelu.cpp).
    CXX_FLAGS = ["-O1", "-g1", "-fopenmp", "-fno-trapping-math",
                 "-DRELU_EXT_NO_FORCED_INLINE"] + SANITIZE
    LINK_FLAGS += SANITIZE
    ISA_QUIET.append("-Wno-uninitialized")


def sources(pattern):
    # Relative to this file, as setuptools requires (cpp_extension makes them absolute
    # for ninja).
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "csrc", pattern)))


def want_cuda():
    switch = os.environ.get("RELU_EXT_CUDA", "")
    if switch == "0" or not sources("cuda/*.cu"):
        return False
    reasons = []
    if torch.version.cuda is None:
        reasons.append(f"torch {torch.__version__} is a CPU-only build")
    if cpp_extension.CUDA_HOME is None:
        reasons.append("no CUDA toolkit (nvcc) found; set CUDA_HOME")
    if reasons and switch == "1":
        sys.exit("relu_ext: RELU_EXT_CUDA=1 but the CUDA library cannot be built: "
                 + "; ".join(reasons))
    return not reasons


def cuda_extension():
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"  # required when no GPU is visible
    # ATen/cuda/CUDAContext.h includes cuBLAS/cuSPARSE/cuSOLVER headers, which a minimal
    # toolkit lacks and torch's CUDA wheel ships under nvidia/cu*/include.
    site = os.path.dirname(os.path.dirname(torch.__file__))
    extra = []
    for inc in sorted(glob.glob(os.path.join(site, "nvidia", "cu*", "include"))):
        extra += ["-isystem", inc]
    return cpp_extension.CUDAExtension(
        "relu_ext._C_cuda",
        unity_stubs("cuda", sources("cuda/*.cu"), suffix=".cu"),
        extra_compile_args={"cxx": CXX_FLAGS + extra, "nvcc": NVCC_FLAGS + extra},
        extra_link_args=SHARED_CXX_RUNTIME,
        depends=sources("*.h") + sources("cuda/*.cuh") + sources("cuda/*.cu"),
    )


class BuildExtension(cpp_extension.BuildExtension):
    """Also records which torch (and CUDA) the libraries were built against, next to
    them, for the import check."""

    def run(self):
        out_dir = os.path.dirname(self.get_ext_fullpath(self.extensions[0].name))
        self.forget_stale_build(out_dir)
        super().run()
        cuda = any(ext.name.endswith("_cuda") for ext in self.extensions)
        if not cuda:  # a CUDA library left by an earlier build would no longer match
            for path in glob.glob(os.path.join(out_dir, "_C_cuda*.so")):
                os.remove(path)
        with open(os.path.join(out_dir, "_build_info.py"), "w") as f:
            f.write("# Written by setup.py at build time.\n")
            f.write(f"TORCH_VERSION = {torch.__version__!r}\n")
            f.write(f"CUDA_VERSION = {torch.version.cuda if cuda else None!r}\n")

    @staticmethod
    def forget_stale_build(out_dir):
        """Libraries built against another torch are rebuilt, even if no source changed."""
        info = os.path.join(out_dir, "_build_info.py")
        if not os.path.exists(info):
            return
        recorded = {}
        with open(info) as f:
            exec(f.read(), recorded)
        if recorded.get("TORCH_VERSION") != torch.__version__:
            for path in glob.glob(os.path.join(out_dir, "_C*.so")):
                os.remove(path)


# The CPU kernels are built once per instruction set, each a library of its own (so no
# inline function compiled for one ISA can leak into another); the loader picks the one the
# running CPU supports (torch's own choice: torch.backends.cpu.get_cpu_capability(); for
# avx512_bf16 also the CPU's avx512_bf16 flag: relu_ext/_library.py).
ISA_FLAGS = {"default": []}
if platform.machine() in ("x86_64", "AMD64"):
    ISA_FLAGS["avx2"] = ["-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2"]
    ISA_FLAGS["avx512"] = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
                           "-mf16c", "-mbmi", "-mbmi2"]
    # AVX-512 plus the bfloat16 conversions (Cooper Lake, Sapphire Rapids, Zen 4 and later):
    # float to bfloat16 in one instruction, a sixth of a bfloat16 GELU's time. torch has no
    # such capability level; the loader checks the CPU itself.
    ISA_FLAGS["avx512_bf16"] = ISA_FLAGS["avx512"] + ["-mavx512bf16"]
# RELU_EXT_CPU_ISAS=avx512,... builds only those (e.g. the sanitizer build: only the one this
# CPU loads); the baseline when none of them applies here.
if os.environ.get("RELU_EXT_CPU_ISAS"):
    _wanted = os.environ["RELU_EXT_CPU_ISAS"].lower().split(",")
    ISA_FLAGS = {isa: f for isa, f in ISA_FLAGS.items() if isa in _wanted} or {"default": []}


def write_stub(stub, text):
    """A generated source file under build/, rewritten only when its text changes (an
    unchanged stub keeps its mtime: no rebuild)."""
    os.makedirs(os.path.dirname(stub), exist_ok=True)
    if not os.path.exists(stub) or open(stub).read() != text:
        with open(stub, "w") as f:
            f.write(text)
    return stub


def build_jobs():
    """The compile jobs ninja runs at once: MAX_JOBS, else the CPU count."""
    try:
        return max(1, int(os.environ.get("MAX_JOBS", "")))
    except ValueError:
        return os.cpu_count() or 1


# Each kernel file's compile time beyond the headers' (~5 s for g++, ~19 for nvcc), in seconds:
# one file a unit, the AVX-512 library with g++ 12 and sm_80 with nvcc 13.0, on the 2-core Zen
# 4 (benchmarks/NOTES.md §61). unity_stubs balances its units by these; a file's bytes do not
# tell them (prelu.cpp: 24 KB, 6 s; act_stats.cpp: 32 KB, 39 s). A file not listed weighs their
# mean.
COMPILE_SECONDS = {
    ".cpp": {"act_stats": 39, "bias_act": 18, "gelu": 13, "elu": 7, "prelu": 6, "leaky_relu": 4,
             "relu": 3},
    ".cu": {"bias_act": 15.5, "act_stats": 11, "gelu": 8.5, "leaky_relu": 4.7, "prelu": 3.4,
            "elu": 3.3, "relu": 2.9},
}


def unity_stubs(folder, srcs, prologue="", suffix=".cpp"):
    """srcs compiled as at most build_jobs() translation units: stubs under build/<folder>/
    that write prologue and include their files (the costliest first, each into the unit with
    the least compile time so far, by COMPILE_SECONDS). Every file pays for torch's headers,
    most of its compile time (relu.cpp: 8.8 of 11.8 s; relu.cu: most of 45 s), so on two cores
    two units are faster than a unit per file (benchmarks/NOTES.md §39); with a job per file,
    each is its own unit. A unit of one file keeps the file's name. Diagnostics still name the
    original files."""
    known = COMPILE_SECONDS[suffix]
    mean = sum(known.values()) / len(known)

    def cost(src):
        return known.get(os.path.splitext(os.path.basename(src))[0], mean)

    units = [[] for _ in range(min(build_jobs(), len(srcs)))]
    load = [0.0] * len(units)
    for src in sorted(srcs, key=lambda p: (-cost(p), p)):
        k = load.index(min(load))
        units[k].append(src)
        load[k] += cost(src)
    stubs = []
    for k, unit in enumerate(u for u in units if u):  # (none empty unless files are)
        unit.sort()
        name = os.path.basename(unit[0]) if len(unit) == 1 else f"unit{k}{suffix}"
        stubs.append(write_stub(
            os.path.join("build", folder, name),
            f"// Generated by setup.py: {', '.join(unit)}.\n" + prologue
            + "".join(f'#include "{os.path.join(ROOT, s)}"\n' for s in unit)))
    return stubs


def isa_sources(isa):
    """The CPU kernel sources for one instruction set, under build/isa/<isa>/: ATen's
    CPU_CAPABILITY macros set first (distinct paths, so each ISA gets its own object files)."""
    capability = isa.split("_")[0].upper()  # ATen's name: avx512_bf16 is AVX512
    return unity_stubs(os.path.join("isa", isa), sources("cpu/*.cpp"),
                       f"#define CPU_CAPABILITY {capability}\n"
                       f"#define CPU_CAPABILITY_{capability}\n")


AUTOGRAD_SOURCES = sources("ops.cpp") + sources("autograd/*.cpp")


def autograd_sources():
    """The schemas and the autograd kernels compiled as one translation unit
    (build/autograd/_C.cpp includes each file): torch's autograd headers take 13 of the 14
    seconds a file of them compiles in, so eight files cost eight times that, one file once
    (the library 117 -> 23 CPU-seconds). Diagnostics still name the original files."""
    srcs = AUTOGRAD_SOURCES
    return [write_stub(os.path.join("build", "autograd", "_C.cpp"),
                       "// Generated by setup.py: " + ", ".join(srcs) + ".\n"
                       + "".join(f'#include "{os.path.join(ROOT, s)}"\n' for s in srcs))]


ext_modules = [
    cpp_extension.CppExtension(
        "relu_ext._C",
        # python.cpp: the functional API's Python entry points (PYBIND11_MODULE)
        autograd_sources() + sources("python.cpp"),
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=LINK_FLAGS,
        depends=sources("*.h") + sources("autograd/*.h") + AUTOGRAD_SOURCES,
    )
] + [
    cpp_extension.CppExtension(
        f"relu_ext._C_cpu_{isa}",
        isa_sources(isa),
        extra_compile_args={"cxx": CXX_FLAGS + flags + ISA_QUIET},
        extra_link_args=LINK_FLAGS,
        depends=sources("*.h") + sources("cpu/*.h") + sources("cpu/*.cpp"),
    )
    for isa, flags in ISA_FLAGS.items()
]
if want_cuda():
    ext_modules.append(cuda_extension())


setup(
    ext_modules=ext_modules,
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
