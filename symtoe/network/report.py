"""Parameter-count reports of torch models: dense-equivalent vs shared weights.

:func:`parameter_report` runs one forward pass with hooks to learn every leaf
layer's input shape, then counts each convolution's matrix in closed form
(:func:`~symtoe.core.counts.count_parameters`).  A ``Linear`` layer is its own
dense matrix.  Other leaf layers (pools, activations, norms) are listed with
their shapes and their own parameters, without matrix counts.

Reconciliation with MAC counters (torchinfo, thop, torch's
``torch.utils.flop_counter.FlopCounterMode``, which reports 2 FLOPs per
multiply-add): they count ``output.numel() * weight[0].numel()`` multiply-adds
per convolution, taps that land on zero padding included.  ``macs`` here
counts only taps that read a real input, so the two agree when no tap meets
padding (e.g. LeNet-5's valid convolutions) and ``macs`` is smaller otherwise.
Under zero padding ``nonzeros == macs``.  thop also adds one operation per
output element of a layer with bias.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields

from ..core.counts import count_parameters

__all__ = ["LayerRow", "ParameterReport", "parameter_report"]

_COUNT_FIELDS = ("shared", "bias", "used", "dense", "nonzeros", "macs")


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer of a report (counts are per sample; ``None`` = not a matrix).

    Attributes
    ----------
    name : str
        Module path (``features.0``); a module called again gets ``(call 2)``.
    kind : str
        The module's class name.
    input_shape, output_shape : tuple of int
        One sample's shapes (no batch).
    shared : int
        Weight parameters (all non-bias parameters of a non-matrix layer).
    bias : int
        Bias parameters.
    used, dense, nonzeros, macs : int or None
        Weights that appear in the matrix, entries of the dense-equivalent
        matrix, structural nonzeros, multiply-adds (bias excluded).
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    shared: int = 0
    bias: int = 0
    used: int | None = None
    dense: int | None = None
    nonzeros: int | None = None
    macs: int | None = None

    @property
    def ratio(self) -> float | None:
        """``dense / shared``: dense-equivalent entries per shared weight."""
        if self.dense is None or not self.shared:
            return None
        return self.dense / self.shared

    @property
    def parameters(self) -> int:
        return self.shared + self.bias


@dataclass(frozen=True)
class ParameterReport:
    """Per-layer counts of a model (see :func:`parameter_report`).

    ``totals`` sums the counts over rows, except that the parameters of a
    module called several times are counted once.
    """

    input_size: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    model: str = ""
    totals: dict = field(init=False, compare=False)

    def __post_init__(self):
        seen, totals = set(), dict.fromkeys(_COUNT_FIELDS, 0)
        for row in self.rows:
            base = row.name.split(" (call")[0]
            for key in _COUNT_FIELDS:
                value = getattr(row, key)
                if key in ("shared", "bias") and base in seen:
                    continue
                totals[key] += value or 0
            seen.add(base)
        totals["parameters"] = totals["shared"] + totals["bias"]
        object.__setattr__(self, "totals", totals)

    # ---------------------------------------------------------------- cells
    _HEAD = ("name", "kind", "input", "output", "shared", "bias", "used", "dense",
             "nonzeros", "dense/shared", "MACs")

    def _cells(self, number=lambda v: f"{v:,}") -> list[list[str]]:
        def fmt(v):
            return "" if v is None else number(v)

        def shape(s):
            return "x".join(map(str, s))

        rows = [
            [row.name, row.kind, shape(row.input_shape), shape(row.output_shape),
             fmt(row.shared) if row.shared else "", fmt(row.bias) if row.bias else "",
             fmt(row.used), fmt(row.dense), fmt(row.nonzeros),
             "" if row.ratio is None else f"{row.ratio:,.1f}", fmt(row.macs)]
            for row in self.rows
        ]
        t = self.totals
        ratio = t["dense"] / t["shared"] if t["shared"] else None
        rows.append(["total", "", shape(self.input_size), "", fmt(t["shared"]), fmt(t["bias"]),
                     fmt(t["used"]), fmt(t["dense"]), fmt(t["nonzeros"]),
                     "" if ratio is None else f"{ratio:,.1f}", fmt(t["macs"])])
        return rows

    def __str__(self) -> str:
        cells = [list(self._HEAD), *self._cells()]
        widths = [max(len(r[c]) for r in cells) for c in range(len(self._HEAD))]
        right = set(range(4, len(self._HEAD)))

        def line(r):
            return "  ".join(
                v.rjust(w) if c in right else v.ljust(w)
                for c, (v, w) in enumerate(zip(r, widths, strict=False))
            ).rstrip()

        rule = "-" * len(line(cells[0]))
        title = f"{self.model or 'model'}: input {self.input_size}, " \
                f"{self.totals['parameters']:,} parameters"
        return "\n".join([title, line(cells[0]), rule, *map(line, cells[1:-1]), rule,
                          line(cells[-1])])

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table (totals in the last row)."""
        def esc(v):
            return v.replace("|", r"\|")

        cells = self._cells()
        cells[-1] = [f"**{v}**" if v else "" for v in cells[-1]]
        lines = ["| " + " | ".join(self._HEAD) + " |",
                 "|" + "|".join([":---"] * 4 + ["---:"] * (len(self._HEAD) - 4)) + "|"]
        lines += ["| " + " | ".join(esc(v) for v in r) + " |" for r in cells]
        return "\n".join(lines)

    def to_latex(self) -> str:
        r"""A LaTeX ``tabular`` (no packages needed; numbers with ``{,}``)."""
        def esc(v):
            for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"),
                         ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
                v = v.replace(a, b)
            return v

        cells = self._cells(lambda v: f"{v:,}".replace(",", "{,}"))
        for r in cells:
            r[9] = r[9].replace(",", "{,}")
        for r in cells:
            r[:2] = map(esc, r[:2])
            r[2:4] = (v.replace("x", r"$\times$") for v in r[2:4])
        head = list(self._HEAD)
        spec = "ll" + "r" * (len(head) - 2)
        body = [" & ".join(r) + r" \\" for r in cells]
        return "\n".join([
            rf"\begin{{tabular}}{{{spec}}}", r"\hline",
            " & ".join(head) + r" \\", r"\hline", *body[:-1], r"\hline", body[-1],
            r"\hline", r"\end{tabular}",
        ])

    def to_csv(self) -> str:
        """CSV with one line per row (shapes as ``1x32x32``, empty = not a matrix)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [f.name for f in fields(LayerRow)]
        writer.writerow([*names, "ratio"])
        for row in self.rows:
            values = asdict(row)
            values["input_shape"] = "x".join(map(str, row.input_shape))
            values["output_shape"] = "x".join(map(str, row.output_shape))
            writer.writerow([*("" if values[n] is None else values[n] for n in names),
                             "" if row.ratio is None else row.ratio])
        return out.getvalue()

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "rows": [asdict(row) | {"ratio": row.ratio} for row in self.rows],
            "totals": dict(self.totals),
        }

    def to_json(self, **kwargs) -> str:
        """JSON text; :meth:`from_json` reads it back into an equal report."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> ParameterReport:
        """The report :meth:`to_json` wrote."""
        data = json.loads(text)
        names = {f.name for f in fields(LayerRow)}
        rows = []
        for r in data["rows"]:
            r = {k: v for k, v in r.items() if k in names}
            r["input_shape"] = tuple(r["input_shape"])
            r["output_shape"] = tuple(r["output_shape"])
            rows.append(LayerRow(**r))
        return cls(tuple(data["input_size"]), tuple(rows), data.get("model", ""))


