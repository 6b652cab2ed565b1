"""The GPU-vs-CPU benchmark: every activation, relu_ext against ATen (torch's own kernels).

    python benchmarks/bench.py [--quick] [--device cpu|cuda|all] [--out DIR] [--threads N]

For each form x direction (forward, backward, forward+backward) x dtype x size x device,
both implementations are timed in alternating short blocks (interleaved, so drift hits
both alike) with torch.utils.benchmark; the figures are the median and p20/p80 of the
per-block times. A plain tensor copy of the same size is timed alongside, as the
memory-bandwidth roofline. Writes a long-format CSV and a JSON of machine metadata to
benchmarks/results/<machine>/ and prints a table as it goes.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as TF
from torch.utils.benchmark import Timer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import relu_ext  # noqa: E402
import relu_ext.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# form -> (relu_ext, ATen), each fn(x, weight)
FORMS = {
    "relu": (lambda x, w: F.relu(x), lambda x, w: TF.relu(x)),
    "leaky_relu": (lambda x, w: F.leaky_relu(x, 0.01), lambda x, w: TF.leaky_relu(x, 0.01)),
    "prelu": (F.prelu, TF.prelu),
    "elu": (lambda x, w: F.elu(x), lambda x, w: TF.elu(x)),
    "gelu": (lambda x, w: F.gelu(x), lambda x, w: TF.gelu(x)),
    "gelu_tanh": (lambda x, w: F.gelu(x, approximate="tanh"),
                  lambda x, w: TF.gelu(x, approximate="tanh")),
}
DIRECTIONS = ("forward", "backward", "forward+backward")
# Minimal bytes moved per element, in units of the element size.
TRAFFIC = {"forward": 2, "backward": 3, "forward+backward": 5}
PRELU_CHANNELS = 64


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
    name = cpu_name()
    if "cuda" in devices:
        name = torch.cuda.get_device_name(0)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug


def git_commit():
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def make_inputs(form, numel, dtype, device, copies):
    """`copies` independent (x, weight, grad) sets: rotated through on CUDA so that large
    sizes are not served from L2."""
    sets = []
    for _ in range(copies):
        if form == "prelu":
            shape = (max(1, numel // (PRELU_CHANNELS * 64)), PRELU_CHANNELS, 64)
        else:
            shape = (numel,)
        x = torch.randn(shape, device=device, dtype=dtype) * 3
        w = (torch.rand(PRELU_CHANNELS, device=device, dtype=dtype) * 0.5
             if form == "prelu" else None)
        sets.append((x, w, torch.randn_like(x)))
    return sets


def make_stmt(fn, direction, sets):
    """A no-argument callable running one step of `direction` on the next input set."""
    state = {"i": 0}
    prepared = []
    for x, w, g in sets:
        if direction == "forward":
            prepared.append((x, w, g, None))
            continue
        xr = x.detach().requires_grad_()
        wr = w.detach().requires_grad_() if w is not None else None
        inputs = (xr,) if wr is None else (xr, wr)
        y = fn(xr, wr) if direction == "backward" else None
        prepared.append((xr, wr, g, (inputs, y)))

    def step():
        i = state["i"] = (state["i"] + 1) % len(prepared)
        x, w, g, extra = prepared[i]
        if direction == "forward":
            with torch.no_grad():
                return fn(x, w)
        inputs, y = extra
        if direction == "backward":
            return torch.autograd.grad(y, inputs, g, retain_graph=True)
        return torch.autograd.grad(fn(x, w), inputs, g)

    return step


def interleaved(stmts, device, threads, rounds, block_s):
    """Time each stmt in alternating blocks; returns per-stmt lists of per-call seconds."""
    timers = [Timer("s()", globals={"s": s}, num_threads=threads) for s in stmts]
    numbers = []
    for t in timers:  # warm up and calibrate calls per block
        t.timeit(3)
        once = max(t.timeit(5).median, 1e-7)
        numbers.append(max(1, int(block_s / once)))
    samples = [[] for _ in stmts]
    for _ in range(rounds):
        for k, t in enumerate(timers):
            samples[k].append(t.timeit(numbers[k]).median)
    return samples


def quantiles(xs):
    q = statistics.quantiles(xs, n=10, method="inclusive") if len(xs) > 1 else [xs[0]] * 9
    return q[1], statistics.median(xs), q[7]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds (about a minute)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    p.add_argument("--out", help="output folder (default benchmarks/results/<machine>)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="CPU threads (default: torch's)")
    p.add_argument("--forms", default=",".join(FORMS), help="comma-separated subset")
    args = p.parse_args(argv)

    devices = ["cpu"] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available() and relu_ext.backend_info()["cuda"]:
            devices.append("cuda")
        elif args.device == "cuda":
            sys.exit(f"no usable CUDA: {relu_ext.backend_info()['cuda_reason']}")
    torch.set_num_threads(args.threads)
    forms = args.forms.split(",")
    out_dir = args.out or os.path.join(ROOT, "benchmarks", "results", machine_name(devices))
    os.makedirs(out_dir, exist_ok=True)
    rounds, block_s = (5, 0.005) if args.quick else (11, 0.02)
    sizes = {"cpu": [2**16, 2**22] if args.quick else [2**12, 2**16, 2**20, 2**22, 2**24],
             "cuda": [2**16, 2**24] if args.quick else [2**12, 2**16, 2**20, 2**24, 2**26, 2**28]}
    dtypes = {"cpu": [torch.float32, torch.bfloat16],
              "cuda": [torch.float32, torch.float16, torch.bfloat16]}
    meta = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "git_commit": git_commit(), "python": platform.python_version(),
        "cpu": cpu_name(), "cpu_threads": args.threads, "devices": devices,
        "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None,
        "relu_ext": relu_ext.backend_info(), "quick": args.quick, "rounds": rounds,
    }
    rows = []
    header = (f"{'device':6} {'op':10} {'direction':16} {'dtype':9} {'numel':>9} "
              f"{'relu_ext':>10} {'aten':>10} {'speedup':>8} {'GB/s':>7} {'%copy':>6}")
    print(f"relu_ext benchmark: {meta['cpu']} ({args.threads} threads)"
          + (f", {meta['gpu']}" if meta["gpu"] else "") + f", torch {torch.__version__}")
    print(header)
    for device in devices:
        copies_bytes = 256 * 2**20 if device == "cuda" else 0
        for dtype in dtypes[device]:
            for numel in sizes[device]:
                esize = torch.tensor([], dtype=dtype).element_size()
                copies = max(1, min(8, copies_bytes // (numel * esize * 3) + 1)) if copies_bytes else 1
                src = torch.randn(numel, device=device).to(dtype)
                dst = torch.empty_like(src)
                copy_s = statistics.median(interleaved([lambda: dst.copy_(src)], device,
                                                       args.threads, rounds, block_s)[0])
                copy_gbs = 2 * numel * esize / copy_s / 1e9
                for form in forms:
                    ours, aten = FORMS[form]
                    sets = make_inputs(form, numel, dtype, device, copies)
                    n = sets[0][0].numel()
                    for direction in DIRECTIONS:
                        samples = interleaved([make_stmt(ours, direction, sets),
                                               make_stmt(aten, direction, sets)],
                                              device, args.threads, rounds, block_s)
                        med = {}
                        for impl, s in zip(("relu_ext", "aten"), samples):
                            p20, p50, p80 = quantiles(s)
                            med[impl] = p50
                            gbs = TRAFFIC[direction] * n * esize / p50 / 1e9
                            rows.append({
                                "op": form, "impl": impl, "direction": direction,
                                "dtype": str(dtype).replace("torch.", ""), "device": device,
                                "device_name": meta["gpu"] if device == "cuda" else meta["cpu"],
                                "threads": args.threads if device == "cpu" else "",
                                "numel": n, "p20_s": p20, "p50_s": p50, "p80_s": p80,
                                "gb_per_s": gbs, "pct_of_copy": 100 * gbs / copy_gbs,
                                "copy_gb_per_s": copy_gbs, "torch": torch.__version__,
                                "git_commit": meta["git_commit"], "timestamp": meta["timestamp"],
                            })
                        r = rows[-2]
                        print(f"{device:6} {form:10} {direction:16} {r['dtype']:9} {n:>9} "
                              f"{med['relu_ext']*1e6:>8.1f}us {med['aten']*1e6:>8.1f}us "
                              f"{med['aten']/med['relu_ext']:>7.2f}x {r['gb_per_s']:>7.1f} "
                              f"{r['pct_of_copy']:>5.0f}%", flush=True)
    # GPU vs CPU at the same op, direction, dtype and size.
    cpu_time = {(r["op"], r["impl"], r["direction"], r["dtype"], r["numel"]): r["p50_s"]
                for r in rows if r["device"] == "cpu"}
    for r in rows:
        key = (r["op"], r["impl"], r["direction"], r["dtype"], r["numel"])
        r["gpu_vs_cpu"] = (cpu_time[key] / r["p50_s"]) if r["device"] == "cuda" and key in cpu_time else ""
    csv_path = os.path.join(out_dir, "bench.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out_dir, "bench.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"wrote {csv_path} ({len(rows)} rows) and bench.json")


if __name__ == "__main__":
    main()
