r"""Parameter and multiply-add reports of torch models, read from the model trace.

:func:`parameter_report` reads one :func:`~symtoe.network.trace.trace_model`
run and accounts for every parameter tensor exactly once and every
multiply-add of every recorded op, in two conventions.

Rows
----
* One row per **module call** of every leaf module that ran, and of every
  module that ran a layer op itself (a convolution, matmul, attention,
  embedding or norm called as a function in its ``forward``).  A module
  called N times gives N rows, ``name (call k of N)``: its parameters are
  counted in call 1, its MACs in every call.
* One row of kind ``"parameter"`` per parameter tensor that no such row read
  (an ``nn.Parameter`` used in ``forward`` arithmetic such as a class token, a
  position embedding or a layer scale; the parameters of a head that did not
  run), named by its qualified name, with a note saying what read it.

Parameters are counted in the row of the first call of a module that holds
them (tied tensors: the first module that ran; the rows of the others say
where).  So ``totals["parameters"] == sum(p.numel() for p in
model.parameters())`` for every model.

Counts per row
--------------
``shared`` / ``bias``
    parameters counted in this row (``bias``: tensors named ``bias`` or
    ``*_bias``).
``macs``
    multiply-adds whose input is a real input value: for a convolution
    ``count_parameters(spec).macs`` (taps on zero padding do not count; under
    reflect / replicate / circular padding every tap reads a real value, so
    ``macs`` exceeds the matrix's nonzeros where taps fold onto one entry).
``macs_padded``
    every tap, padding included: the convention of
    ``torch.utils.flop_counter.FlopCounterMode`` (``get_total_flops() / 2``),
    fvcore and ptflops.
``dense``, ``nonzeros``, ``used``
    for kinds with a matrix: convolutions (:class:`~symtoe.core.spec.ConvSpec`),
    ``Linear`` (per position: a block-diagonal matrix) and average pooling (a
    fixed-weight depthwise convolution): entries of the dense-equivalent
    matrix, its structural nonzeros, and the weights that appear in it.

What counts as a multiply-add (as FlopCounterMode): convolutions, transposed
convolutions, ``mm``, ``addmm``, ``bmm``, ``baddbmm`` (``Linear``, ``matmul``
and ``einsum`` reach the dispatcher as these), and ``mv`` / ``dot``
(FlopCounterMode counts none for these two).  The attention core
``softmax(Q K^T) V`` counts as its two matmuls, ``2 * L_q * L_k * d`` per
sample summed over heads, whatever kernel runs: on this CPU the fused kernels
``_scaled_dot_product_flash_attention_for_cpu`` (``F.scaled_dot_product_attention``)
and ``_native_multi_head_attention`` (``nn.MultiheadAttention`` in eval mode)
count **0** in FlopCounterMode, so symtoe's total is FlopCounterMode's plus
those (and the projections the second one runs inside).  Pooling,
normalisation, embedding lookups and elementwise ops are 0 MACs.  An op
symtoe does not know is counted as 0 with a warning.

Worked example: ``Conv2d(64, 64, 3, padding=1)`` on 56x56.  Every output
meets 64 * 9 taps: ``macs_padded = 64 * 56 * 56 * 64 * 9 = 115,605,504``.  Per
axis 2 of the 56 * 3 (output, tap) pairs read padding, so ``macs = 64 * 64 *
(166 * 166) = 112,869,376``.  Other tools: FlopCounterMode and fvcore give
``macs_padded`` (as 2x FLOPs for FlopCounterMode); torchinfo 1.8.0 and thop
add one operation per biased output (LeNet-5: 423,038 against 416,520) and
overcount ``ConvTranspose`` by ``stride**2``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, fields

from ..core.counts import count_parameters

__all__ = ["LayerRow", "ParameterReport", "parameter_report"]

_SUMMED = ("shared", "bias", "dense", "nonzeros", "macs", "macs_padded")
#: Fact kinds whose ops make their module a row and claim the parameters they read.
_LAYER_KINDS = ("conv", "matmul", "attention", "embedding", "norm")


@dataclass(frozen=True)
class LayerRow:
    """One row of a report (see the module docstring for each count).

    Attributes
    ----------
    name : str
        Module path (``layer1.0.conv1``), ``name (call k of N)`` for a module
        called N > 1 times, or a parameter's qualified name (kind ``"parameter"``).
    kind : str
        The module's class name, or ``"parameter"``.
    input_shape, output_shape : tuple of int
        Shapes without the batch axis (a parameter row: its shape as output).
    shared, bias : int
        Parameters counted in this row (each tensor is counted in one row).
    used, dense, nonzeros : int or None
        Weights appearing in the matrix, entries of the dense-equivalent
        matrix, its structural nonzeros; ``None`` for kinds without a matrix.
    macs, macs_padded : int
        Multiply-adds: taps on real inputs / every tap (FlopCounterMode).
    weights : int or None
        Weights of the row's matrix wherever they are counted (a tied or
        repeated layer reads weights counted in another row): ``ratio``'s
        denominator.
    module : str
        The module's qualified name (a parameter row: the module holding it).
    depth : int
        Nesting depth of ``module`` (1 for the model's children).
    note : str
        Where tied or repeated parameters are counted, what read a parameter.
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
    macs: int = 0
    macs_padded: int = 0
    weights: int | None = None
    module: str = ""
    depth: int = 0
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``dense / weights``: dense-equivalent entries per shared weight."""
        if self.dense is None or not self.weights:
            return None
        return self.dense / self.weights

    @property
    def parameters(self) -> int:
        """``shared + bias``: the parameters counted in this row."""
        return self.shared + self.bias


_MACS = {"both": ("macs", "macs_padded"), "real": ("macs",), "padded": ("macs_padded",)}


@dataclass(frozen=True)
class ParameterReport:
    """Per-row counts of a model (see :func:`parameter_report`).

    ``totals`` sums ``shared``, ``bias``, ``dense``, ``nonzeros``, ``macs`` and
    ``macs_padded`` over the rows; ``parameters = shared + bias``; ``used``
    sums the rows that count their weights (not a second call, not a tied copy).
    """

    input_size: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    model: str = ""
    totals: dict = field(init=False, compare=False)

    def __post_init__(self):
        totals = {key: sum(getattr(r, key) or 0 for r in self.rows) for key in _SUMMED}
        totals["used"] = sum(r.used for r in self.rows if r.shared and r.used is not None)
        totals["parameters"] = totals["shared"] + totals["bias"]
        object.__setattr__(self, "totals", totals)

    # ------------------------------------------------------------ selections
    def filter(self, kind=None, *, max_depth: int | None = None) -> ParameterReport:
        """The rows of the given kind(s) (a name or a collection of names) and
        at most ``max_depth`` deep; totals are those of the rows kept.

        >>> from torch import nn
        >>> report = parameter_report(nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU()), (1, 6))
        >>> [r.name for r in report.filter("Conv1d").rows]
        ['0']
        """
        kinds = {kind} if isinstance(kind, str) else None if kind is None else set(kind)
        rows = tuple(r for r in self.rows if (kinds is None or r.kind in kinds)
                     and (max_depth is None or r.depth <= max_depth))
        return ParameterReport(self.input_size, rows, self.model)

    def subtotals(self) -> dict[str, dict]:
        """Totals per kind (``"rows"``: how many rows), kinds in order of appearance."""
        kinds = dict.fromkeys(r.kind for r in self.rows)
        return {k: self.filter(k).totals | {"rows": sum(r.kind == k for r in self.rows)}
                for k in kinds}

    # ---------------------------------------------------------------- cells
    def _columns(self, macs: str):
        if macs not in _MACS:
            raise ValueError(f"macs must be one of {tuple(_MACS)}, but got {macs!r}")
        head = ["name", "kind", "input", "output", "shared", "bias", "used", "dense",
                "nonzeros", "dense/shared"]
        keys = ["name", "kind", "input_shape", "output_shape", "shared", "bias", "used",
                "dense", "nonzeros", "ratio"]
        for key in _MACS[macs]:
            head.append("MACs" if key == "macs" else "MACs (padded)")
            keys.append(key)
        if any(r.note for r in self.rows):
            head.append("note")
            keys.append("note")
        return head, keys

    def _cells(self, keys, latex: bool = False) -> list[list[str]]:
        def number(v):
            text = f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
            return text.replace(",", "{,}") if latex else text

        def cell(row, key):
            value = row[key] if isinstance(row, dict) else getattr(row, key)
            if key in ("input_shape", "output_shape"):
                return "x".join(map(str, value))
            if value is None or (key in ("shared", "bias", "parameters") and not value):
                return ""
            return number(value) if isinstance(value, (int, float)) else str(value)

        rows = [[cell(r, k) for k in keys] for r in self.rows]
        t = self.totals
        total = dict(t, name="total", kind="", input_shape=self.input_size, output_shape=(),
                     ratio=t["dense"] / t["shared"] if t["shared"] and t["dense"] else None,
                     note="")
        rows.append([cell(total, k) for k in keys])
        return rows

    def to_text(self, macs: str = "both") -> str:
        """An aligned plain-text table (``str(report)``)."""
        head, keys = self._columns(macs)
        cells = [head, *self._cells(keys)]
        widths = [max(len(r[c]) for r in cells) for c in range(len(head))]
        right = set(range(4, len(head))) - {keys.index("note")} if "note" in keys else \
            set(range(4, len(head)))

        def line(r):
            return "  ".join(v.rjust(w) if c in right else v.ljust(w)
                             for c, (v, w) in enumerate(zip(r, widths))).rstrip()

        rule = "-" * len(line(cells[0]))
        title = (f"{self.model or 'model'}: input {self.input_size}, "
                 f"{self.totals['parameters']:,} parameters")
        return "\n".join([title, line(cells[0]), rule, *map(line, cells[1:-1]), rule,
                          line(cells[-1])])

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self, macs: str = "both") -> str:
        """A GitHub-flavoured markdown table (totals in bold in the last row)."""
        head, keys = self._columns(macs)
        cells = self._cells(keys)
        cells[-1] = [f"**{v}**" if v else "" for v in cells[-1]]
        align = [":---" if k in ("name", "kind", "input_shape", "output_shape", "note")
                 else "---:" for k in keys]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(v.replace("|", r"\|") for v in r) + " |" for r in cells]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"**{self.model or 'model'}**, input {self.input_size}\n\n" + self.to_markdown()

    def to_latex(self, macs: str = "both", *, columns=None, standalone: bool = False,
                 textwidth: float = 345.0) -> str:
        r"""A ``longtable`` with ``booktabs`` rules that breaks across pages and fits
        ``textwidth`` (in pt; 345 is LaTeX ``article``'s default ``\textwidth``).

        Needs ``\usepackage{booktabs,longtable}`` (``standalone=True`` gives a
        whole document).  ``columns`` picks columns by key (``"name"``,
        ``"kind"``, ``"input_shape"``, ``"output_shape"``, ``"parameters"``,
        ``"shared"``, ``"bias"``, ``"used"``, ``"dense"``, ``"nonzeros"``,
        ``"ratio"``, ``"macs"``, ``"macs_padded"``, ``"note"``).  The default is
        name, kind, output, parameters, dense and the MACs; the table is set in
        ``\footnotesize``, else ``\scriptsize``, and where it still would not
        fit the output and kind columns are left out (a comment in the table
        says so).  Run LaTeX twice: ``longtable`` aligns its pages from the
        ``.aux`` file.
        """
        head, keys = self._columns(macs)
        labels = dict(zip(keys, head)) | {"parameters": "parameters"}
        fitted = columns is None
        if fitted:
            columns = ["name", "kind", "output_shape", "parameters", "dense", *_MACS[macs]]
        unknown = [c for c in columns if c not in labels]
        if unknown:
            raise ValueError(f"columns must be among {list(labels)}, but got {unknown}")
        size, dropped = r"\footnotesize", []
        if fitted:
            if self._latex_width(columns, labels, 8.0) > textwidth:
                size = r"\scriptsize"
            while self._latex_width(columns, labels, 7.0) > textwidth and \
                    any(c in columns for c in ("output_shape", "kind")):
                dropped.append(next(c for c in ("output_shape", "kind") if c in columns))
                columns = [c for c in columns if c != dropped[-1]]

        def esc(v):
            for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"),
                         ("%", r"\%"), ("#", r"\#"), ("$", r"\$"), ("{,}", "\0"),
                         ("{", r"\{"), ("}", r"\}"), ("\0", "{,}")):
                v = v.replace(a, b)
            return v

        body = []
        for r in self._cells(columns, latex=True):
            r = [esc(v).replace("x", r"$\times$") if k in ("input_shape", "output_shape")
                 else esc(v) for k, v in zip(columns, r)]
            body.append(" & ".join(r) + r" \\")
        spec = "".join("l" if k in ("name", "kind", "input_shape", "output_shape", "note")
                       else "r" for k in columns)
        both = "macs" in columns and "macs_padded" in columns
        names = [esc(labels[c]) if not (both and c.startswith("macs")) else
                 ("real" if c == "macs" else "padded") for c in columns]
        header = [" & ".join(names) + r" \\"]
        if both:  # one "MACs" over the two conventions
            first = columns.index("macs") + 1
            top = [""] * len(columns)
            top[first - 1] = r"\multicolumn{2}{c}{MACs}"
            del top[first]
            header = [" & ".join(top) + r" \\",
                      rf"\cmidrule(l){{{first}-{first + 1}}}", *header]
        n = len(columns)
        note = [f"% left out to fit {textwidth:g}pt: {', '.join(dropped)} (pass columns=)"] \
            if dropped else []
        table = "\n".join([
            *note, rf"{{{size}\setlength{{\tabcolsep}}{{4pt}}",
            rf"\begin{{longtable}}{{@{{}}{spec}@{{}}}}",
            r"\toprule", *header, r"\midrule", r"\endfirsthead",
            rf"\multicolumn{{{n}}}{{@{{}}l}}{{\emph{{(continued)}}}} \\",
            r"\toprule", *header, r"\midrule", r"\endhead",
            rf"\midrule \multicolumn{{{n}}}{{r@{{}}}}{{\emph{{continued on the next page}}}} \\",
            r"\endfoot", r"\endlastfoot",
            *body[:-1], r"\midrule", body[-1], r"\bottomrule",
            r"\end{longtable}}",
        ])
        if not standalone:
            return table
        return "\n".join([r"\documentclass{article}", r"\usepackage{booktabs,longtable}",
                          r"\begin{document}", table, r"\end{document}", ""])

    def _latex_width(self, columns, labels, points: float) -> float:
        """An upper estimate of the table's width in pt, in Computer Modern at
        ``points`` pt (cmr10 widths per character in em, rounded up; the
        smaller optical sizes cmr8 and cmr7 are wider per em)."""
        em = {**dict.fromkeys("0123456789", 0.5), ",": 0.28, ".": 0.28, " ": 0.34,
              "(": 0.39, ")": 0.39, "x": 0.78}

        wider = 1.2 if points < 8 else 1.12

        def width(text):
            return sum(em.get(ch, 0.75 if ch.isupper() else 0.53) for ch in text) * points * wider

        cells = [[labels[c] if not c.startswith("macs") else "padded" for c in columns],
                 *self._cells(columns)]
        widest = [max(width(r[k]) for r in cells) for k in range(len(columns))]
        return sum(widest) + 8.0 * (len(columns) - 1)

    def to_csv(self) -> str:
        """CSV, one line per row (shapes as ``1x32x32``; empty: not a matrix)."""
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

    def to_pandas(self):
        """A ``pandas.DataFrame`` with one line per row (``ratio`` included);
        ``df.attrs["totals"]`` holds the totals.  Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "to_pandas needs pandas, which is not installed: pip install pandas"
            ) from None
        frame = pd.DataFrame([asdict(r) | {"ratio": r.ratio} for r in self.rows])
        frame.attrs["totals"] = dict(self.totals)
        return frame

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


