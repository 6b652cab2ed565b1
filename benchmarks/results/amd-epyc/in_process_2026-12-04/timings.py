"""The in-process timings of NOTES §51 (outputs: timings.md). Calls alternate in blocks
(bench.interleaved) in one process, with the benchmark's heap settings.

    PYTHONPATH=. python benchmarks/results/amd-epyc/in_process_2026-12-04/timings.py NAME [THREADS]

NAME: leaky_relu_64k, elu_backward_16m, forwards_4m, aliasing, pct_of_copy_<dtype>,
elu_half_2threads (runs with THREADS), elu_half_1thread.
"""
import ctypes
import os
import sys

import torch
import torch.nn.functional as TF

ctypes.CDLL("libc.so.6").mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: keep freed memory
ctypes.CDLL("libc.so.6").mallopt(-4, 0)  # M_MMAP_MAX: no fresh mappings for large outputs
import relu_ext  # noqa: E402  (first: bench would put the repository's on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
import bench  # noqa: E402

F, ext, aten = relu_ext.functional, torch.ops.relu_ext, torch.ops.aten


def rotated(sets, fn):
    """A callable running fn on the next of the input sets (two, alternated)."""
    state = {"i": 0}

    def call():
        state["i"] ^= 1
        return fn(*sets[state["i"]])
    return call


def show(stmts, rounds, block_s, unit=1e6, name="us", stat=bench.quantiles):
    samples = bench.interleaved(list(stmts.values()), torch.get_num_threads(), rounds, block_s)
    for k, v in zip(stmts, samples):
        q = stat(v)
        print(f"{k:32s} " + " ".join(f"{t * unit:9.3f}" for t in q) + f" {name}")
    return dict(zip(stmts, samples))


def leaky_relu_64k():
    x, g = torch.randn(65536) * 3, torch.randn(65536)
    xr = x.clone().requires_grad_()
    y_o, y_a, mask = F.leaky_relu(xr), TF.leaky_relu(xr), ext.leaky_relu_mask(x, 0.01)[1]
    show({"fb ours": lambda: torch.autograd.grad(F.leaky_relu(xr), (xr,), g),
          "fb aten": lambda: torch.autograd.grad(TF.leaky_relu(xr), (xr,), g),
          "f ours (grad)": lambda: F.leaky_relu(xr),
          "f aten (grad)": lambda: TF.leaky_relu(xr),
          "b ours": lambda: torch.autograd.grad(y_o, (xr,), g, retain_graph=True),
          "b aten": lambda: torch.autograd.grad(y_a, (xr,), g, retain_graph=True),
          "op mask bwd": lambda: ext.leaky_relu_mask_backward(g, mask, 0.01),
          "op aten bwd": lambda: aten.leaky_relu_backward(g, x, 0.01, False)}, 25, 0.02)


def elu_backward_16m():
    sets = [(torch.randn(2**24) * 3, torch.randn(2**24)) for _ in range(2)]
    show({"op elu bwd ours": rotated(sets, lambda x, g: ext.elu_backward(g, x, 1.0, False)),
          "op elu bwd aten": rotated(sets, lambda x, g: aten.elu_backward(g, 1.0, 1, 1, False, x)),
          "op relu bwd ours": rotated(sets, lambda x, g: ext.relu_backward(g, x)),
          "op relu bwd aten": rotated(sets, lambda x, g: aten.threshold_backward(g, x, 0)),
          "copy": rotated(sets, lambda x, g: x.clone())}, 15, 0.1, 1e3, "ms")


def forwards_4m():
    """relu and leaky_relu float32 at 4M (input and output: the Zen 4's 32 MB of L3), with a
    copy in the same blocks (reruns_fd347fb.md)."""
    x = torch.randn(2**22)
    show({"F.relu ours": lambda: F.relu(x), "TF.relu aten": lambda: TF.relu(x),
          "F.leaky ours": lambda: F.leaky_relu(x), "TF.leaky aten": lambda: TF.leaky_relu(x),
          "copy (clone)": lambda: x.clone()}, 15, 0.02)


