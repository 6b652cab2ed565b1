"""gradcheck / gradgradcheck in float64, in-place autograd semantics, the public
autograd.Function classes, forward-mode AD, torch.func transforms, compiled autograd."""
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import relu_ext
import relu_ext.functional as F
from relu_ext.autograd import (ELUFunction, GELUFunction, LeakyReLUFunction, PReLUFunction,
                               ReLUFunction)
from cases import CASES, INPLACE_CASES, make_input, prelu_weight


def _away_from_kinks(x):
    # Finite differences straddling x = 0 are meaningless for the piecewise forms.
    return torch.where(x.abs() < 0.05, x.sign() * 0.05 + 0.05 * (x == 0), x)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "0-dim"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradcheck_gradgradcheck(case, layout, device):
    # 180 elements (n=2): gradcheck's cost grows with them, and the sanitizer and CUDA
    # emulation stages run this too
    x = _away_from_kinks(make_input(layout, torch.float64, device, scale=1.5, n=2)).detach()
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = prelu_weight(case, x, requires_grad=True)
    inputs = (x,) if w is None else (x, w)
    fn = (lambda x: case.ours(x, None)) if w is None else (lambda x, w: case.ours(x, w))
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


# A negative slope or alpha in place raises at backward (tested below).
@pytest.mark.parametrize("case", [c for c in INPLACE_CASES if "-0.3" not in c.id and "-0.5" not in c.id],
                         ids=repr)
def test_inplace_gradcheck(case, device):
    """In-place on a non-leaf (a clone): gradients through the mutated tensor."""
    x = _away_from_kinks(make_input("contiguous", torch.float64, device, scale=1.5)).detach()
    x.requires_grad_()

    def fn(x):
        y = x * 1.5  # a non-leaf to mutate
        return case.inplace(y) * 2

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    (g_ref,) = torch.autograd.grad(case.ref_inplace(x * 1.5).mul(2).sum(), x)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("fn,name", [(lambda x: F.relu_(x), "relu_"),
                                     (lambda x: F.leaky_relu_(x, 0.1), "leaky_relu_"),
                                     (lambda x: F.elu_(x, 1.0), "elu_"),
                                     (lambda x: F.relu(x, inplace=True), "relu(inplace)")])
