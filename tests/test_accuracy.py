"""Accuracy does not pay for speed: on random inputs plus the special values, relu_ext's
largest error against a float64 reference is no worse than ATen's (torch's own kernels),
per op, direction and dtype (benchmarks/accuracy.py, which the benchmark also runs on
10^7 inputs and reports)."""
import os
import sys

import pytest
import torch

import relu_ext  # noqa: F401  (the library under test, loaded before the benchmark's import)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import accuracy  # noqa: E402

DTYPES = ("float32", "bfloat16", "float16")


@pytest.fixture(scope="module", params=["cpu", "cuda"])
def rows(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return accuracy.measure(2**18, request.param, DTYPES, log=lambda _: None)


@pytest.mark.parametrize("op", accuracy.OPS)
def test_no_worse_than_aten(rows, op):
    for r in (r for r in rows if r["op"] == op):
        what = f"{r['op']} {r['direction']} {r['dtype']}: {r}"
        # A quarter ulp of slack: the same formula rounded in another order.
        assert r["relu_ext_max_ulp"] <= r["aten_max_ulp"] + 0.25, what
        assert r["relu_ext_max_abs"] <= r["aten_max_abs"] * 1.05, what
        assert r["relu_ext_special_mismatches"] <= r["aten_special_mismatches"], what


def test_reference_is_independent():
    """The float64 reference agrees with torch's float64 kernels where those are accurate
    (|x| < 5, away from the tails where float64 1 + erf(x) itself cancels)."""
    x, g, w = accuracy.make_inputs(4096, torch.float64, "cpu")
    x = x.clamp(-5, 5)
    tf = torch.nn.functional
    want = {"relu": tf.relu(x), "leaky_relu": tf.leaky_relu(x, accuracy.SLOPE),
            "prelu": tf.prelu(x, w), "elu": tf.elu(x, accuracy.ALPHA), "gelu": tf.gelu(x),
            "gelu_tanh": tf.gelu(x, approximate="tanh")}
    for op, y in want.items():
        torch.testing.assert_close(accuracy.reference(op, "forward", x, g, w), y,
                                   rtol=1e-12, atol=1e-15, equal_nan=True)
