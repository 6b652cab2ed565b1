"""Dead-unit diagnostics for the dying-ReLU problem: which channels of which activation
never fire (never see an input in their active regime, x > 0) on the data seen.

    with relu_ext.DeadUnitMonitor(model) as mon:
        for batch in loader:
            model(batch)
    print(mon.report())
    mon.dead_units()     # {"layers.3": tensor([False, True, ...]), ...}
    mon.plot("dead.png")

The counting runs inside relu_ext's forward kernel (op ``act_stats``: the activation and the
per-channel count of x > 0 in one pass); outside the ``with`` block the modules are exactly
as before (no cost). Channels: dim 1 of (N, C, ...) inputs, which for 2-D (N, C) inputs
(after nn.Linear) is the last dim; ``channel_dim=-1`` for (..., C) inputs such as a
transformer's (B, T, C).
"""
import functools

import torch
from torch import nn

from . import _C, modules

# act_stats: _C's entry point (csrc/python.cpp), or under torch.compile its OpOverload.
_act_stats_traced = torch.ops.relu_ext.act_stats.default
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _spec(m):
    """(activation, param, weight) for act_stats, or None for types not watched."""
    t = type(m)
    if t in (nn.ReLU, modules.ReLU):
        return "relu", 0.0, None
    if t in (nn.LeakyReLU, modules.LeakyReLU):
        return "leaky_relu", float(m.negative_slope), None
    if t in (nn.PReLU, modules.PReLU):
        return "prelu", 0.0, m.weight
    if t in (nn.ELU, modules.ELU):
        return "elu", float(m.alpha), None
    if t in (nn.GELU, modules.GELU):
        return ("gelu_tanh" if m.approximate == "tanh" else "gelu"), 0.0, None
    return None


class DeadUnitMonitor:
    """Counts, per channel of every ReLU-family module of ``model`` (torch.nn's and
    relu_ext's ReLU, LeakyReLU, PReLU, ELU, GELU), how many inputs were in the active regime
    (x > 0) and how many were seen, while enabled (``with`` block, or :meth:`start` /
    :meth:`stop`). Counts accumulate over every forward call until :meth:`reset`."""

    def __init__(self, model: nn.Module, channel_dim=None):
        self.model = model
        self.channel_dim = channel_dim
        self._watched = [(name, m) for name, m in model.named_modules() if _spec(m) is not None]
        self._fired = {}
        self._seen = {}
        self._saved = {}

    # ------------------------------------------------------------------ enabling --
    def start(self):
        for name, m in self._watched:
            if name in self._saved:
                continue
            self._saved[name] = m.__dict__.get("forward")
            m.forward = functools.partial(self._forward, name, m)
        return self

    def stop(self):
        for name, m in self._watched:
            if name not in self._saved:
                continue
            previous = self._saved.pop(name)
            if previous is None:
                del m.__dict__["forward"]
            else:
                m.forward = previous

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        self._fired.clear()
        self._seen.clear()

    # ------------------------------------------------------------------ counting --
    def _dim(self, x):
        return self.channel_dim if self.channel_dim is not None else (1 if x.dim() >= 2 else 0)

    def _forward(self, name, module, input):
        activation, param, weight = _spec(module)
        if input.dim() == 0:
            raise ValueError(f"DeadUnitMonitor: {name or 'the model'} got a 0-dim input; "
                             f"channels need at least 1 dimension")
        dim = self._dim(input) % input.dim()
        fused = (input.dtype in _FLOATS and not getattr(module, "inplace", False)
                 and (weight is None or weight.numel() == 1 or dim == 1)
                 and (input.device.type == "cpu" or torch.cuda.is_available()))
        if fused:
            act_stats = (_act_stats_traced if torch.compiler.is_dynamo_compiling()
                         else _C.act_stats)
            y, fired = act_stats(input, weight, dim, activation, param)
        else:  # in place, or inputs relu_ext does not take: torch's forward, then a count
            y = type(module).forward(module, input)
            positive = (y > 0) if getattr(module, "inplace", False) else (input > 0)
            fired = positive.movedim(dim, 0).reshape(input.shape[dim], -1).sum(1)
        fired = fired.detach()
        if name in self._fired:
            if self._fired[name].numel() != fired.numel():
                raise ValueError(f"DeadUnitMonitor: {name or 'the model'} saw "
                                 f"{fired.numel()} channels (dim {dim}) after "
                                 f"{self._fired[name].numel()}; pass channel_dim=")
            self._fired[name] += fired
            self._seen[name] += input.numel() // max(1, input.shape[dim])
        else:
            self._fired[name] = fired.clone()
            self._seen[name] = input.numel() // max(1, input.shape[dim])
        return y

    # ------------------------------------------------------------------- results --
    def counts(self):
        """{module name: (fired, seen)}: per-channel counts of inputs with x > 0 (int64
        tensor) and the number of inputs each channel saw, for modules that ran."""
        return {name: (self._fired[name].cpu(), self._seen[name]) for name in self._fired}

    def dead_units(self):
        """{module name: bool tensor, one entry per channel, True where the unit never fired
        on any input seen}."""
        return {name: fired == 0 for name, (fired, _) in self.counts().items()}

    def inactive_fraction(self):
        """{module name: per-channel fraction of inputs in the zero / negative regime}."""
        return {name: 1 - fired.double() / max(seen, 1)
                for name, (fired, seen) in self.counts().items()}

    def report(self) -> str:
        """A per-layer table: dead channels / channels, the fraction dead, and the mean
        fraction of inputs in the inactive regime."""
        rows = [("layer", "type", "dead / total", "dead", "inactive inputs")]
        inactive = self.inactive_fraction()
        for name, m in self._watched:
            if name not in self._fired:
                rows.append((name or "(model)", type(m).__name__, "not run", "", ""))
                continue
            dead = self.dead_units()[name]
            rows.append((name or "(model)", type(m).__name__,
                         f"{int(dead.sum())} / {dead.numel()}",
                         f"{dead.double().mean().item():.1%}",
                         f"{inactive[name].mean().item():.1%}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def plot(self, path):
        """A PNG at ``path``: per layer, the fraction of dead channels and the per-channel
        inactive fractions (needs matplotlib)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(self._fired)
        if not names:
            raise RuntimeError("DeadUnitMonitor.plot: no activation has run while enabled")
        dead = self.dead_units()
        inactive = self.inactive_fraction()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 2))
        ax1.barh(names, [dead[n].double().mean().item() for n in names], color="tab:red")
        ax1.set_xlim(0, 1)
        ax1.set_xlabel("fraction of channels dead (never fired)")
        ax1.invert_yaxis()
        for i, n in enumerate(names):  # one dot per channel
            ax2.scatter(inactive[n].numpy(), [i] * inactive[n].numel(), s=10, alpha=0.6)
        ax2.set_yticks(range(len(names)), names)
        ax2.set_xlim(-0.02, 1.02)
        ax2.set_xlabel("per-channel fraction of inputs in the inactive regime")
        ax2.invert_yaxis()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
