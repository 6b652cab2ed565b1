"""The polynomial behind the half types' GELU on CUDA (common.h, gelu_erfc_poly): prints its
float32 coefficients, highest degree first (as Horner's rule uses them), and its error bound.

    python csrc/fit_gelu_half.py

erfc(z) = t * Q(t) * exp(-z^2), t = 1 / (1 + z/2), for z >= 0: Q(t) = erfcx(z) / t is smooth
on t in (0, 1] (Q(0) = 1 / (2 sqrt(pi))). A degree-6 polynomial fitted on t in [1/6, 1]
(z <= 10: every float16 and bfloat16 input whose GELU or slope is not 0 or 1 in its dtype)
by weighted least squares in Chebyshev form, reweighted toward equal relative error
(Lawson's iteration), then evaluated in float32. Needs numpy.
"""
import math

import numpy as np
from numpy.polynomial import chebyshev as C

LO, DEG = 1 / 6, 6


def q_exact(t):
    z = 2 * (1 / t - 1)
    return np.array([math.erfc(v) * math.exp(v * v) for v in z]) / t


def fit():
    t = np.linspace(LO, 1, 100001)
    q = q_exact(t)
    s = (2 * t - (1 + LO)) / (1 - LO)  # t in [LO, 1] -> s in [-1, 1]
    w = 1 / q**2
    for _ in range(40):
        c = C.chebfit(s, q, DEG, w=np.sqrt(w))
        w = w * (np.abs((C.chebval(s, c) - q) / q) + 1e-30)
        w /= w.mean()
    mono = C.cheb2poly(c)  # in s = a t + b
    a, b = 2 / (1 - LO), -(1 + LO) / (1 - LO)
    coef = np.zeros(DEG + 1)
    for k, m in enumerate(mono):
        coef[:k + 1] += m * np.array([math.comb(k, j) * a**j * b**(k - j) for j in range(k + 1)])
    coef32 = coef.astype(np.float32)
    t32 = t.astype(np.float32)
    acc = np.full_like(t32, coef32[-1])
    for cc in coef32[-2::-1]:
        acc = (acc * t32 + cc).astype(np.float32)
    return coef32[::-1], float(np.abs((acc.astype(np.float64) - q) / q).max())


if __name__ == "__main__":
    coef, err = fit()
    print("Q(t), highest degree first:", ", ".join(f"{v:.9g}f" for v in coef))
    print(f"max relative error on t in [{LO:.4g}, 1], evaluated in float32: {err:.3g}")
