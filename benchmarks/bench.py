"""The GPU-vs-CPU benchmark: every activation, relu_ext against ATen (torch's own kernels)
and torch.compile of the same function (compile: of the ATen function; compile_ext: of the
relu_ext function, whose ops stay opaque custom ops), on the CPU and, when present, the GPU.

    python benchmarks/bench.py [--quick] [--device cpu|cuda|all] [--ops relu,gelu,...]
                               [--dtypes float32,bfloat16] [--sizes 4096,1048576] [--out DIR]

For each op x direction (forward, backward, forward+backward; and backward_op, the backward op
called without autograd: on CUDA always, on the CPU but with --quick) x dtype x size x device, the
implementations are timed in alternating short blocks (interleaved, so drift hits all alike)
with torch.utils.benchmark (which synchronizes CUDA); figures are the median and p20/p80 of
the per-block times. On CUDA the inputs rotate through enough copies to defeat the L2 cache.
A tensor copy of the same size is timed alongside, in the same alternating blocks as each row's
implementations: the memory-bandwidth roofline (so a row's % of it does not drift with the
machine between rows).

Accuracy is measured in the same run (benchmarks/accuracy.py): each op's largest error
against a float64 reference, relu_ext's and ATen's, on 10^7 random inputs plus the special
values (10^6 with --quick).

Writes to benchmarks/results/<machine>/ (or --out): bench.csv (long format, one row per
measurement), bench.json (machine metadata), relative_cost.md (each op's cost relative to
ReLU), accuracy.csv and accuracy.md, memory.csv and memory.md (what autograd keeps, per
mode), fused.csv and fused.md (bias + activation fused, LinearAct, the dead-unit monitor's
cost), and PNG plots (benchmarks/plot.py). --quick: fewer
sizes and rounds, no torch.compile (each compile costs seconds); under 2 minutes on 2 CPU
cores.
"""
import argparse
import ctypes
import csv
import datetime
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as TF
from torch import nn
from torch.utils.benchmark import Timer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import relu_ext  # noqa: E402
import relu_ext.functional as F  # noqa: E402

import accuracy  # noqa: E402

