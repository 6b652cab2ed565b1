"""The polynomial fits behind vec_math.h: prints each coefficient list (float32, highest
degree first, as Horner's rule uses them) and the fit's error bound in exact arithmetic.

    python csrc/cpu/fit_vec_math.py

Near-minimax fits by Lawson's iteratively reweighted least squares on Chebyshev nodes;
references from Python's math module in float64. Needs numpy.
"""
import math

import numpy as np


def lawson(f, lo, hi, degree, relative=True, fixed=(), iterations=200, nodes=4000):
    """Coefficients c[0..degree] (c[:len(fixed)] given) minimising the largest (relative)
    error of sum c[i] x^i against f on [lo, hi]; returns (c, max error)."""
    x = np.cos(np.linspace(0, np.pi, nodes)) * (hi - lo) / 2 + (hi + lo) / 2
    y = f(x)
    base = sum(c * x**i for i, c in enumerate(fixed))
    a = np.stack([x**i for i in range(len(fixed), degree + 1)], 1)
    scale = np.abs(y) if relative else np.ones_like(y)
    w = np.full(nodes, 1.0 / nodes)
    for _ in range(iterations):
        sw = np.sqrt(w) / scale
        c, *_ = np.linalg.lstsq(a * sw[:, None], (y - base) * sw, rcond=None)
        err = np.abs(a @ c + base - y) / scale
        w = w * err
        w /= w.sum()
    return list(fixed) + list(c), float(err.max())


def show(name, coefficients, error):
    c32 = [f"{float(np.float32(c)):.8e}" for c in reversed(coefficients)]
    print(f"{name}: error {error:.2e}\n  " + ", ".join(c32))


def main():
    half_ln2 = math.log(2) / 2
    # exp(r) on |r| <= ln(2)/2, degree 6, c0 = 1.
    # Each function twice: for float results (about 1 ulp) and for bfloat16 / float16
    # results (kHalf: a few 1e-6 each, a small fraction of their half ulp).
    show("exp", *lawson(np.exp, -half_ln2, half_ln2, 6, fixed=(1.0,)))
    show("exp (kHalf)", *lawson(np.exp, -half_ln2, half_ln2, 4, fixed=(1.0,)))
    # exp for the half types' ELU slope (exp_nonpositive_slope): degree 5.
    show("exp (slope)", *lawson(np.exp, -half_ln2, half_ln2, 5, fixed=(1.0,)))
    # expm1(r) = r + r^2 q(r) on |r| <= ln(2)/2, degree 7 (c0 = 0, c1 = 1); q = c[2:].
    c, e = lawson(np.expm1, -half_ln2, half_ln2, 7, fixed=(0.0, 1.0))
    show("expm1 (q = c2..c7)", c[2:], e)
    c, e = lawson(np.expm1, -half_ln2, half_ln2, 5, fixed=(0.0, 1.0))
    show("expm1 (kHalf, q = c2..c5)", c[2:], e)
    # Phi(-|x|) = erfc(a)/2 = t Q(s) exp(-a^2), a = |x|/sqrt 2, t = 1/(1 + a/2),
    # s = k1 t + k0 maps t from [1/(1 + amax/2), 1] onto [-1, 1]; relative error.
    amax = 10.61
    tmin = 1 / (1 + amax / 2)
    k1, k0 = 2 / (1 - tmin), -2 * tmin / (1 - tmin) - 1
    erfcx = np.vectorize(lambda a: math.erfc(a) * math.exp(a * a))

    def q_of_s(s):
        t = (s + 1) / 2 * (1 - tmin) + tmin
        return 0.5 * erfcx(2 / t - 2) / t

    print(f"normal tail: s = {np.float32(k1):.8e} t + {np.float32(k0):.8e}")
    show("normal tail Q(s)", *lawson(q_of_s, -1.0, 1.0, 8))
    show("normal tail Q(s) (kHalf)", *lawson(q_of_s, -1.0, 1.0, 6))
    # GELU's forward: the same Q as a polynomial in u = |x| t = (1 - t) sqrt(8), which
    # |x| / d gives in one division (|x| Phi(-|x|) = u Q e 2^n); u in [0, (1 - tmin) sqrt 8].
    # Each coefficient is rounded to float before the next ones are refit, lowest first.
    umax = (1 - tmin) * math.sqrt(8)

    def q_of_u(u):
        t = 1 - u / math.sqrt(8)
        return 0.5 * erfcx(2 / t - 2) / t

    for name, degree in (("gelu tail Q(u)", 8), ("gelu tail Q(u) (kHalf)", 6)):
        fixed = []
        for i in range(degree + 1):
            c, e = lawson(q_of_u, 0.0, umax, degree, fixed=tuple(fixed))
            fixed.append(float(np.float32(c[i])))
        show(name, fixed, e)


if __name__ == "__main__":
    main()
