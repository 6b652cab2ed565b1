"""A Python snippet run in a child process that imports the relu_ext under test (this process's,
which may be another build than the source tree's): for what could crash or abort the test
process, and for what must start fresh (a library choice, tables built on first use)."""
import os
import subprocess
import sys

import relu_ext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(relu_ext.__file__)))


def run_python(code, *args, env=None, timeout=300):
    """python -c code args..., with os.environ updated by env; the CompletedProcess (text)."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = ROOT + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=full, timeout=timeout)