# ------------------------------------------------------------------ from a trace
def _matrix(op):
    """``(dense, nonzeros, used, weights)`` of an op with a matrix, else None."""
    fact = op.fact
    if fact is None:
        return None
    if fact.kind == "conv" or (fact.kind == "pool" and fact.mode == "avg"):
        c, b = count_parameters(fact.spec), getattr(fact, "batch", 1)
        if fact.kind == "pool":
            return b * b * c.dense, b * c.nonzeros, 0, 0
        return b * b * c.dense, b * c.nonzeros, c.used, c.shared
    if fact.kind == "matmul" and fact.weight is not None:
        rows, (k, n) = fact.batch * fact.m, (fact.k, fact.n)
        return rows * n * rows * k, rows * k * n, k * n, k * n
    return None


def _no_batch(ref) -> tuple[int, ...]:
    return tuple(ref.shape[1:]) if ref is not None and ref.shape else ()


def _rows(trace) -> list[LayerRow]:
    ops, calls = trace.ops, trace.calls
    direct: dict[int, list] = {c.index: [] for c in calls}
    for op in ops:
        if op.folded_into is None and op.call >= 0:
            direct[op.call].append(op)

    def is_layer(op):
        return op.fact is not None and op.fact.kind in _LAYER_KINDS

    has_row = {
        c.index: next(c.module.children(), None) is None
        or any(is_layer(op) or op.macs or op.macs_padded for op in direct[c.index])
        for c in calls
    }
    home: dict[str, int] = {}  # parameter -> call counting it
    for info in trace.parameters.values():
        readers = [ops[i] for i in info.reads if ops[i].folded_into is None]
        owned = [op.call for op in readers if has_row[op.call]
                 and calls[op.call].name in info.owners]
        layered = [op.call for op in readers if has_row[op.call] and is_layer(op)]
        if owned or layered:
            home[info.name] = (owned or layered)[0]

    rows = []
    for c in calls:
        if not has_row[c.index]:
            continue
        own = [trace.parameters[n] for n in home if home[n] == c.index]
        read = dict.fromkeys(n for op in direct[c.index] for n in op.parameters)
        notes = []
        for info in own:
            others = [a for a in info.aliases if a != info.name]
            if others:
                notes.append(f"{info.name} is also {', '.join(others)}")
        elsewhere = [n for n in read if n in home and home[n] != c.index]
        if c.call > 1 and elsewhere:
            notes.append(f"parameters counted in call 1 of {c.calls}")
        elif elsewhere:
            notes.append("; ".join(f"{n} counted in {calls[home[n]].label}" for n in elsewhere))
        matrices = [m for m in map(_matrix, direct[c.index]) if m is not None]
        dense, nonzeros, used, weights = (
            tuple(sum(v) for v in zip(*matrices)) if matrices else (None,) * 4)
        row = LayerRow(
            c.label, c.kind, _no_batch(c.inputs[0] if c.inputs else None),
            _no_batch(next((r for r in c.outputs if r is not None), None)),
            shared=sum(i.numel for i in own if not i.is_bias),
            bias=sum(i.numel for i in own if i.is_bias),
            used=used, dense=dense, nonzeros=nonzeros,
            macs=sum(op.macs for op in direct[c.index]),
            macs_padded=sum(op.macs_padded for op in direct[c.index]),
            weights=weights, module=c.name, depth=c.depth, note="; ".join(notes),
        )
        start = direct[c.index][0].index if direct[c.index] else c.first_op
        rows.append(((start, 0), row))
    for info in trace.parameters.values():
        if info.name in home:
            continue
        readers = [ops[i] for i in info.reads]
        if readers:
            op = readers[0]
            where = calls[op.call].label if op.call >= 0 else "the model"
            note = f"read by {op.name} in {where}"
        elif any(c.name in info.owners for c in calls):
            note = "not read"
        else:
            note = "not read: its module did not run"
        rows.append(((readers[0].index if readers else math.inf, 1), LayerRow(
            info.name, "parameter", (), info.shape,
            shared=0 if info.is_bias else info.numel, bias=info.numel if info.is_bias else 0,
            module=info.owners[0] if info.owners else "", depth=info.name.count(".") + 1,
            note=note,
        )))
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows]


