"""Plots for a benchmark CSV (written by bench.py, or run on its own):

    python benchmarks/plot.py benchmarks/results/<machine>/bench.csv

time_vs_size_<dtype>.png  median time against size, log-log, per op and direction; one line
                          per implementation and device
pct_of_copy_<dtype>.png   effective bandwidth as % of a tensor copy on the same device
gpu_vs_cpu.png            GPU speedup over the CPU at the same op, dtype and size (only when
                          the CSV has both devices)
"""
import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DIRECTIONS = ("forward", "backward", "forward+backward", "backward_op")


def _grid(rows, value, ylabel, title, path, logy=True):
    ops = sorted({r["op"] for r in rows}, key=lambda o: rows.index(next(r for r in rows if r["op"] == o)))
    directions = [d for d in DIRECTIONS if any(r["direction"] == d for r in rows)]
    fig, axes = plt.subplots(len(ops), len(directions), figsize=(4.2 * len(directions), 2.8 * len(ops)),
                             squeeze=False, sharex=True)
    for i, op in enumerate(ops):
        for j, direction in enumerate(directions):
            ax = axes[i][j]
            lines = defaultdict(list)
            for r in rows:
                if r["op"] == op and r["direction"] == direction:
                    lines[(r["impl"], r["device"])].append((int(r["numel"]), value(r)))
            for (impl, device), pts in sorted(lines.items()):
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                        label=f"{impl} ({device})")
            ax.set_xscale("log", base=2)
            if logy:
                ax.set_yscale("log")
            ax.set_title(f"{op} {direction}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == len(ops) - 1:
                ax.set_xlabel("elements")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot(csv_path, out_dir=None):
    """Writes the PNGs next to the CSV (or into out_dir); returns their paths."""
    out_dir = out_dir or os.path.dirname(os.path.abspath(csv_path))
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    written = []
    for dtype in sorted({r["dtype"] for r in rows}):
        sub = [r for r in rows if r["dtype"] == dtype]
        written.append(_grid(sub, lambda r: float(r["p50_s"]) * 1e6, "median time (us)",
                             f"time vs size, {dtype}",
                             os.path.join(out_dir, f"time_vs_size_{dtype}.png")))
        written.append(_grid(sub, lambda r: float(r["pct_of_copy"]), "% of copy bandwidth",
                             f"effective bandwidth as % of a tensor copy, {dtype}",
                             os.path.join(out_dir, f"pct_of_copy_{dtype}.png"), logy=False))
    gpu = [r for r in rows if r["device"] == "cuda" and r.get("gpu_vs_cpu")]
    if gpu:
        written.append(_grid(gpu, lambda r: float(r["gpu_vs_cpu"]), "GPU / CPU speedup",
                             "GPU speedup over the CPU (same op, impl, dtype, size)",
                             os.path.join(out_dir, "gpu_vs_cpu.png")))
    return written


if __name__ == "__main__":
    for p in plot(sys.argv[1]):
        print("wrote", p)
