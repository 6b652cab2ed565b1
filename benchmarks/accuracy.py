"""Accuracy against a float64 reference: relu_ext and ATen on the same inputs.

    python benchmarks/accuracy.py [--n 10000000] [--device cpu|cuda] [--dtypes float32,bfloat16]

For each op x direction (forward; backward = the input gradient for a random upstream
gradient) x dtype, both implementations run on the same inputs: n random values (half
N(0, 3^2), half log-uniform magnitudes 1e-6..1e2 with random signs) plus the special values
(±0, ±inf, NaN, subnormals, the largest finite values, GELU's minimum near -0.75). The
reference is computed in float64 from the same (rounded) inputs with formulas that stay
accurate in the tails (erfc for GELU, sigmoid for the tanh form, expm1 for ELU), at ±inf by
their mathematical limits.

Figures per row: the largest error in units in the last place of the dtype at the reference
value (max_ulp; a correctly rounded result is within 0.5), the largest absolute error, and the
number of special mismatches (NaN or ±inf where the reference has none, or the reverse;
the reference's gradient at a NaN input is NaN, where torch's relu passes the upstream
gradient through, as relu_ext does: one mismatch for both).
"""
import argparse
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import relu_ext  # noqa: E402,F401  (registers torch.ops.relu_ext)

SLOPE, ALPHA, CHANNELS = 0.01, 1.0, 64
K_BETA = math.sqrt(2.0 / math.pi)
K_KAPPA = 0.044715
OPS = ("relu", "leaky_relu", "prelu", "elu", "gelu", "gelu_tanh")
# rows measured with an op besides its own: ELU at another alpha (alpha * expm1(x) rounds a
# product that alpha = 1 does not)
VARIANTS = {"elu": ("elu", "elu(alpha=0.7)")}


def elu_alpha(op):
    """ELU's alpha in a row named "elu" (ALPHA) or "elu(alpha=A)"."""
    return float(op[len("elu(alpha="):-1]) if op.startswith("elu(") else ALPHA
MANTISSA = {torch.float32: 23, torch.bfloat16: 7, torch.float16: 10, torch.float64: 52}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
R = torch.ops.relu_ext
A = torch.ops.aten


def special_values(dtype):
    fi = torch.finfo(dtype)
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, fi.tiny, -fi.tiny, fi.tiny / 4,
            -fi.tiny / 4, fi.max, -fi.max, fi.eps, -fi.eps, 1.0, -1.0, -0.75, -0.7517916,
            5.0, -5.0, 10.0, -10.0, 88.0, -88.0, 100.0, -100.0, 1e4, -1e4]
    return torch.tensor(vals, dtype=torch.float64)


