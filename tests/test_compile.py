"""torch.compile(fullgraph=True) of a model using every module, forward and backward."""
import copy

import pytest
import torch
from torch import nn

import relu_ext


class AllActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.acts = nn.Sequential(
            relu_ext.GELU(), relu_ext.GELU(approximate="tanh"), relu_ext.PReLU(8, init=0.1),
            relu_ext.LeakyReLU(0.2), relu_ext.ELU(0.7), relu_ext.PReLU(), relu_ext.ReLU(),
        )
        # In-place activations, each on a fresh Linear output (a chain of in-place ops
        # on one tensor fails at backward in torch too: each saves its output).
        self.tail = nn.Sequential(
            nn.Linear(8, 8), relu_ext.ELU(inplace=True), nn.Linear(8, 8),
            relu_ext.LeakyReLU(inplace=True), nn.Linear(8, 8), relu_ext.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.tail(self.acts(self.lin(x)))


def _run(model, x):
    x = x.clone().requires_grad_()
    y = model(x)
    y.pow(2).sum().backward()
    return y, x.grad, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("backend,dynamic", [("inductor", False), ("aot_eager", True)])
def test_compile_fullgraph_forward_backward(backend, dynamic, device):
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = AllActivations().to(device)
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, fullgraph=True, backend=backend, dynamic=dynamic)
    for batch in (5, 7):
        x = torch.randn(batch, 8, device=device)
        y, gx, gp = _run(eager, x)
        y_c, gx_c, gp_c = _run(compiled, x)
        torch.testing.assert_close(y_c, y)
        torch.testing.assert_close(gx_c, gx)
        for a, b in zip(gp_c, gp):
            torch.testing.assert_close(a, b)
        eager.zero_grad()
        compiled_model.zero_grad()


def test_no_graph_breaks(device):
    torch._dynamo.reset()
    model = AllActivations().to(device)
    explanation = torch._dynamo.explain(model)(torch.randn(3, 8, device=device))
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


def test_inductor_finds_this_cpus_vector_instructions():
    """The suite's lighter Inductor probe (tests/inductor_probe.py, on torch < 2.13) still
    finds the instruction sets this CPU has: Inductor's CPU code stays vectorized."""
    import platform

    from torch._inductor.cpu_vec_isa import pick_vec_isa, valid_vec_isa_list

    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine() != "x86_64" or capability not in ("AVX2", "AVX512"):
        pytest.skip(f"checks x86 vector instruction sets; this CPU: {capability}")
    widths = {isa.bit_width() for isa in valid_vec_isa_list()}
    assert 256 in widths and (capability == "AVX2" or 512 in widths), widths
    assert pick_vec_isa().bit_width() == (512 if capability == "AVX512" else 256)
