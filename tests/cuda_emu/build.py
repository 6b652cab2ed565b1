"""Build relu_ext's CUDA kernels (csrc/cuda/) for the CPU emulation in emu.h, as a package
that the test suite can run on a machine without a GPU.

    python tests/cuda_emu/build.py OUT      (make cuda-emu-test)

Each .cu file is copied with its launches `kernel<<<grid, block, ...>>>(args)` rewritten
as `relu_ext_emu::launch(grid, block, <caller of kernel>, args)` and its
`TORCH_LIBRARY_IMPL(relu_ext, CUDA, m)` as the CPU key, then compiled by the C++ compiler
with emu.h force-included, include/ standing in for the CUDA headers, AddressSanitizer (an
access outside a tensor) and UBSan's alignment check (a misaligned vector access faults on
a GPU): the tests then run with both preloaded (the Makefile's SANITIZER_ENV). OUT/relu_ext
is then the package built in place (relu_ext/, with its _C library) with the emulated CUDA
kernels as its only CPU library: every CPU test run with PYTHONPATH=OUT runs csrc/cuda/'s
kernels and launch code (the device math is the same functions, ../common.h, compiled for the
host).
"""
import ast
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import torch
from torch.utils import cpp_extension

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CSRC = os.path.join(ROOT, "csrc")
SANITIZE = "-fsanitize=address,alignment"


def matching(text, start, open_ch, close_ch):
    """Index just past the bracket closing the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError(f"unbalanced {open_ch} at offset {start}")


def split_top(text):
    """text split at its top-level commas (outside (), [], {})."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def kernel_start(text, end):
    """Start of the kernel expression (a name, maybe qualified, maybe with template
    arguments) that ends at text[end]."""
    i = end
    while i > 0 and text[i - 1].isspace():
        i -= 1
    while True:
        if text[i - 1] == ">":  # template arguments: back to the matching <
            depth = 0
            while True:
                i -= 1
                depth += {">": 1, "<": -1}.get(text[i], 0)
                if depth == 0:
                    break
        j = i
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_:"):
            j -= 1
        if j == i:
            raise ValueError(f"no kernel name before offset {end}")
        return j


def rewrite_launches(text):
    out, pos = "", 0
    while True:
        at = text.find("<<<", pos)
        if at < 0:
            return out + text[pos:]
        start = kernel_start(text, at)
        kernel = text[start:at].strip()
        close = text.index(">>>", at)
        config = split_top(text[at + 3:close])
        paren = text.index("(", close)
        assert text[close + 3:paren].strip() == "", "expected ( after >>>"
        args_end = matching(text, paren, "(", ")")
        args = text[paren + 1:args_end - 1]
        if len(config) > 2 and config[2] not in ("0", ""):
            raise ValueError(f"dynamic shared memory is not emulated: {kernel}")
        out += text[pos:start]
        out += (f"::relu_ext_emu::launch(dim3({config[0]}), dim3({config[1]}), "
                f"[](auto... emu_args) {{ {kernel}(emu_args...); }}, {args})")
        pos = args_end


def transform(src):
    text = rewrite_launches(open(src).read())
    text, n = re.subn(r"TORCH_LIBRARY_IMPL\(\s*relu_ext\s*,\s*CUDA\s*,",
                      "TORCH_LIBRARY_IMPL(relu_ext, CPU,", text)
    if src.endswith(".cu") and n != 1:
        raise ValueError(f"{src}: expected one TORCH_LIBRARY_IMPL(relu_ext, CUDA, m), found {n}")
    return text


def compile_seconds():
    """setup.py's COMPILE_SECONDS (read from its source: importing it would run setup())."""
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILE_SECONDS":
            return ast.literal_eval(node.value)
    raise RuntimeError("setup.py has no COMPILE_SECONDS")


def main(out):
    build = os.path.join(out, "build")
    src_dir = os.path.join(build, "csrc")
    shutil.rmtree(src_dir, ignore_errors=True)
    os.makedirs(os.path.join(src_dir, "cuda"))
    for h in glob.glob(os.path.join(CSRC, "*.h")):
        shutil.copy(h, src_dir)
    for path in sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cu*"))):
        name = os.path.basename(path)
        if name.endswith(".cu"):
            name = name[:-3] + ".cpp"
        with open(os.path.join(src_dir, "cuda", name), "w") as f:
            f.write(transform(path))

    includes = [os.path.join(HERE, "include")] + cpp_extension.include_paths()
    includes.append(sysconfig.get_paths()["include"])
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    cxx = os.environ.get("CXX", "c++")
    flags = ["-std=c++17", "-O1", "-g0", "-fPIC", "-fno-trapping-math",
             f"-D_GLIBCXX_USE_CXX11_ABI={abi}", "-include", os.path.join(HERE, "emu.h"),
             SANITIZE, "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-w"]
    flags += [f"-I{d}" for d in includes]
    # As setup.py's unity_stubs: the files in as many translation units as compile jobs
    # (each pays for torch's headers once), the costliest first (by setup.py's measured
    # COMPILE_SECONDS of the .cu files) into the lightest unit.
    jobs = int(os.environ.get("MAX_JOBS", os.cpu_count() or 1))
    known = compile_seconds()[".cu"]
    mean = sum(known.values()) / len(known)

    def cost(path):
        return known.get(os.path.splitext(os.path.basename(path))[0], mean)

    files = sorted(glob.glob(os.path.join(src_dir, "cuda", "*.cpp")), key=lambda p: (-cost(p), p))
    units = [[] for _ in range(min(jobs, len(files)))]
    for f in files:
        min(units, key=lambda u: sum(map(cost, u))).append(f)
    sources = []
    for k, unit in enumerate(units):
        sources.append(os.path.join(build, f"unit{k}.cpp"))
        with open(sources[-1], "w") as f:
            f.writelines(f'#include "{s}"\n' for s in sorted(unit))

    def compile_one(s):
        obj = s[:-4] + ".o"
        r = subprocess.run([cxx, *flags, "-c", s, "-o", obj], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"compiling {s} failed:\n{r.stderr[-6000:]}")
        return obj

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        objects = list(pool.map(compile_one, sources))

    pkg = os.path.join(out, "relu_ext")
    shutil.rmtree(pkg, ignore_errors=True)
    os.makedirs(pkg)
    here_pkg = os.path.join(ROOT, "relu_ext")
    for f in glob.glob(os.path.join(here_pkg, "*.py")):
        shutil.copy(f, pkg)
    base = glob.glob(os.path.join(here_pkg, "_C.*so"))
    if not base:
        sys.exit("tests/cuda_emu/build.py: relu_ext/_C*.so is missing: build relu_ext first")
    shutil.copy(base[0], pkg)
    suffix = os.path.basename(base[0])[len("_C"):]
    lib = os.path.join(pkg, "_C_cpu_default" + suffix)
    libdirs = cpp_extension.library_paths()
    link = [cxx, "-shared", SANITIZE, *objects, "-o", lib]
    link += [f"-L{d}" for d in libdirs] + [f"-Wl,-rpath,{d}" for d in libdirs]
    link += ["-lc10", "-ltorch_cpu", "-ltorch"]
    subprocess.run(link, check=True)
    with open(os.path.join(pkg, "_build_info.py"), "w") as f:
        f.write(f"TORCH_VERSION = {torch.__version__!r}\nCUDA_VERSION = None\n")
    print(f"CUDA emulation package: {pkg} ({len(files)} kernel files, {len(units)} units)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(os.path.abspath(sys.argv[1]))