def test_inplace_errors_like_torch(fn, name, device):
    leaf = torch.randn(5, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        fn(leaf)
    # Overlapping memory: an expanded tensor.
    with pytest.raises(RuntimeError, match="single memory location"):
        fn(torch.randn(1, device=device).expand(4))
    # Modifying a tensor another op saved for its backward.
    a = torch.randn(5, device=device, requires_grad=True)
    b = a * 1.0
    c = b.exp()  # saves its output c
    fn(c)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


@pytest.mark.parametrize("fn", [lambda x: F.leaky_relu_(x, -0.2), lambda x: F.elu_(x, -0.5)],
                         ids=["leaky_relu_", "elu_"])
def test_inplace_negative_slope_raises_at_backward(fn, device):
    x = torch.randn(6, device=device, requires_grad=True)
    y = fn(x * 1.0)  # forward works, as in torch
    with pytest.raises(RuntimeError, match="negative"):
        y.sum().backward()


def test_inplace_bumps_version_like_torch(device):
    for fn in (F.relu_, lambda t: F.leaky_relu_(t, 0.1), F.elu_):
        x = torch.randn(5, device=device)
        v = x._version
        assert fn(x) is x and x._version == v + 1
        with torch.inference_mode():  # a normal tensor mutated in inference mode: bumped too
            fn(x)
        assert x._version == v + 2
        with torch.inference_mode():
            z = torch.randn(5, device=device)
            fn(z)  # inference tensors have no version counter
        with pytest.raises(RuntimeError, match="inference tensor outside InferenceMode"):
            fn(z)
        y = torch.randn(5, device=device, requires_grad=True) * 1.0  # recorded for backward
        v = y._version
        fn(y)
        assert y._version == v + 1


@pytest.mark.parametrize(
    "fn_cls,args,ref",
    [(ReLUFunction, (), lambda x: torch.relu(x)),
     (LeakyReLUFunction, (0.2,), lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
     (LeakyReLUFunction, (), lambda x: torch.nn.functional.leaky_relu(x)),
     (ELUFunction, (0.7,), lambda x: torch.nn.functional.elu(x, 0.7)),
     (ELUFunction, (), lambda x: torch.nn.functional.elu(x)),
     (GELUFunction, ("tanh",), lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
     (GELUFunction, (), lambda x: torch.nn.functional.gelu(x))],
    ids=["relu", "leaky_relu", "leaky_relu_default", "elu", "elu_default", "gelu_tanh", "gelu"])
def test_autograd_function_classes(fn_cls, args, ref, device):
    x = _away_from_kinks(torch.randn(20, dtype=torch.float64, device=device)).requires_grad_()
    torch.testing.assert_close(fn_cls.apply(x, *args), ref(x))
    assert gradcheck(lambda t: fn_cls.apply(t, *args), (x,))
    assert gradgradcheck(lambda t: fn_cls.apply(t, *args), (x,))


def test_prelu_function_class(device):
    x = _away_from_kinks(torch.randn(4, 3, 5, dtype=torch.float64, device=device)).requires_grad_()
    w = torch.rand(3, dtype=torch.float64, device=device, requires_grad=True)
    torch.testing.assert_close(PReLUFunction.apply(x, w), torch.nn.functional.prelu(x, w))
    assert gradcheck(PReLUFunction.apply, (x, w))
    assert gradgradcheck(PReLUFunction.apply, (x, w))


FORWARD_AD_CASES = [c for c in CASES if c.id in ("relu", "leaky_relu[0.2]", "elu[1.0]",
                                                  "gelu[none]", "gelu[tanh]", "prelu[C]")]


def _x_w(case, device, requires_grad=False):
    x = _away_from_kinks(torch.randn(4, 3, dtype=torch.float64, device=device) * 1.5)
    return x, prelu_weight(case, x)


@pytest.mark.parametrize("case", FORWARD_AD_CASES, ids=repr)
def test_forward_ad_matches_torch(case, device):
    """Forward-mode AD (torch.autograd.forward_ad): the tangent of y is f'(x) * dx (plus
    (x > 0 ? 0 : x) * dw for PReLU's weight), the same as torch's own activation gives."""
    import torch.autograd.forward_ad as fwAD

    x, w = _x_w(case, device)
    dx = torch.randn_like(x)
    dw = torch.randn_like(w) if w is not None else None
    tangents = []
    for fn in (case.ours, case.ref):
        with fwAD.dual_level():
            xd = fwAD.make_dual(x, dx)
            wd = fwAD.make_dual(w, dw) if w is not None else None
            y = fn(xd, wd)
            tangents.append(fwAD.unpack_dual(y).tangent)
    torch.testing.assert_close(tangents[0], tangents[1])


@pytest.mark.parametrize("case", INPLACE_CASES, ids=repr)
def test_forward_ad_inplace(case, device):
    import torch.autograd.forward_ad as fwAD

    x, _ = _x_w(case, device)
    dx = torch.randn_like(x)
    tangents = []
    with fwAD.dual_level():
        xd = fwAD.make_dual(x.clone(), dx.clone())  # the tangent is updated in place
        case.inplace(xd)
        tangents.append(fwAD.unpack_dual(xd).tangent)
        # torch's own in-place forms refuse a negative slope/alpha here (their formula uses
        # the result); ours takes the tangent from the input: compare with the out-of-place.
        tangents.append(fwAD.unpack_dual(case.ref(fwAD.make_dual(x, dx), None)).tangent)
    torch.testing.assert_close(tangents[0], tangents[1])


@pytest.mark.parametrize("case", FORWARD_AD_CASES, ids=repr)
def test_func_transforms(case, device):
    """torch.func: vmap, grad, jvp, jacrev, jacfwd and second derivatives by reverse over
    reverse agree with torch's own activation (grad and jacrev run our autograd nodes inside
    functorch's layers; forward over reverse is tested below)."""
    x, w = _x_w(case, device)
    f_ours = (lambda t: case.ours(t, w))
    f_ref = (lambda t: case.ref(t, w))
    got = torch.func.vmap(lambda t: case.ours(t.unsqueeze(0), w).squeeze(0))(x)
    torch.testing.assert_close(got, case.ref(x, w))
    torch.testing.assert_close(torch.func.grad(lambda t: f_ours(t).sum())(x),
                               torch.func.grad(lambda t: f_ref(t).sum())(x))
    dx = torch.randn_like(x)
    torch.testing.assert_close(torch.func.jvp(f_ours, (x,), (dx,)),
                               torch.func.jvp(f_ref, (x,), (dx,)))
    torch.testing.assert_close(torch.func.jacrev(f_ours)(x), torch.func.jacrev(f_ref)(x))
    torch.testing.assert_close(torch.func.jacfwd(f_ours)(x), torch.func.jacfwd(f_ref)(x))
    xs = x[0]
    g_ours = (lambda t: case.ours(t.unsqueeze(0), w).sum())
    g_ref = (lambda t: case.ref(t.unsqueeze(0), w).sum())
    hess = [torch.func.jacrev(torch.func.jacrev(g))(xs) for g in (g_ours, g_ref)]
    torch.testing.assert_close(hess[0], hess[1])


@pytest.mark.parametrize("case", FORWARD_AD_CASES, ids=repr)
def test_forward_over_reverse(case, device):
    """Forward-mode AD through the backward ops: torch.func.hessian (jacfwd of jacrev) and a
    jvp of the gradient (with PReLU's weight among the primals) match torch's."""
    x, w = _x_w(case, device)
    xs = x[0]
    g_ours = (lambda t: case.ours(t.unsqueeze(0), w).pow(2).sum())
    g_ref = (lambda t: case.ref(t.unsqueeze(0), w).pow(2).sum())
    torch.testing.assert_close(torch.func.hessian(g_ours)(xs), torch.func.hessian(g_ref)(xs))
    if w is not None:
        grads = [torch.func.grad(lambda a, b: f(a, b).pow(2).sum(), argnums=(0, 1))
                 for f in (case.ours, case.ref)]
        dx, dw = torch.randn_like(x), torch.randn_like(w)
        got, want = (torch.func.jvp(g, (x, w), (dx, dw)) for g in grads)
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("case", FORWARD_AD_CASES, ids=repr)
def test_compiled_autograd(case, device):
    """torch.compile with compiled autograd traces our backward nodes: same gradients."""
    x, w = _x_w(case, device)
    model = torch.nn.Linear(3, 3, dtype=torch.float64, device=device)

    def step(t):
        loss = case.ours(model(t), w).pow(2).sum()
        loss.backward()

    step(x)
    want = model.weight.grad.clone()
    model.zero_grad()
    torch._dynamo.reset()
    with torch._dynamo.compiled_autograd._enable(torch.compile(backend="aot_eager")):
        step(x)
    torch.testing.assert_close(model.weight.grad, want)


def test_no_grad_and_requires_grad_false_skip_graph(device):
    x = torch.randn(5, device=device)
    assert F.gelu(x).grad_fn is None
    xg = x.clone().requires_grad_()
    with torch.no_grad():
        assert F.gelu(xg).grad_fn is None
    assert F.gelu(xg).grad_fn is not None


def test_saved_tensors_like_aten(device):
    """What is saved for backward is what ATen saves, so modifying an activation's output
    in place behaves the same: relu saves its output (backward then raises), the others
    their input (backward still works, with the same gradient)."""
    import torch.nn.functional as TF

    pairs = [(lambda t: F.relu(t), lambda t: TF.relu(t), True),
             (lambda t: F.leaky_relu(t, 0.1), lambda t: TF.leaky_relu(t, 0.1), False),
             (lambda t: F.elu(t), lambda t: TF.elu(t), False),
             (lambda t: F.gelu(t), lambda t: TF.gelu(t), False),
             (lambda t: F.prelu(t, torch.full((3,), 0.2, device=device)),
              lambda t: TF.prelu(t, torch.full((3,), 0.2, device=device)), False)]
    for ours, ref, raises in pairs:
        x0 = torch.randn(4, 3, device=device)
        grads = []
        for fn in (ours, ref):
            x = x0.clone().requires_grad_()
            y = fn(x * 1.0)
            y.mul_(2)
            if raises:
                with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                    y.sum().backward()
                continue
            y.sum().backward()
            grads.append(x.grad)
        if not raises:
            torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("case", FORWARD_AD_CASES, ids=repr)
def test_vmap_batching_rules(case, device):
    """vmap runs our batching rules (one call for the whole batch: PyTorch's per-sample
    fallback would warn), for the ops and their backward ops (per-sample gradients)."""
    import warnings

    torch.manual_seed(0)
    x = torch.randn(5, 4, 3, 2, dtype=torch.float64, device=device)
    w = prelu_weight(case, x[0])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*performance drop.*")
        for fn in (lambda c: (lambda t: c(t, w)),
                   lambda c: torch.func.grad(lambda t: c(t, w).pow(2).sum())):
            torch.testing.assert_close(torch.func.vmap(fn(case.ours))(x),
                                       torch.func.vmap(fn(case.ref))(x))
        if w is not None:  # per-sample weights, and per-sample weight gradients
            wb = torch.rand(5, *w.shape, dtype=torch.float64, device=device)
            grad = (lambda c: torch.func.grad(lambda t, v: c(t, v).pow(2).sum(), argnums=(0, 1)))
            got = torch.func.vmap(grad(case.ours))(x, wb)
            torch.testing.assert_close(got, torch.func.vmap(grad(case.ref))(x, wb))
            per_sample = torch.func.vmap(grad(case.ours), in_dims=(0, None))(x, w)
            torch.testing.assert_close(per_sample,
                                       torch.func.vmap(grad(case.ref), in_dims=(0, None))(x, w))
