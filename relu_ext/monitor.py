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
transformer's (B, T, C). A LinearAct (``convert(model, fuse_bias=True)`` makes them) is
watched as well: its units are its output features (the last dim), counted on product + bias.
"""
import functools

import torch
from torch import nn

from . import _C, modules
from ._other_inputs import is_dtensor, plain_layout
from .convert import _check_model
from .functional import _bias_act_args, _traced_op

# act_stats: _C's entry point (csrc/python.cpp), or under torch.compile its OpOverload (for
# a DTensor, the op on the local shards).
_act_stats_traced = _traced_op("act_stats")


def _act_stats(*args):
    return (_act_stats_traced if torch.compiler.is_dynamo_compiling() else _C.act_stats)(*args)

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


# type -> module -> (activation, param, weight, inplace) for act_stats: the types watched
_SPECS = {}
for _types, _spec_of in (
        ((nn.ReLU, modules.ReLU), lambda m: ("relu", 0.0, None, m.inplace)),
        ((nn.LeakyReLU, modules.LeakyReLU),
         lambda m: ("leaky_relu", float(m.negative_slope), None, m.inplace)),
        ((nn.PReLU, modules.PReLU), lambda m: ("prelu", 0.0, m.weight, False)),
        ((nn.ELU, modules.ELU), lambda m: ("elu", float(m.alpha), None, m.inplace)),
        ((nn.GELU, modules.GELU),
         lambda m: ("gelu_tanh" if m.approximate == "tanh" else "gelu", 0.0, None, False))):
    _SPECS.update(dict.fromkeys(_types, _spec_of))
del _types, _spec_of
# and LinearAct (the fused bias + activation of convert(fuse_bias=True)): its own path
_WATCHED = (*_SPECS, modules.LinearAct)


def _watched_class(module):
    """The watched class whose forward `module` runs: its own class, or a base of a class made
    around it (FSDP2's fully_shard makes FSDPPReLU); None for a subclass with its own forward
    (it computes something else)."""
    for cls in type(module).__mro__:
        if cls in _WATCHED:
            return cls if type(module).forward is cls.forward else None
    return None


def _monitor_of(module):
    """The DeadUnitMonitor whose counting forward `module` runs now, or None."""
    owner = getattr(getattr(module.__dict__.get("forward"), "func", None), "__self__", None)
    return owner if isinstance(owner, DeadUnitMonitor) else None


class DeadUnitMonitor:
    """Counts, per channel of every ReLU-family module of ``model`` (torch.nn's and
    relu_ext's ReLU, LeakyReLU, PReLU, ELU, GELU; relu_ext's LinearAct per output feature),
    how many inputs were in the active regime (x > 0) and how many were seen, while enabled
    (``with`` block, or :meth:`start` / :meth:`stop`). Counts accumulate over every forward
    call until :meth:`reset`."""

    def __init__(self, model: nn.Module, channel_dim=None):
        _check_model("DeadUnitMonitor", model)
        if channel_dim is not None and not isinstance(channel_dim, int):
            raise TypeError(f"DeadUnitMonitor: channel_dim must be an int or None, "
                            f"got {type(channel_dim).__name__}")
        self.model = model
        self.channel_dim = channel_dim
        self._classes = {name: cls for name, cls in
                         ((name, _watched_class(m)) for name, m in model.named_modules())
                         if cls is not None}
        self._watched = [(name, m) for name, m in model.named_modules() if name in self._classes]
        # the counts of eager calls, in C++ (csrc/python.cpp); those of calls traced by
        # torch.compile in _fired and _seen
        self._counters = {name: _C.ActCounter(channel_dim) for name, _ in self._watched}
        self._fired = {}
        self._seen = {}
        self._saved = {}

    # ------------------------------------------------------------------ enabling --
    def start(self):
        for name, m in self._watched:  # all checked before any is watched
            owner = _monitor_of(m)
            if owner is not None and owner is not self:
                raise RuntimeError(f"DeadUnitMonitor: {name or 'the model'} is watched by another "
                                   f"DeadUnitMonitor already; stop that one first (a module is "
                                   f"watched by one monitor at a time)")
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
        for counter in self._counters.values():
            counter.reset()
        self._fired.clear()
        self._seen.clear()

    # ------------------------------------------------------------------ counting --
    def _forward(self, name, module, input):
        if self._classes[name] is modules.LinearAct:
            return self._forward_linear_act(name, module, input)
        activation, param, weight, inplace = _SPECS[self._classes[name]](module)
        compiling = torch.compiler.is_dynamo_compiling()
        if not (inplace or compiling):
            # the common case in one C++ call; None where this path below must take it
            y = self._counters[name].step(input, weight, activation, param)
            if y is not None:
                return y
        if input.dim() == 0:
            raise ValueError(f"DeadUnitMonitor: {name or 'the model'} got a 0-dim input; "
                             f"channels need at least 1 dimension")
        dim = self.channel_dim if self.channel_dim is not None else (1 if input.dim() >= 2 else 0)
        if not -input.dim() <= dim < input.dim():
            raise IndexError(f"DeadUnitMonitor: channel_dim={dim} is out of range for the "
                             f"{input.dim()}-dim input of {name or 'the model'}")
        dim %= input.dim()
        plain = plain_layout(input)
        fused = (plain and input.dtype in _FLOATS and not inplace
                 and (weight is None or weight.numel() == 1 or dim == 1)
                 and (input.device.type == "cpu" or torch.cuda.is_available()))
        if fused:
            y, fired = _act_stats(input, weight, dim, activation, param, None)
        else:  # in place, or inputs relu_ext does not take: torch's forward, then a count
            if input.is_nested:
                raise TypeError(f"DeadUnitMonitor: {name or 'the model'} got a nested tensor; "
                                f"its channels cannot be counted")
            # sparse, quantized, MKL-DNN: counted on a dense copy; counted before the forward,
            # which may overwrite the input
            counted = input if plain else (
                input.dequantize() if input.is_quantized else input.to_dense())
            positive = counted > 0
            y = type(module).forward(module, input)
            fired = positive.movedim(dim, 0).reshape(counted.shape[dim], -1).sum(1)
        self._record(name, dim, fired.detach(), input.numel() // max(1, input.shape[dim]))
        return y

    def _forward_linear_act(self, name, module, input):
        """A LinearAct's forward with, per output feature (its units: the last dim, whatever
        channel_dim says), the count of product + bias > 0: its matrix product, then act_stats
        with the bias, which computes bias_act's values (and its autograd: the fused backward)
        and counts the sum in the same pass (rounded to float, or double, it has the exact
        sum's sign)."""
        product = nn.functional.linear(input, module.weight)
        activation, param, weight = _bias_act_args(module.activation, module._act_kwargs())
        y, fired = _act_stats(product, weight, -1, activation, param, module._bias())
        self._record(name, -1, fired, product.numel() // max(1, product.shape[-1]))
        return y

    def _record(self, name, dim, fired, seen):
        """Adds one call's counts (fired per channel, seen per channel) to name's."""
        if torch.compiler.is_dynamo_compiling():
            if name in self._fired:
                self._check_channels(name, dim, fired, self._fired[name])
                self._fired[name] += fired
                self._seen[name] += seen
            else:
                self._fired[name] = fired.clone()
                self._seen[name] = seen
        else:
            counter = self._counters[name]
            self._check_channels(name, dim, fired, counter.fired)
            counter.add(fired, seen)

    @staticmethod
    def _check_channels(name, dim, fired, before):
        if before is not None and before.numel() != fired.numel():
            raise ValueError(f"DeadUnitMonitor: {name or 'the model'} saw {fired.numel()} "
                             f"channels (dim {dim}) after {before.numel()}; pass channel_dim=")

    # ------------------------------------------------------------------- results --
    def counts(self):
        """{module name: (fired, seen)}: per-channel counts of inputs with x > 0 (int64
        tensor on the CPU, a copy: later calls do not change it) and the number of inputs
        each channel saw, for modules that ran. With DTensor activations (tensor parallelism)
        the counts are over all ranks: every rank must call it (and dead_units, report...)."""
        out = {}
        for name, counter in self._counters.items():
            parts = [(counter.fired, counter.seen)] if counter.fired is not None else []
            if name in self._fired:  # calls traced by torch.compile
                parts.append((self._fired[name], self._seen[name]))
            if not parts:
                continue
            fired = _whole(parts[0][0]).cpu().clone()  # a copy: later counts do not change it
            for more, _ in parts[1:]:
                more = _whole(more)
                if more.numel() != fired.numel():
                    raise ValueError(f"DeadUnitMonitor: {name or 'the model'} saw "
                                     f"{fired.numel()} channels in eager calls and "
                                     f"{more.numel()} in compiled ones; pass channel_dim=")
                fired += more.cpu()
            out[name] = (fired, sum(seen for _, seen in parts))
        return out

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
        dead_units, inactive = self.dead_units(), self.inactive_fraction()
        for name, m in self._watched:
            if name not in dead_units:
                rows.append((name or "(model)", type(m).__name__, "not run", "", ""))
                continue
            dead = dead_units[name]
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

        dead = self.dead_units()
        names = list(dead)
        if not names:
            raise RuntimeError("DeadUnitMonitor.plot: no activation has run while enabled")
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


def _whole(counts):
    """The counts over all ranks for a DTensor's (each rank's shard or partial sum)."""
    return counts.full_tensor() if is_dtensor(counts) else counts
