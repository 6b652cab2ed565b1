"""torch < 2.13's Inductor checks each CPU vector instruction set by loading a probe library in
a child Python that first imports torch: about 1.5 s a probe, ten of them in every process that
compiles (each test worker, each distributed rank). `use_light_probe()` makes the child load
only the one library the probe links to (libtorch_cpu, 0.3 s): the same probe library is loaded
the same way, so Inductor picks the same instruction sets (test_compile checks it does)."""
import os
import sys


def use_light_probe():
    if sys.platform != "linux":
        return
    import torch
    from torch._inductor.cpu_vec_isa import VecISA

    heavy = "\nimport torch\nfrom ctypes import cdll\n"
    if not getattr(VecISA, "_avx_py_load", "").startswith(heavy):
        return  # torch >= 2.13: already light
    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    light = f"\nimport ctypes\nctypes.CDLL({lib!r}, ctypes.RTLD_GLOBAL)\nfrom ctypes import cdll\n"
    VecISA._avx_py_load = VecISA._avx_py_load.replace(heavy, light, 1)
