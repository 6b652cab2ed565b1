"""Long runs: no memory growth over thousands of steps; concurrent calls from several Python
threads give the single-threaded results bit for bit."""
import threading

import pytest
import torch

import relu_ext

MODULES = {
    "relu": lambda: relu_ext.ReLU(), "leaky_relu": lambda: relu_ext.LeakyReLU(0.2),
    "prelu": lambda: relu_ext.PReLU(8), "elu": lambda: relu_ext.ELU(),
    "gelu": lambda: relu_ext.GELU(), "gelu_tanh": lambda: relu_ext.GELU("tanh"),
    "relu_inplace": lambda: relu_ext.ReLU(inplace=True),
}


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _step(module, x):
    xr = x.clone().requires_grad_()
    y = module(xr * 1.0)  # a non-leaf, so the in-place module may overwrite it
    y.sum().backward()
    return y.detach(), xr.grad, [p.grad for p in module.parameters()]


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"),
                    reason="needs /proc (Linux) to read the resident set size")
def test_no_leak_over_thousands_of_steps():
    torch.manual_seed(0)
    x = torch.randn(16, 8, 32)  # 16 KiB: one leaked tensor per step is 80 MiB below
    modules = [make() for make in MODULES.values()]
    for _ in range(200):  # warm-up: allocator caches, lazy initialisation
        for m in modules:
            _step(m, x)
    before = _rss_bytes()
    for _ in range(5000):
        for m in modules:
            _step(m, x)
    growth = _rss_bytes() - before
    assert growth < 16 << 20, f"resident memory grew by {growth / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", MODULES)
def test_concurrent_threads_bitwise(name):
    torch.manual_seed(0)
    x = torch.randn(64, 8, 257)
    module = MODULES[name]()
    want = _step(module, x)
    results, errors = [], []

    def work():
        try:
            for _ in range(10):
                m = MODULES[name]()
                m.load_state_dict(module.state_dict())
                results.append(_step(m, x))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 40
    for y, gx, gp in results:
        assert torch.equal(y, want[0]) and torch.equal(gx, want[1])
        assert all(torch.equal(a, b) for a, b in zip(gp, want[2]))