def parameter_report(model, input_size=None, *, example_inputs=None,
                     name: str = "") -> ParameterReport:
    """Every parameter (once) and every multiply-add (in two conventions) of a model.

    Parameters
    ----------
    model : torch.nn.Module or ModelTrace
        Traced once by :func:`~symtoe.network.trace.trace_model` (eval mode, no
        grad, training flags restored), or a trace already made.
    input_size : tuple of int, optional
        One sample's shape without batch, e.g. ``(3, 32, 32)``.
    example_inputs : tensor, tuple or dict, optional
        The model's inputs instead (token ids, several tensors, keyword inputs);
        counts are then those of the whole batch given.
    name : str
        A title (default: the model's class name).

    Returns
    -------
    ParameterReport
        Rows in execution order (see the module docstring) and ``totals``:
        ``totals["parameters"] == sum(p.numel() for p in model.parameters())``,
        ``totals["macs_padded"]`` = FlopCounterMode's total / 2 plus the fused
        attention kernels it does not count.

    Examples
    --------
    >>> from torch import nn
    >>> report = parameter_report(nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ReLU()), (1, 6))
    >>> print(report.to_text(macs="real"))  # doctest: +NORMALIZE_WHITESPACE
    Sequential: input (1, 6), 8 parameters
    name   kind    input  output  shared  bias  used  dense  nonzeros  dense/shared  MACs
    -------------------------------------------------------------------------------------
    0      Conv1d  1x6    2x6          6     2     6     72        32          12.0    32
    1      ReLU    2x6    2x6                                                           0
    -------------------------------------------------------------------------------------
    total          1x6                 6     2     6     72        32          12.0    32
    >>> report.totals["macs_padded"]  # FlopCounterMode: 2 x 6 outputs x 3 taps
    36
    """
    from .trace import ModelTrace, trace_model

    trace = model if isinstance(model, ModelTrace) else trace_model(
        model, input_size, example_inputs=example_inputs)
    unknown = trace.unknown_ops
    if unknown:
        listed = ", ".join(f"{k} ({v}x)" for k, v in unknown.items())
        warnings.warn(f"parameter_report counted 0 multiply-adds for ops it does not know: "
                      f"{listed}", stacklevel=2)
    first = trace.inputs[0] if trace.inputs else None
    size = tuple(input_size) if input_size is not None else _no_batch(first)
    return ParameterReport(size, tuple(_rows(trace)), name or trace.model)