def _shape(value):
    """One sample's shape of a tensor, or of the first tensor in a structure."""
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    if isinstance(value, (tuple, list)):
        for v in value:
            shape = _shape(v)
            if shape is not None:
                return shape
    if isinstance(value, dict):
        return _shape(list(value.values()))
    return None


def _row(name: str, module, in_shape, out_shape) -> LayerRow:
    from torch import nn

    from ..core.spec import ConvSpec

    kind = type(module).__name__
    if isinstance(module, nn.modules.conv._ConvNd):
        spec = ConvSpec.from_module(module, in_shape[1:])
        if spec.output_size != tuple(out_shape[1:]):  # ConvTranspose(output_size=...)
            raise ValueError(
                f"layer {name} must produce the output size of its ConvSpec "
                f"{spec.output_size}, but produced {tuple(out_shape[1:])}"
            )
        c = count_parameters(spec)
        return LayerRow(name, kind, in_shape, out_shape, c.shared, c.bias, c.used, c.dense,
                        c.nonzeros, c.macs)
    if isinstance(module, nn.Linear):
        w = module.in_features * module.out_features
        repeat = math.prod(in_shape[:-1])  # Linear on (..., features) repeats per position
        return LayerRow(name, kind, in_shape, out_shape, w,
                        module.out_features if module.bias is not None else 0,
                        w, w * repeat * repeat, w * repeat, w * repeat)
    bias = sum(p.numel() for n, p in module.named_parameters(recurse=False) if n == "bias")
    total = sum(p.numel() for p in module.parameters(recurse=False))
    return LayerRow(name, kind, in_shape, out_shape, total - bias, bias)


