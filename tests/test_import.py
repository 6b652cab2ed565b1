"""Import-time robustness: a missing library or one built for another torch gives a clear
ImportError naming both versions and the rebuild command. Run in subprocesses on copies of
the package, so this process's loaded library is untouched."""
import glob
import os
import shutil
import subprocess
import sys

import torch

import relu_ext

PKG = os.path.dirname(relu_ext.__file__)


def _import_copy(tmp_path, mutate):
    dst = tmp_path / "relu_ext"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    mutate(dst)
    return subprocess.run([sys.executable, "-c", "import relu_ext"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})


def test_library_built_for_another_torch(tmp_path):
    def mutate(dst):
        (dst / "_build_info.py").write_text("TORCH_VERSION = '1.0.0'\nCUDA_VERSION = None\n")

    r = _import_copy(tmp_path, mutate)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "1.0.0" in r.stderr and torch.__version__ in r.stderr
    assert "pip install --no-build-isolation" in r.stderr


def test_library_missing(tmp_path):
    def mutate(dst):
        for so in glob.glob(str(dst / "_C*.so")):
            os.remove(so)

    r = _import_copy(tmp_path, mutate)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "missing" in r.stderr
    assert "pip install --no-build-isolation" in r.stderr


def test_build_without_compiler_says_so():
    setup_py = os.path.join(os.path.dirname(__file__), "..", "setup.py")
    r = subprocess.run([sys.executable, setup_py, "--name"], capture_output=True, text=True,
                       env={**os.environ, "CXX": "no-such-compiler"})
    assert r.returncode != 0
    assert "no C++ compiler found" in r.stderr and "no-such-compiler" in r.stderr


def _needed(path):
    """The DT_NEEDED entries of a 64-bit little-endian ELF shared library."""
    import struct

    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQII", data, shoff + k * shentsize)
                for k in range(shnum)]  # name, type, flags, addr, offset, size, link, info
    for _, kind, _, _, offset, size, link, _ in sections:
        if kind == 6:  # SHT_DYNAMIC: (tag, value) pairs; strings in section `link`
            strtab = sections[link][4]
            out = []
            for tag, value in struct.iter_unpack("<qQ", data[offset:offset + size]):
                if tag == 1:  # DT_NEEDED
                    out.append(data[strtab + value:data.index(b"\0", strtab + value)].decode())
            return out
    return []


def test_libraries_need_the_shared_cxx_runtime():
    """Each loaded library takes the C++ runtime from libstdc++.so.6, the process's own: a
    static copy (the lent GPU machines' g++ linked one) crashed in its iostreams. The compat
    stage builds with a compiler that links it statically unless told otherwise."""
    libraries = relu_ext.backend_info()["libraries"]
    assert libraries
    for path in libraries:
        assert "libstdc++.so.6" in _needed(path), (path, _needed(path))