def aliasing(n=262144):
    """leaky_relu's and relu's float32 forwards on one thread (in L2) with the input moved in
    256-byte steps against where the output lands: (out - x) % 4096 (NOTES §53)."""
    torch.set_num_threads(1)
    big = torch.randn(n + 4096)
    for k in range(0, 1024 + 1, 64):
        x = big[k:k + n]
        y = F.leaky_relu(x)
        offset = (y.data_ptr() - x.data_ptr()) % 4096
        del y
        best = [min(v) * 1e6 for v in bench.interleaved(
            [lambda: F.leaky_relu(x), lambda: TF.leaky_relu(x), lambda: F.relu(x)], 1, 7, 0.01)]
        print(f"(out - x) % 4096 = {offset:4d}: leaky_relu {best[0]:5.1f} us, ATen's "
              f"{best[1]:5.1f}, relu {best[2]:5.1f}")


def pct_of_copy(dtype, n=2**24, channels=64):
    """The backward ops at n elements, and their bytes (3 n) over time against a copy's (2 n)."""
    sets = [((torch.randn(n) * 3).to(dtype), torch.randn(n).to(dtype),
             torch.rand(channels).to(dtype)) for _ in range(2)]
    nchw = (-1, channels, 64)
    stmts = {
        "relu": lambda x, g, w: ext.relu_backward(g, x),
        "elu": lambda x, g, w: ext.elu_backward(g, x, 1.0, False),
        "gelu": lambda x, g, w: ext.gelu_backward(g, x, "none"),
        "gelu_tanh": lambda x, g, w: ext.gelu_backward(g, x, "tanh"),
        "prelu": lambda x, g, w: ext.prelu_backward(g.view(nchw), x.view(nchw), w),
        "aten gelu": lambda x, g, w: aten.gelu_backward(g, x),
        "copy": lambda x, g, w: x.clone()}
    med = {k: bench.quantiles(v)[1] for k, v in show(
        {k: rotated(sets, f) for k, f in stmts.items()}, 15, 0.1, 1e3, "ms").items()}
    for k, t in med.items():
        print(f"{k:10s} {100 * (2 if k == 'copy' else 3) / t / (2 / med['copy']):5.0f}% of copy")


def elu_half_2threads():
    for n, dtype in [(2**24, torch.bfloat16), (2**22, torch.bfloat16), (2**16, torch.bfloat16),
                     (2**22, torch.float16)]:
        sets = [((torch.randn(n) * 3).to(dtype), torch.randn(n).to(dtype)) for _ in range(2)]
        b, rows = torch.randn(1024).to(dtype), (-1, 1024)
        show({f"elu_bwd {dtype} {n}": rotated(
                  sets, lambda x, g: ext.elu_backward(g, x, 1.0, False)),
              f"bias_act_bwd elu {dtype} {n}": rotated(sets, lambda x, g: ext.bias_act_backward(
                  g.view(rows), x.view(rows), b, -1, "elu", 1.0))}, 11, 0.05)


def elu_half_1thread(n=131072):
    torch.set_num_threads(1)
    for dtype in (torch.bfloat16, torch.float16):
        x, g = (torch.randn(n) * 3).to(dtype), torch.randn(n).to(dtype)
        b = torch.randn(1024).to(dtype)
        show({f"elu_bwd {dtype}": lambda: ext.elu_backward(g, x, 1.0, False),
              f"bias_act_bwd elu {dtype}": lambda: ext.bias_act_backward(
                  g.view(-1, 1024), x.view(-1, 1024), b, -1, "elu", 1.0),
              f"relu_bwd {dtype}": lambda: ext.relu_backward(g, x)}, 21, 0.03,
             stat=lambda v: [min(v)])


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    name = sys.argv[1]
    if name.startswith("pct_of_copy_"):
        pct_of_copy(getattr(torch, name[len("pct_of_copy_"):]))
    else:
        globals()[name]()