def parameter_report(model, input_size, *, name: str = "") -> ParameterReport:
    """Dense-equivalent vs shared parameter counts of every layer of a model.

    Parameters
    ----------
    model : torch.nn.Module
        Run once on ``torch.zeros(1, *input_size)`` in eval mode (its training
        flags are restored; nothing is learned) with forward hooks on every
        leaf module.
    input_size : tuple of int
        One sample's shape without batch, e.g. ``(3, 32, 32)``.
    name : str
        A title for the report (default: the model's class name).

    Returns
    -------
    ParameterReport
        One :class:`LayerRow` per leaf-module call, in execution order, and
        totals.  For a convolution (its matrix, :class:`~symtoe.core.spec.ConvSpec`
        via ``from_module``): ``shared = weight.numel()``, ``dense = rows *
        cols``, ``nonzeros``, ``macs`` of :func:`~symtoe.core.counts.count_parameters`.
        For ``Linear`` on ``(..., in)``: the dense ``in x out`` matrix per
        position.  ``sum(shared + bias)`` over modules equals
        ``sum(p.numel() for p in model.parameters())`` when every parameter
        sits in a leaf module.

    Examples
    --------
    >>> from torch import nn
    >>> report = parameter_report(nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU()), (1, 6))
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    Sequential: input (1, 6), 8 parameters
    name   kind    input  output  shared  bias  used  dense  nonzeros  dense/shared  MACs
    -------------------------------------------------------------------------------------
    0      Conv1d  1x6    2x4          6     2     6     48        24           8.0    24
    1      ReLU    2x4    2x4
    -------------------------------------------------------------------------------------
    total          1x6                 6     2     6     48        24           8.0    24
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, but got {type(model).__name__}")
    if isinstance(input_size, int) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size
    ):
        raise ValueError(
            "input_size must be one sample's shape without batch, a tuple of positive ints "
            f"such as (3, 32, 32), but got {input_size!r}"
        )
    input_size = tuple(input_size)
    calls, handles = [], []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook(module_name):
        def record(module, inputs, output):
            calls.append((module_name, module, _shape(inputs), _shape(output)))
        return record

    for module_name, module in leaves:
        handles.append(module.register_forward_hook(hook(module_name or type(module).__name__)))
    parameter = next(model.parameters(), None)
    example = torch.zeros(
        1, *input_size,
        dtype=parameter.dtype if parameter is not None else torch.float32,
        device=parameter.device if parameter is not None else "cpu",
    )
    training = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(
            f"input_size {input_size} must fit the model, but its forward pass failed: "
            f"{str(error).splitlines()[0]}"
        ) from None
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(model.modules(), training, strict=False):
            m.training = flag

    rows, times = [], {}
    for module_name, module, in_shape, out_shape in calls:
        times[module_name] = times.get(module_name, 0) + 1
        label = module_name if times[module_name] == 1 else \
            f"{module_name} (call {times[module_name]})"
        rows.append(_row(label, module, in_shape or (), out_shape or ()))
    return ParameterReport(input_size, tuple(rows), name or type(model).__name__)
