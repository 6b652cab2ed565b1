"""The constants and polynomial fits behind gelu_inverse.h: prints them (float32 coefficients,
highest degree first, as Horner's rule uses them) with each fit's error bound.

    python csrc/fit_gelu_inverse.py

GELU (both forms) falls from 0 to its minimum y_min at x_min, then rises: x is recovered from
y = gelu(x) and one bit (x >= x_min). With t = sqrt(y - y_min), x is a smooth function of t
on each branch (its derivative at the minimum is finite, unlike x's as a function of y):
  right branch, y <= 3:   x = R(t);   y > 3: x = y (Newton's first step fixes the rest)
  left branch, y <= -0.05: x = L(t)
  left branch, y > -0.05:  x = v F(1/v), v = sqrt(-log(-y))   (x -> -inf as y -> 0)
The guesses are refined by Newton steps in gelu_inverse.h. Needs numpy.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu"))
from fit_vec_math import lawson  # noqa: E402

# v = sqrt(-log(-y)) up to V_MAX: y down to float64's smallest normal (exact form); the tanh
# form's far tail fits poorly in 1/v, so its fit covers float32's range (y down to 1e-38,
# x >= -10): beyond, only float64 goes, its gradient is below 1e-35 and 4 Newton steps refine.
Y_HI, Y_LO, V_MAX = 3.0, -0.05, {False: 27.0, True: 9.4}
_erfc = np.vectorize(math.erfc)


def gelu(x, tanh):
    """Both forms in float64, accurate in the left tail (no 1 + erf cancellation)."""
    x = np.asarray(x, np.float64)
    if tanh:
        u2 = math.sqrt(8 / math.pi) * (x + 0.044715 * x**3)
        with np.errstate(over="ignore"):
            return x / (1 + np.exp(-u2))
    return 0.5 * x * _erfc(-x / math.sqrt(2))


def slope(x, tanh):
    """gelu'(x), analytic."""
    if tanh:
        u2 = math.sqrt(8 / math.pi) * (x + 0.044715 * x**3)
        s = 1 / (1 + math.exp(-u2))
        return s + x * s * (1 - s) * math.sqrt(8 / math.pi) * (1 + 3 * 0.044715 * x * x)
    return 0.5 * math.erfc(-x / math.sqrt(2)) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def minimum(tanh):
    """(x_min, y_min, sqrt(gelu''(x_min) / 2))."""
    lo, hi = -1.0, -0.5
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid, tanh) < 0 else (lo, mid)
    xm = (lo + hi) / 2
    h = 1e-5
    g2 = (slope(xm + h, tanh) - slope(xm - h, tanh)) / (2 * h)
    return xm, float(gelu(xm, tanh)), math.sqrt(g2 / 2)


def inverse(y, right, tanh, xm):
    """x on the given branch with gelu(x) = y, by bisection in float64."""
    y = np.asarray(y, np.float64)
    lo = np.full_like(y, xm) if right else np.full_like(y, -45.0)
    hi = np.maximum(y, 0) + 1.0 if right else np.full_like(y, xm)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = gelu(mid, tanh) < y  # right branch: mid < x; left branch: mid > x
        if right:
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        else:
            lo, hi = np.where(below, lo, mid), np.where(below, mid, hi)
    return (lo + hi) / 2


def show(name, coefficients, error):
    c32 = [f"{float(np.float32(c)):.8e}f" for c in reversed(coefficients)]
    print(f"{name}: error {error:.2e}\n  " + ", ".join(c32))


def main():
    for tanh in (False, True):
        xm, ym, dt = minimum(tanh)
        print(f"--- {'tanh' if tanh else 'exact'}: x_min {xm!r}, y_min {ym!r}, "
              f"dt/dx at the minimum {dt!r}")
        kw = dict(relative=False, nodes=500, iterations=60)
        show("R(t)", *lawson(lambda t: inverse(ym + t * t, True, tanh, xm), 0.0,
                             math.sqrt(Y_HI - ym), 6, **kw))
        show("L(t)", *lawson(lambda t: inverse(ym + t * t, False, tanh, xm), 0.0,
                             math.sqrt(Y_LO - ym), 6, **kw))
        v0 = math.sqrt(-math.log(-Y_LO))
        show("F(1/v) (x / v)", *lawson(lambda s: inverse(-np.exp(-1 / s**2), False, tanh, xm) * s,
                                       1 / V_MAX[tanh], 1 / v0, 6, **kw))


if __name__ == "__main__":
    main()