def make_inputs(n, dtype, device, seed=0):
    """x (n + specials, a multiple of CHANNELS, shaped [m, CHANNELS]), the upstream
    gradient g, and the PReLU weight, all in dtype."""
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    normal = torch.randn(half, generator=g, dtype=torch.float64) * 3
    mag = torch.empty(n - half, dtype=torch.float64).uniform_(math.log(1e-6), math.log(1e2),
                                                              generator=g).exp()
    sign = torch.randint(0, 2, (n - half,), generator=g).to(torch.float64) * 2 - 1
    x = torch.cat([special_values(dtype), normal, mag * sign])
    x = x[: x.numel() // CHANNELS * CHANNELS].reshape(-1, CHANNELS)
    grad = torch.randn(x.shape, generator=g, dtype=torch.float64)
    weight = torch.empty(CHANNELS, dtype=torch.float64).uniform_(-0.5, 0.5, generator=g)
    weight[0] = 0.25
    return (x.to(dtype).to(device), grad.to(dtype).to(device), weight.to(dtype).to(device))


def reference(op, direction, x, g, w):
    """float64 forward value, or g times the derivative, from float64 copies of the inputs."""
    x = x.double()
    x = torch.where(x.isinf(), x.sign() * 1e300, x)  # the limits at ±inf
    g, w = g.double(), w.double()
    pos = x > 0
    if op == "relu":
        y, d = torch.where(pos, x, 0 * x), pos.double()
    elif op == "leaky_relu":
        y, d = torch.where(pos, x, SLOPE * x), torch.where(pos, 1.0, SLOPE)
    elif op == "prelu":
        y, d = torch.where(pos, x, w * x), torch.where(pos, torch.ones_like(x), w.expand_as(x))
    elif op.startswith("elu"):
        y = torch.where(pos, x, elu_alpha(op) * torch.expm1(x))
        d = torch.where(pos, 1.0, elu_alpha(op) * torch.exp(x))
    elif op == "gelu":
        cdf = 0.5 * torch.erfc(-x / math.sqrt(2.0))
        y = x * cdf
        d = cdf + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    elif op == "gelu_tanh":
        u = K_BETA * (x + K_KAPPA * x * x * x)
        s, sn = torch.sigmoid(2 * u), torch.sigmoid(-2 * u)  # (1 + tanh u)/2, (1 - tanh u)/2
        y = x * s
        xc = x.clamp(-1e4, 1e4)  # the derivative is exactly 0 or 1 beyond (inf * 0 there)
        d = s + 2 * xc * s * sn * K_BETA * (1 + 3 * K_KAPPA * xc * xc)
    else:
        raise ValueError(op)
    d = torch.where(x.isnan(), x, d)
    return y if direction == "forward" else g * d


def run(impl, op, direction, x, g, w):
    """The output of relu_ext's or ATen's kernel (no autograd: the ops themselves)."""
    fwd = direction == "forward"
    if impl == "relu_ext":
        if op == "relu":
            return R.relu(x) if fwd else R.relu_backward(g, R.relu(x))
        if op == "leaky_relu":
            return R.leaky_relu(x, SLOPE) if fwd else R.leaky_relu_backward(g, x, SLOPE, False)
        if op == "prelu":
            return R.prelu(x, w) if fwd else R.prelu_backward(g, x, w)[0]
        if op.startswith("elu"):
            a = elu_alpha(op)
            return R.elu(x, a) if fwd else R.elu_backward(g, x, a, False)
        approx = "tanh" if op == "gelu_tanh" else "none"
        return R.gelu(x, approx) if fwd else R.gelu_backward(g, x, approx)
    if op == "relu":
        return A.relu(x) if fwd else A.threshold_backward(g, A.relu(x), 0)
    if op == "leaky_relu":
        return A.leaky_relu(x, SLOPE) if fwd else A.leaky_relu_backward(g, x, SLOPE, False)
    if op == "prelu":
        return A._prelu_kernel(x, w) if fwd else A._prelu_kernel_backward(g, x, w)[0]
    if op.startswith("elu"):
        a = elu_alpha(op)
        return A.elu(x, a) if fwd else A.elu_backward(g, a, 1, 1, False, x)
    approx = "tanh" if op == "gelu_tanh" else "none"
    return A.gelu(x, approximate=approx) if fwd else A.gelu_backward(g, x, approximate=approx)


def ulp(ref, dtype):
    """The spacing of dtype's numbers at |ref| (float64), subnormals included."""
    fi = torch.finfo(dtype)
    _, e = torch.frexp(ref.abs().clamp_min(fi.tiny))  # |ref| = m * 2^e, 0.5 <= m < 1
    return torch.ldexp(torch.ones_like(ref), e.to(torch.float64) - 1 - MANTISSA[dtype])


def errors(out, ref, dtype):
    """(max ulp error, max absolute error, special mismatches, x index of the max ulp)."""
    out = out.double().flatten()
    ref = ref.flatten()
    ref_r = ref.to(dtype).double()  # the reference rounded to dtype (overflows to ±inf)
    same = (out == ref_r) | (out.isnan() & ref_r.isnan())  # also inf == inf
    finite = out.isfinite() & ref_r.isfinite()
    mismatches = int((~same & ~finite).sum())
    err = torch.where(finite, (out - ref).abs(), torch.zeros_like(ref))
    ulps = err / ulp(ref, dtype)
    i = int(ulps.argmax())
    return float(ulps[i]), float(err.max()), mismatches, i


def measure(n=10**7, device="cpu", dtypes=("float32", "bfloat16"), ops=OPS, seed=0, log=print):
    rows = []
    for dtype_name in dtypes:
        dtype = DTYPES[dtype_name]
        x, g, w = make_inputs(n, dtype, device, seed)
        for op in (v for op in ops for v in VARIANTS.get(op, (op,))):
            for direction in ("forward", "backward"):
                ref = reference(op, direction, x.cpu(), g.cpu(), w.cpu())
                row = {"op": op, "direction": direction, "dtype": dtype_name, "device": device,
                       "n": x.numel()}
                for impl in ("relu_ext", "aten"):
                    out = run(impl, op, direction, x, g, w).cpu()
                    mu, ma, mm, i = errors(out, ref, dtype)
                    row.update({f"{impl}_max_ulp": mu, f"{impl}_max_abs": ma,
                                f"{impl}_special_mismatches": mm,
                                f"{impl}_worst_x": float(x.flatten()[i])})
                rows.append(row)
                log(format_row(row))
    return rows


HEADER = ("| device | op | direction | dtype | relu_ext max ulp | ATen max ulp | "
          "relu_ext max abs | ATen max abs | special mismatches (relu_ext / ATen) |\n"
          "|---|---|---|---|---|---|---|---|---|")


def format_row(r):
    return (f"| {r['device']} | {r['op']} | {r['direction']} | {r['dtype']} | "
            f"{r['relu_ext_max_ulp']:.3g} | {r['aten_max_ulp']:.3g} | "
            f"{r['relu_ext_max_abs']:.3g} | {r['aten_max_abs']:.3g} | "
            f"{r['relu_ext_special_mismatches']} / {r['aten_special_mismatches']} |")


def table(rows):
    return HEADER + "\n" + "\n".join(format_row(r) for r in rows) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=10**7, help="random inputs (specials added)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--ops", default=",".join(OPS))
    args = p.parse_args(argv)
    print(HEADER)
    measure(args.n, args.device, args.dtypes.split(","), args.ops.split(","))


if __name__ == "__main__":
    main()
