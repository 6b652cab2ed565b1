"""Smoke test of the benchmark: --quick on a tiny matrix writes every requested row, the
CSV columns, the JSON, the relative-cost table and the plots."""
import csv
import json
import os
import sys

import pytest

import relu_ext  # noqa: F401  (the library under test, loaded before the benchmark's import)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench  # noqa: E402

COLUMNS = {"op", "impl", "direction", "dtype", "device", "device_name", "numel", "p20_s",
           "p50_s", "p80_s", "gb_per_s", "pct_of_copy", "torch", "git_commit", "timestamp",
           "speedup_vs_aten", "gpu_vs_cpu", "saved_bytes_per_elem", "threads"}


@pytest.mark.slow  # the slowest (10-60 s); CPU only: run by `make test`, not the other builds' runs
def test_bench_quick_smoke(tmp_path):
    out = bench.main(["--quick", "--device", "cpu", "--ops", "relu,prelu,gelu_tanh",
                      "--dtypes", "float32,bfloat16", "--sizes", "4096,8192",
                      "--fused-rows", "256", "--mlp-batch", "16",  # small: seconds, not a minute
                      "--out", str(tmp_path), "--accuracy-n", "4096"])
    assert out == str(tmp_path)
    with open(tmp_path / "bench.csv") as f:
        rows = list(csv.DictReader(f))
    assert COLUMNS <= set(rows[0])
    got = {(r["op"], r["impl"], r["direction"], r["dtype"], r["numel"]) for r in rows}
    want = {(op, impl, d, dt, str(n)) for op in ("relu", "prelu", "gelu_tanh")
            for impl in ("relu_ext", "aten") for d in bench.DIRECTIONS[:3]  # --quick, CPU
            for dt in ("float32", "bfloat16") for n in (4096, 8192)}
    assert got == want
    for r in rows:
        assert 0 < float(r["p20_s"]) <= float(r["p50_s"]) <= float(r["p80_s"])
        assert float(r["gb_per_s"]) > 0 and float(r["pct_of_copy"]) > 0
        assert r["device"] == "cpu" and int(r["threads"]) >= 1
    # Saved for backward in Linear -> act -> Linear, per activation element: relu saves its
    # output (shared with the next Linear's input), GELU its input too.
    saved = {(r["op"], r["impl"], r["dtype"]): float(r["saved_bytes_per_elem"]) for r in rows}
    assert saved[("relu", "aten", "float32")] == 8.0
    assert saved[("gelu_tanh", "aten", "float32")] == 12.0
    assert saved[("relu", "relu_ext", "float32")] <= saved[("relu", "aten", "float32")]
    meta = json.loads((tmp_path / "bench.json").read_text())
    assert meta["cpu_threads"] >= 1 and meta["devices"] == ["cpu"]
    table = (tmp_path / "relative_cost.md").read_text()
    assert "| cpu | float32 | 8192 | relu_ext | gelu_tanh |" in table
    with open(tmp_path / "accuracy.csv") as f:
        acc = list(csv.DictReader(f))
    assert {(r["op"], r["direction"], r["dtype"]) for r in acc} == {
        (op, d, dt) for op in ("relu", "prelu", "gelu_tanh") for d in ("forward", "backward")
        for dt in ("float32", "bfloat16")}
    assert "| cpu | gelu_tanh | backward | bfloat16 |" in (tmp_path / "accuracy.md").read_text()
    for png in ("time_vs_size_float32.png", "pct_of_copy_bfloat16.png"):
        assert (tmp_path / png).stat().st_size > 1000
    with open(tmp_path / "fused.csv") as f:
        fused = list(csv.DictReader(f))
    assert {(r["op"], r["dtype"]) for r in fused} == {
        (op, dt) for op in ("relu", "prelu", "gelu_tanh") for dt in ("float32", "bfloat16")}
    for r in fused:
        assert r["rows"] == "256"  # --fused-rows, on the CPU
        assert float(r["bias_act_ms"]) > 0 and float(r["aten_ms"]) > 0
        assert (float(r["linear_act_ms"]) > 0) == (r["dtype"] == "float32")  # else NaN
        assert (r["monitor_overhead"] != "") == (r["op"] != "prelu")
        # the monitor on bias_act (a watched LinearAct's bias + act): every row, a ratio - 1
        assert -0.9 < float(r["bias_act_monitor_overhead"]) < 10
        # the monitor on the LinearAct: timed where the LinearAct is (float32), a ratio - 1
        assert (r["linear_act_monitor_overhead"] != "") == (r["dtype"] == "float32")
        if r["dtype"] == "float32":
            assert -0.9 < float(r["linear_act_monitor_overhead"]) < 10
    assert "| cpu | bfloat16 | relu |" in (tmp_path / "fused.md").read_text()
    # The tables state the shapes they timed.
    assert "of a (256, 1024) input (256K elements" in (tmp_path / "fused.md").read_text()
    memory_md = (tmp_path / "memory.md").read_text()
    assert "on a batch of 16 (64K activation elements" in memory_md
    with open(tmp_path / "memory.csv") as f:
        mem = list(csv.DictReader(f))
    # bfloat16's step is left out, and the table says why, where its matrix products crawl
    # (a CPU without AVX-512)
    dtypes = ("float32",) if "cpu bfloat16: left out, a (16, 1024)" in memory_md else (
        "float32", "bfloat16")
    assert {(r["form"], r["dtype"]) for r in mem} == {
        (op, dt) for op in ("relu", "prelu", "gelu_tanh") for dt in dtypes}
    assert all(float(r["step_ms"]) > 0 for r in mem)


@pytest.mark.parametrize("op", list(bench.OPS))
@pytest.mark.parametrize("impl", ["relu_ext", "aten"])
def test_backward_op_rows_compute_the_gradient(op, impl):
    """The backward_op rows time each library's backward op called directly: both compute
    the input gradient (and PReLU's weight gradient) that autograd gives with torch.nn."""
    torch = bench.torch
    x, w, g = bench.make_inputs(op, 64 * 64 * 3, torch.float64, "cpu", 1)[0]
    got = bench.backward_op(op, impl, x, w, g)()
    inputs = [t.detach().requires_grad_() for t in (x, w) if t is not None]
    want = torch.autograd.grad(bench.OPS[op][1](*inputs, *([None] * (2 - len(inputs)))),
                               inputs, g)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a.reshape(b.shape), b, rtol=1e-12, atol=1e-12)