# op -> (relu_ext, ATen), each fn(x, weight)
OPS = {
    "relu": (lambda x, w: F.relu(x), lambda x, w: TF.relu(x)),
    "leaky_relu": (lambda x, w: F.leaky_relu(x, 0.01), lambda x, w: TF.leaky_relu(x, 0.01)),
    "prelu": (F.prelu, TF.prelu),
    "elu": (lambda x, w: F.elu(x), lambda x, w: TF.elu(x)),
    "gelu": (lambda x, w: F.gelu(x), lambda x, w: TF.gelu(x)),
    "gelu_tanh": (lambda x, w: F.gelu(x, approximate="tanh"),
                  lambda x, w: TF.gelu(x, approximate="tanh")),
}
MODULES = {  # for the saved-for-backward column: (relu_ext, torch.nn)
    "relu": (relu_ext.ReLU, nn.ReLU), "leaky_relu": (relu_ext.LeakyReLU, nn.LeakyReLU),
    "prelu": (lambda: relu_ext.PReLU(PRELU_CHANNELS), lambda: nn.PReLU(PRELU_CHANNELS)),
    "elu": (relu_ext.ELU, nn.ELU), "gelu": (relu_ext.GELU, nn.GELU),
    "gelu_tanh": (lambda: relu_ext.GELU("tanh"), lambda: nn.GELU("tanh")),
}
# backward: through autograd (torch.autograd.grad on a kept graph), as training runs it;
# backward_op: the backward op alone, called directly (relu_ext's and ATen's own), which on a
# GPU times the kernel where autograd's per-call host cost would hide it.
DIRECTIONS = ("forward", "backward", "forward+backward", "backward_op")
# Minimal bytes moved per element, in units of the element size: read x, write y; read g
# and x (or y), write the input gradient.
TRAFFIC = {"forward": 2, "backward": 3, "forward+backward": 5, "backward_op": 3}
PRELU_CHANNELS = 64
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(devices):
    """The results folder's name: the GPU's, else the CPU's model name, with the kernels'
    instruction set added below AVX-512 (a virtual machine's model name can be as generic as
    "AMD EPYC" for CPUs with and without AVX-512, whose results differ)."""
    if "cuda" in devices:
        name = torch.cuda.get_device_name(0)
    else:
        isa = relu_ext.backend_info()["cpu_isa"] or ""
        name = cpu_name() + ("" if isa.startswith("avx512") else " " + isa)
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def git_commit():
    """HEAD's short hash, "+dirty" where the library's sources differ from it."""
    try:
        run = lambda *a: subprocess.check_output(["git", *a], cwd=ROOT, text=True,  # noqa: E731
                                                 stderr=subprocess.DEVNULL).strip()
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "csrc", "relu_ext",
                    "setup.py")
        return run("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def make_inputs(op, numel, dtype, device, copies):
    """`copies` independent (x, weight, grad) sets, rotated through per call."""
    sets = []
    for _ in range(copies):
        if op == "prelu":  # NCHW, C = 64
            shape = (max(1, numel // (PRELU_CHANNELS * 64)), PRELU_CHANNELS, 64)
        else:
            shape = (numel,)
        x = torch.randn(shape, device=device, dtype=dtype) * 3
        w = (torch.rand(PRELU_CHANNELS, device=device, dtype=dtype) * 0.5
             if op == "prelu" else None)
        sets.append((x, w, torch.randn_like(x)))
    return sets


def backward_op(op, impl, x, w, g):
    """A no-argument callable running `impl`'s backward op of `op` on what its autograd saves
    (relu_ext: ReLU's output, LeakyReLU's 1-bit mask, the input otherwise)."""
    ext, aten = torch.ops.relu_ext, torch.ops.aten
    ours = impl == "relu_ext"
    if op == "relu":
        y = x.relu()
        return (lambda: ext.relu_backward(g, y)) if ours else (
            lambda: aten.threshold_backward(g, y, 0))
    if op == "leaky_relu":
        if ours:
            mask = ext.leaky_relu_mask(x, 0.01)[1]
            return lambda: ext.leaky_relu_mask_backward(g, mask, 0.01)
        return lambda: aten.leaky_relu_backward(g, x, 0.01, False)
    if op == "prelu":
        if ours:
            return lambda: ext.prelu_backward(g, x, w)
        # ATen's kernel takes the weight shaped to broadcast, (C, 1, ...), and returns its
        # gradient at the input's size: autograd then sums it to the weight's shape.
        wb = w.view(-1, *([1] * (x.dim() - 2)))

        def aten_prelu():
            gx, gw = aten._prelu_kernel_backward(g, x, wb)
            return gx, gw.sum_to_size(wb.shape)

        return aten_prelu
    if op == "elu":
        return (lambda: ext.elu_backward(g, x, 1.0, False)) if ours else (
            lambda: aten.elu_backward(g, 1.0, 1, 1, False, x))
    approximate = "tanh" if op == "gelu_tanh" else "none"
    return (lambda: ext.gelu_backward(g, x, approximate)) if ours else (
        lambda: aten.gelu_backward(g, x, approximate=approximate))


def make_stmt(fn, direction, sets, op=None, impl=None):
    """A no-argument callable running one step of `direction` on the next input set."""
    state = {"i": 0}
    if direction == "backward_op":
        calls = [backward_op(op, impl, x, w, g) for x, w, g in sets]

        def call():
            i = state["i"] = (state["i"] + 1) % len(calls)
            return calls[i]()

        return call
    prepared = []
    for x, w, g in sets:
        xr = x.detach().requires_grad_(direction != "forward")
        wr = w.detach().requires_grad_(direction != "forward") if w is not None else None
        inputs = (xr,) if wr is None else (xr, wr)
        y = fn(xr, wr) if direction == "backward" else None
        prepared.append((xr, wr, g, inputs, y))

    def step():
        i = state["i"] = (state["i"] + 1) % len(prepared)
        x, w, g, inputs, y = prepared[i]
        if direction == "forward":
            return fn(x, w)
        if direction == "backward":
            return torch.autograd.grad(y, inputs, g, retain_graph=True)
        return torch.autograd.grad(fn(x, w), inputs, g)

    return step


def interleaved(stmts, threads, rounds, block_s):
    """Times each stmt in alternating blocks, in an order shuffled after each round (a fixed
    one: the first stmt's blocks always came after the last's, which at sizes near the
    last-level cache left them the copy reference's data in the cache instead of their own:
    relu_ext's float32 forwards at 4M up to 9% slower, NOTES §64); returns per-stmt lists of
    per-call seconds, in round order."""
    timers = [Timer("s()", globals={"s": s}, num_threads=threads) for s in stmts]
    numbers = []
    for t in timers:  # warm up, then calibrate the calls per block
        t.timeit(3)
        once = max(t.timeit(5).median, 1e-7)
        numbers.append(max(1, int(block_s / once)))
    samples = [[] for _ in stmts]
    order = list(range(len(stmts)))
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        for k in order:
            samples[k].append(timers[k].timeit(numbers[k]).median)
        shuffle(order)
    return samples


def cost_of(counted, alone, threads, rounds, block_s):
    """What running `counted` instead of `alone` costs, as a fraction: the two alternated, the
    median of each round's ratio, minus 1 (drifts of the machine cancel within a round)."""
    with_it, without = interleaved([counted, alone], threads, rounds, block_s)
    return statistics.median(c / s for c, s in zip(with_it, without)) - 1


def quantiles(xs):
    q = statistics.quantiles(xs, n=10, method="inclusive") if len(xs) > 1 else [xs[0]] * 9
    return q[1], statistics.median(xs), q[7]


def saved_bytes_per_element(make_act, device, dtype):
    """Bytes saved for backward (distinct storages, parameters excluded) by
    Linear -> activation -> Linear, per element of the activation."""
    rows, feats = 1024, PRELU_CHANNELS
    block = nn.Sequential(nn.Linear(feats, feats), make_act(), nn.Linear(feats, feats))
    block = block.to(device=device, dtype=dtype)
    params = {p.untyped_storage().data_ptr() for p in block.parameters()}
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    x = torch.randn(rows, feats, device=device, dtype=dtype, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(seen.values()) / (rows * feats)


def compiled_version(fn):
    """torch.compile of fn (compiled on first call; where that fails, the column is left
    out for that row)."""
    torch._dynamo.reset()  # each (op, size, dtype) compiles afresh: no recompile limit
    return torch.compile(fn, dynamic=False)


def relative_cost_table(rows, devices):
    """Each op's median time relative to ReLU's (same impl, device, dtype, direction), at 4M
    elements (where fresh 64 MB outputs do not yet make page faults dominate on the CPU) or
    else the largest size measured: the seed's "slightly slower / more complex" as numbers."""
    lines = ["| device | dtype | numel | impl | op | forward | backward | forward+backward |",
             "|---|---|---|---|---|---|---|---|"]
    t = {(r["device"], r["dtype"], r["numel"], r["impl"], r["op"], r["direction"]): r["p50_s"]
         for r in rows}
    for device in devices:
        for dtype in sorted({r["dtype"] for r in rows if r["device"] == device}):
            sizes = [r["numel"] for r in rows if r["device"] == device and r["dtype"] == dtype
                     and r["op"] == "relu"]
            if not sizes:
                continue
            n = 2**22 if 2**22 in sizes else max(sizes)
            for impl in ("relu_ext", "aten"):
                for op in OPS:
                    cells = []
                    for d in DIRECTIONS[:3]:
                        a, b = t.get((device, dtype, n, impl, op, d)), t.get((device, dtype, n, impl, "relu", d))
                        cells.append(f"{a / b:.2f}" if a and b else "")
                    if any(cells):
                        lines.append(f"| {device} | {dtype} | {n} | {impl} | {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


MEMORY_FORMS = {  # form: [(mode, activation module factory)]
    "relu": [("torch.nn", nn.ReLU), ("relu_ext", relu_ext.ReLU)],
    "leaky_relu": [("torch.nn", nn.LeakyReLU), ("relu_ext (1-bit mask)", relu_ext.LeakyReLU)],
    "prelu": [("torch.nn", lambda: nn.PReLU(4096)), ("relu_ext", lambda: relu_ext.PReLU(4096))],
    "elu": [("torch.nn", nn.ELU), ("relu_ext", relu_ext.ELU),
            ("relu_ext memory_efficient", lambda: relu_ext.ELU(memory_efficient=True))],
    "gelu": [("torch.nn", nn.GELU), ("relu_ext", relu_ext.GELU),
             ("relu_ext memory_efficient", lambda: relu_ext.GELU(memory_efficient=True))],
    "gelu_tanh": [("torch.nn", lambda: nn.GELU("tanh")), ("relu_ext", lambda: relu_ext.GELU("tanh")),
                  ("relu_ext memory_efficient",
                   lambda: relu_ext.GELU("tanh", memory_efficient=True))],
}


def size_words(n):
    """4194304 -> '4M', 65536 -> '64K'."""
    for unit, scale in (("M", 2**20), ("K", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def heap_in_use():
    """Bytes glibc's allocator has handed out (with warm_allocations, large tensors too)."""
    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                    "usmblks", "fsmblks", "uordblks", "fordblks",
                                                    "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def memory_table(devices, threads, rounds, block_s, ops, batch=256,
                 dtypes=(torch.float32, torch.bfloat16)):
    """A small MLP training step, Linear(1024, 4096) -> activation -> Linear(4096, 1024) on a
    batch of {batch} ({elements} activation elements, float32 and bfloat16), per activation and
    mode: bytes autograd saves (distinct storages, parameters excluded), memory held from the
    end of the forward to the backward (CPU: glibc's heap in use; CUDA: peak allocated over
    the step, minus before) and the step's time (forward + backward, interleaved across
    modes)."""
    rows, skipped = [], []
    for device, dtype in [(d, t) for d in devices for t in dtypes]:
        slow = slow_matmul(device, dtype, batch)
        if slow:
            skipped.append(f"{device} {str(dtype).replace('torch.', '')}: left out, {slow}")
            print("memory table:", skipped[-1])
            continue
        for form in [f for f in MEMORY_FORMS if f in ops]:
            steps, names = [], []
            for mode, act in MEMORY_FORMS[form]:
                torch.manual_seed(0)
                act_module = act()
                model = nn.Sequential(nn.Linear(1024, 4096), act_module,
                                      nn.Linear(4096, 1024)).to(device, dtype)
                x = torch.randn(batch, 1024, device=device, dtype=dtype)
                params = {p.untyped_storage().data_ptr() for p in model.parameters()}
                seen = {}

                def pack(t, seen=seen, params=params):
                    st = t.untyped_storage()
                    if st.data_ptr() not in params:
                        seen[st.data_ptr()] = st.nbytes()
                    return t

                with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                    model(x)
                saved = sum(seen.values())
                for _ in range(2):  # warm
                    model(x).sum().backward()
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()
                    model(x).sum().backward()
                    torch.cuda.synchronize()
                    held = torch.cuda.max_memory_allocated() - before
                else:
                    before = heap_in_use()
                    y = model(x)
                    held = heap_in_use() - before
                    y.sum().backward()
                    del y
                steps.append(lambda model=model, x=x: model(x).sum().backward())
                names.append(mode)
                rows.append({"device": device, "dtype": str(dtype).replace("torch.", ""),
                             "form": form, "mode": mode, "saved_mib": saved / 2**20,
                             "held_mib": held / 2**20})
            samples = interleaved(steps, threads, rounds, block_s)
            base = statistics.median(samples[0])
            for r, smp in zip(rows[-len(names):], samples):
                r["step_ms"] = statistics.median(smp) * 1e3
                r["time_vs_torch"] = statistics.median(smp) / base
    lines = ["| device | dtype | activation | mode | saved for backward (MiB) "
             "| held after forward (MiB) | step (ms) | time vs torch.nn |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['dtype']} | {r['form']} | {r['mode']} | "
                     f"{r['saved_mib']:.2f} | "
                     f"{r['held_mib']:.2f} | {r['step_ms']:.2f} | {r['time_vs_torch']:.2f} |")
    return rows, "\n".join(lines + [""] + skipped) + "\n"


def slow_matmul(device, dtype, batch):
    """Why the MLP step in dtype is left out on device (its matrix products over 20x slower than
    float32's, as bfloat16's on a CPU without AVX-512: a step then takes tens of seconds), or
    None."""
    if device != "cpu" or dtype == torch.float32:
        return None
    times = {}
    rows = min(batch, 32)  # enough to tell: 256 rows of bfloat16 took 6 s on such a CPU
    for t in (torch.float32, dtype):
        a, b = torch.randn(rows, 1024, dtype=t), torch.randn(1024, 4096, dtype=t)
        a @ b
        times[t] = Timer("a @ b", globals={"a": a, "b": b}).timeit(1).median
    ratio = times[dtype] / times[torch.float32]
    if ratio < 20:
        return None
    return (f"a ({rows}, 1024) x (1024, 4096) product takes {times[dtype]:.2f} s here, "
            f"{ratio:.0f}x float32's")


FUSED_ACTS = {  # name: (bias_act keywords, the activation on z = x + b for ATen)
    "relu": ({"activation": "relu"}, TF.relu),
    "leaky_relu": ({"activation": "leaky_relu"}, TF.leaky_relu),
    "prelu": ({"activation": "prelu"}, None),
    "elu": ({"activation": "elu"}, TF.elu),
    "gelu": ({"activation": "gelu"}, TF.gelu),
    "gelu_tanh": ({"activation": "gelu", "approximate": "tanh"},
                  lambda z: TF.gelu(z, approximate="tanh")),
}
STATS_ACTS = {"relu": ("relu", 0.0), "leaky_relu": ("leaky_relu", 0.01), "elu": ("elu", 1.0),
              "gelu": ("gelu", 0.0), "gelu_tanh": ("gelu_tanh", 0.0)}


# The fused table's rows on CUDA, times the CPU's: at 4M elements a GPU call is mostly the
# host's per-call cost (autograd's included), which hides what fusing saves (NOTES §47).
CUDA_FUSED_ROWS = 16


# The monitor's three cost columns of the fused table: (console label, row key).
MONITOR_COLUMNS = (("monitor", "monitor_overhead"),
                   ("watched bias_act", "bias_act_monitor_overhead"),
                   ("watched LinearAct", "linear_act_monitor_overhead"))


def fused_table(devices, threads, rounds, block_s, ops, rows_n=4096):
    """Fused bias + activation, forward+backward, float32 and bfloat16, bias along the last dim
    of a ({rows}, 1024) input ({elements} elements, as after nn.Linear; on CUDA {cuda_rows}
    rows, {cuda_elements} elements): relu_ext.functional.bias_act against ATen's x + b then
    the activation (its autograd sums the bias gradient separately); and (float32)
    LinearAct(1024, 1024) against nn.Linear then the activation on a batch of those rows (the
    matmul included). Plus the dead-unit monitor's cost: act_stats (the activation counting
    per channel) against the activation alone, forward, same input, in alternating blocks (the
    median of the rounds' ratios); on bias_act, as a watched LinearAct runs it (act_stats with
    the bias: bias_act's values, counted) against bias_act's forward; and (float32) on the
    LinearAct, its forward watched by a DeadUnitMonitor against unwatched (the matmul
    included)."""
    rows = []
    cases = [(d, t, o) for d in devices for t in (torch.float32, torch.bfloat16)
             for o in FUSED_ACTS if o in ops]
    for device, dtype, op in cases:
        n_rows = rows_n * (CUDA_FUSED_ROWS if device == "cuda" else 1)
        kw, act = FUSED_ACTS[op]
        torch.manual_seed(0)
        x = torch.randn(n_rows, 1024, device=device, dtype=dtype, requires_grad=True)
        b = torch.randn(1024, device=device, dtype=dtype, requires_grad=True)
        w = torch.rand(1024, device=device, dtype=dtype, requires_grad=True)
        g = torch.randn(n_rows, 1024, device=device, dtype=dtype)
        extra = {"weight": w} if op == "prelu" else {}
        kwargs = {k: v for k, v in kw.items() if k != "activation"}
        ref_act = act if act is not None else (lambda z: torch.where(z > 0, z, w * z))
        leaves = [x, b] + ([w] if op == "prelu" else [])
        ours = lambda: torch.autograd.grad(  # noqa: E731
            F.bias_act(x, b, kw["activation"], **kwargs, **extra), leaves, g)
        theirs = lambda: torch.autograd.grad(ref_act(x + b), leaves, g)  # noqa: E731
        stmts = [ours, theirs]
        if dtype == torch.float32:  # the matmul dominates; timed in float32 only
            lin = nn.Linear(1024, 1024).to(device)
            fused = relu_ext.LinearAct(1024, 1024, kw["activation"], **kwargs).to(device)
            fused.load_state_dict(lin.state_dict(), strict=False)
            torch_act = {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(), "elu": nn.ELU(),
                         "gelu": nn.GELU(), "gelu_tanh": nn.GELU("tanh"),
                         "prelu": nn.PReLU(1)}[op].to(device)
            xi = torch.randn(n_rows, 1024, device=device, requires_grad=True)
            stmts += [lambda: fused(xi).backward(g), lambda: torch_act(lin(xi)).backward(g)]
        med = [statistics.median(t) for t in interleaved(stmts, threads, rounds, block_s)]
        med += [float("nan")] * (4 - len(med))
        linear_monitor = ""
        if dtype == torch.float32:  # the monitor on the LinearAct: forward, watched or not
            xl, watch = xi.detach(), relu_ext.DeadUnitMonitor(fused)

            def watched():
                with torch.no_grad(), watch:
                    fused(xl)

            def unwatched():
                with torch.no_grad():
                    fused(xl)

            linear_monitor = cost_of(watched, unwatched, threads, rounds, block_s)
        # a watched LinearAct's bias + activation: act_stats with the bias against bias_act
        xs, bs, ws = x.detach(), b.detach(), w.detach() if op == "prelu" else None
        a, p, _ = F._bias_act_args(kw["activation"], {**kwargs, **extra})
        fused_plain = ((lambda: relu_ext._C.bias_prelu(xs, bs, ws, -1)) if op == "prelu" else
                       (lambda: relu_ext._C.bias_act(xs, bs, -1, a, p)))
        bias_monitor = cost_of(lambda: relu_ext._C.act_stats(xs, ws, -1, a, p, bs), fused_plain,
                               threads, 8 * rounds, block_s / 4)
        monitor = ""
        if op in STATS_ACTS:  # timed on their own: the same input, in alternation
            a, p = STATS_ACTS[op]
            plain = OPS[op][0]
            # short blocks, many rounds: a busy neighbour's bursts then hit both sides of a
            # round alike, and the median sees more rounds
            monitor = cost_of(lambda: relu_ext._C.act_stats(xs, None, 1, a, p, None),
                              lambda: plain(xs, None), threads, 8 * rounds, block_s / 4)
        row = {"device": device, "dtype": str(dtype).replace("torch.", ""), "op": op, "rows": n_rows,
               "bias_act_ms": med[0] * 1e3, "aten_ms": med[1] * 1e3,
               "bias_act_speedup": med[1] / med[0], "linear_act_ms": med[2] * 1e3,
               "linear_then_act_ms": med[3] * 1e3, "linear_act_speedup": med[3] / med[2],
               "monitor_overhead": monitor, "bias_act_monitor_overhead": bias_monitor,
               "linear_act_monitor_overhead": linear_monitor}
        rows.append(row)
        print(f"{device:6} {row['dtype']:8} {op:10} bias_act {row['bias_act_ms']:7.2f} ms vs "
              f"{row['aten_ms']:7.2f} ({row['bias_act_speedup']:.2f}x)  LinearAct "
              f"{row['linear_act_ms']:7.2f} vs "
              f"{row['linear_then_act_ms']:7.2f} ({row['linear_act_speedup']:.2f}x)"
              + "".join(f"  {label} {row[key]:+.0%}" for label, key in MONITOR_COLUMNS
                        if row[key] != ""), flush=True)
    lines = ["| device | dtype | activation | bias_act (ms) | x + b, act (ms) | speedup | LinearAct (ms) "
             "| Linear, act (ms) | speedup | monitor's cost on the forward | on bias_act's "
             "(a watched LinearAct's bias + act) | on a watched LinearAct's |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mon = " | ".join(f"{r[key]:+.0%}" if r[key] != "" else "" for _, key in MONITOR_COLUMNS)
        lin = (f"{r['linear_act_ms']:.2f} | {r['linear_then_act_ms']:.2f} | "
               f"{r['linear_act_speedup']:.2f}x" if r["linear_act_ms"] == r["linear_act_ms"]
               else " | | ")  # NaN: not timed
        lines.append(f"| {r['device']} | {r['dtype']} | {r['op']} | {r['bias_act_ms']:.2f} | "
                     f"{r['aten_ms']:.2f} | {r['bias_act_speedup']:.2f}x | {lin} | {mon} |")
    return rows, "\n".join(lines) + "\n"


def warm_allocations():
    """Keeps glibc from returning large freed blocks to the OS (its adaptive mmap threshold
    stops at 32 MiB), so that every implementation's fresh output of any size comes from
    warm heap memory instead of new pages: at 16M float32 elements a page-faulted 64 MiB
    output costs more than the kernel. The copy roofline writes into a preallocated tensor
    either way. Returns whether it applied (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # keep freed memory; no mmap'ed blocks
        return bool(libc.mallopt(m_trim_threshold, 2**31 - 1) and libc.mallopt(m_mmap_max, 0))
    except (OSError, AttributeError):
        return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="fewer sizes and rounds, no torch.compile (under 2 minutes)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    p.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of " + ",".join(OPS))
    p.add_argument("--dtypes", help="comma-separated (default CPU: float32,bfloat16; "
                                    "CUDA: float32,float16,bfloat16)")
    p.add_argument("--sizes", help="comma-separated element counts (default: a sweep)")
    p.add_argument("--out", help="output folder (default benchmarks/results/<machine>)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="CPU threads (default: torch's)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="also time torch.compile (default: on, off with --quick)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--warm-alloc", action=argparse.BooleanOptionalAction, default=True,
                   help="serve large outputs from warm heap memory, not fresh pages (glibc "
                        "mallopt; default on, for every implementation alike)")
    p.add_argument("--accuracy-n", type=int,
                   help="random inputs for the accuracy table (default 10^7; 10^6 with --quick)")
    p.add_argument("--fused-rows", type=int,
                   help="rows of the fused table's (rows, 1024) input (default 4096; "
                        "1024 with --quick)")
    p.add_argument("--mlp-batch", type=int,
                   help="batch of the memory table's MLP step (default 256; 64 with --quick)")
    args = p.parse_args(argv)
    # --quick: the fused and memory tables' float32 matrix products (Linear) took most of its
    # time at full size (2 of 2.6 minutes on a 2-core Zen 3)
    args.fused_rows = args.fused_rows or (1024 if args.quick else 4096)
    args.mlp_batch = args.mlp_batch or (64 if args.quick else 256)

    devices = ["cpu"] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available() and relu_ext.backend_info()["cuda"]:
            devices.append("cuda")
        elif args.device == "cuda":
            sys.exit(f"no usable CUDA: {relu_ext.backend_info()['cuda_reason']}")
    torch.set_num_threads(args.threads)
    warm = warm_allocations() if args.warm_alloc else False
    ops = args.ops.split(",")
    unknown = [o for o in ops if o not in OPS]
    if unknown:
        sys.exit(f"unknown ops {unknown}; choose from {list(OPS)}")
    use_compile = (not args.quick) if args.compile is None else args.compile
    out_dir = args.out or os.path.join(ROOT, "benchmarks", "results", machine_name(devices))
    os.makedirs(out_dir, exist_ok=True)
    rounds, block_s = (5, 0.004) if args.quick else (11, 0.02)
    sizes = {"cpu": [2**16, 2**22] if args.quick else [2**12, 2**16, 2**20, 2**22, 2**24],
             "cuda": [2**16, 2**24] if args.quick else [2**12, 2**16, 2**20, 2**24, 2**26, 2**28]}
    if args.sizes:
        sizes = {d: [int(s) for s in args.sizes.split(",")] for d in sizes}
    dtypes = {"cpu": ["float32", "bfloat16"], "cuda": ["float32", "float16", "bfloat16"]}
    # --quick leaves backward_op out on the CPU, where autograd's cost is small beside the
    # kernels' at 4M (and the run must stay under 2 minutes); on a GPU it is the only row
    # that times the backward kernels.
    directions = {"cpu": DIRECTIONS[:3] if args.quick else DIRECTIONS, "cuda": DIRECTIONS}
    if args.dtypes:
        dtypes = {d: args.dtypes.split(",") for d in dtypes}
    # compile: torch.compile of the ATen function; compile_ext: of the relu_ext function
    # (our ops stay opaque custom ops inside the compiled graph: they should keep their speed).
    impls = ["relu_ext", "aten"] + (["compile", "compile_ext"] if use_compile else [])
    meta = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "git_commit": git_commit(), "python": platform.python_version(),
        "cpu": cpu_name(), "cpu_threads": args.threads, "devices": devices,
        "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None,
        "relu_ext": relu_ext.backend_info(), "quick": args.quick, "rounds": rounds,
        "block_seconds": block_s, "impls": impls, "warm_allocations": warm,
        "argv": sys.argv[1:] if argv is None else argv,
    }
    rows = []
    print(f"relu_ext benchmark: {meta['cpu']} ({args.threads} threads)"
          + (f", {meta['gpu']}" if meta["gpu"] else "") + f", torch {torch.__version__}")
    print(f"{'device':6} {'op':10} {'direction':16} {'dtype':9} {'numel':>9} "
          + "".join(f"{i:>12}" for i in impls) + f" {'speedup':>8} {'GB/s':>7} {'%copy':>6}")
    for device in devices:
        for dtype_name in dtypes[device]:
            dtype = DTYPES[dtype_name]
            esize = torch.tensor([], dtype=dtype).element_size()
            saved = {op: [saved_bytes_per_element(m, device, dtype) for m in MODULES[op]]
                     for op in ops}
            for numel in sizes[device]:
                # Rotate through >= 256 MiB of inputs on CUDA, so the L2 cannot hold them.
                copies = (max(1, min(16, (256 << 20) // (numel * esize * 3) + 1))
                          if device == "cuda" else 1)
                srcs = [torch.randn(numel, device=device).to(dtype) for _ in range(copies)]
                dsts = [torch.empty_like(s) for s in srcs]
                state = {"i": 0}

                def copy_step():
                    i = state["i"] = (state["i"] + 1) % copies
                    dsts[i].copy_(srcs[i])

                for op in ops:
                    ours, aten = OPS[op]
                    fns = {"relu_ext": ours, "aten": aten}
                    if use_compile:
                        fns["compile"] = compiled_version(aten)
                        fns["compile_ext"] = compiled_version(ours)
                    sets = make_inputs(op, numel, dtype, device, copies)
                    n = sets[0][0].numel()
                    for direction in directions[device]:
                        names = list(fns) if direction != "backward_op" else ["relu_ext", "aten"]
                        stmts = []
                        for name in list(names):
                            try:
                                stmt = make_stmt(fns[name], direction, sets, op, name)
                                stmt()
                                stmts.append(stmt)
                            except Exception as e:  # torch.compile where it does not work
                                print(f"  {name} skipped for {op} {direction}: {type(e).__name__}")
                                names.remove(name)
                        # the copy roofline in the same blocks, last
                        *samples, copy_samples = interleaved(stmts + [copy_step], args.threads,
                                                             rounds, block_s)
                        copy_gbs = 2 * numel * esize / statistics.median(copy_samples) / 1e9
                        med = {}
                        for impl, s in zip(names, samples):
                            p20, p50, p80 = quantiles(s)
                            med[impl] = p50
                            gbs = TRAFFIC[direction] * n * esize / p50 / 1e9
                            rows.append({
                                "op": op, "impl": impl, "direction": direction,
                                "dtype": dtype_name, "device": device,
                                "device_name": meta["gpu"] if device == "cuda" else meta["cpu"],
                                "threads": args.threads if device == "cpu" else "",
                                "numel": n, "p20_s": p20, "p50_s": p50, "p80_s": p80,
                                "gb_per_s": gbs, "pct_of_copy": 100 * gbs / copy_gbs,
                                "copy_gb_per_s": copy_gbs,
                                "saved_bytes_per_elem": saved[op][0 if impl == "relu_ext" else 1],
                                "torch": torch.__version__, "git_commit": meta["git_commit"],
                                "timestamp": meta["timestamp"],
                            })
                        for r in rows[-len(names):]:
                            r["speedup_vs_aten"] = med["aten"] / r["p50_s"]
                        ours_row = rows[-len(names)]
                        print(f"{device:6} {op:10} {direction:16} {dtype_name:9} {n:>9} "
                              + "".join(f"{med[i] * 1e6:>10.1f}us" if i in med else f"{'-':>12}"
                                        for i in impls)
                              + f" {ours_row['speedup_vs_aten']:>7.2f}x "
                              f"{ours_row['gb_per_s']:>7.1f} {ours_row['pct_of_copy']:>5.0f}%",
                              flush=True)
    # GPU vs CPU at the same op, impl, direction, dtype and size.
    cpu_time = {(r["op"], r["impl"], r["direction"], r["dtype"], r["numel"]): r["p50_s"]
                for r in rows if r["device"] == "cpu"}
    for r in rows:
        key = (r["op"], r["impl"], r["direction"], r["dtype"], r["numel"])
        r["gpu_vs_cpu"] = (cpu_time[key] / r["p50_s"]
                           if r["device"] == "cuda" and key in cpu_time else "")
    csv_path = os.path.join(out_dir, "bench.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out_dir, "bench.json"), "w") as f:
        json.dump(meta, f, indent=2)
    table = relative_cost_table(rows, devices)
    with open(os.path.join(out_dir, "relative_cost.md"), "w") as f:
        f.write("Median time relative to ReLU (same implementation, device, dtype, direction),\n"
                f"at 4M elements (or the largest size measured). {meta['cpu']}, {args.threads} threads"
                + (f"; {meta['gpu']}" if meta["gpu"] else "") + f"; torch {torch.__version__}.\n\n")
        f.write(table)
    print("\nCost relative to ReLU:\n" + table)
    acc_n = args.accuracy_n or (10**6 if args.quick else 10**7)
    print(f"\nLargest error against float64 ({acc_n} random inputs + special values; ulp of "
          "the dtype at the reference value):\n" + accuracy.HEADER)
    acc_rows = [r for device in devices
                for r in accuracy.measure(acc_n, device, dtypes[device], ops)]
    with open(os.path.join(out_dir, "accuracy.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(acc_rows[0].keys()))
        w.writeheader()
        w.writerows(acc_rows)
    with open(os.path.join(out_dir, "accuracy.md"), "w") as f:
        f.write(f"Largest error against a float64 reference, relu_ext and ATen on the same "
                f"{acc_n} random inputs plus the special values (benchmarks/accuracy.py); "
                f"torch {torch.__version__}, {meta['cpu']}"
                + (f", {meta['gpu']}" if meta["gpu"] else "") + ".\n\n"
                + accuracy.table(acc_rows))
    print("\nFused bias + activation (forward+backward) and the dead-unit monitor's cost:")
    fused_rows, fused_md = fused_table(devices, args.threads, rounds, block_s, ops,
                                       args.fused_rows)
    with open(os.path.join(out_dir, "fused.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fused_rows[0].keys()))
        w.writeheader()
        w.writerows(fused_rows)
    with open(os.path.join(out_dir, "fused.md"), "w") as f:
        f.write(" ".join(fused_table.__doc__.split()).format(
            rows=args.fused_rows, elements=size_words(args.fused_rows * 1024),
            cuda_rows=args.fused_rows * CUDA_FUSED_ROWS,
            cuda_elements=size_words(args.fused_rows * CUDA_FUSED_ROWS * 1024))
                + f"\n\n{meta['cpu']}, {args.threads} "
                f"threads" + (f"; {meta['gpu']}" if meta["gpu"] else "")
                + f"; torch {torch.__version__}.\n\n" + fused_md)
    mem_rows, mem_table = memory_table(devices, args.threads, rounds, block_s, ops,
                                       args.mlp_batch)
    with open(os.path.join(out_dir, "memory.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(mem_rows[0].keys()))
        w.writeheader()
        w.writerows(mem_rows)
    with open(os.path.join(out_dir, "memory.md"), "w") as f:
        f.write(memory_table.__doc__.split("\n\n")[0].replace("\n   ", "").format(
            batch=args.mlp_batch, elements=size_words(args.mlp_batch * 4096)) + "\n"
                f"{meta['cpu']}, {args.threads} threads" + (f"; {meta['gpu']}" if meta["gpu"] else "")
                + f"; torch {torch.__version__}.\n\n" + mem_table)
    print("\nMemory of a small MLP training step:\n" + mem_table)
    if not args.no_plots:
        import plot

        for path in plot.plot(csv_path, out_dir):
            print("wrote", path)
    print(f"wrote {csv_path} ({len(rows)} rows), bench.json, relative_cost.md, accuracy.csv, "
          "accuracy.md, memory.csv, memory.md, fused.csv, fused.md")
    return out_dir


if __name__ == "__main__":
    main()
