"""Spectral report of a torch model: the norms of every convolution and linear layer.

:func:`spectral_report` reads one :func:`~symtoe.network.trace.trace_model` run
and, for every convolution (``ConvFact``) and every matrix product with a
parameter operand (``MatmulFact``: ``Linear``), puts side by side
(:func:`symtoe.analysis.norms.norm_row`):

* the certified bracket ``lower <= ||T||_2 <= upper`` of the layer at the
  size it ran at (:func:`symtoe.analysis.norms.operator_norm`);
* the exact norm of the same kernel with circular padding, where that layer
  is circulant;
* ``reshaped``: ``||W.reshape(C_out, -1)||_2``, what
  ``torch.nn.utils.spectral_norm`` normalises.

``lipschitz`` is the product of the upper bounds over the rows.  It bounds
the network's Lipschitz constant (l2 to l2) when the layers form a chain with
only 1-Lipschitz maps between them.  Every op that the product does not
account for is listed in ``unaccounted`` with the reason (a sum of branches:
``Lip(a + b) <= Lip(a) + Lip(b)``; a normalisation's scale; a pooling; an
activation not known to be 1-Lipschitz; a layer whose weight is computed in
``forward``): an empty list means the product is a bound for this model.

torch is imported here (through the trace and the norms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..analysis.norms import norm_row
from .trace import ConvFact, MatmulFact, trace_model

__all__ = ["SpectralReport", "SpectralRow", "spectral_report"]

#: Pointwise ops with one tensor input that are 1-Lipschitz (or the identity).
ONE_LIPSCHITZ = frozenset({
    "relu", "relu_", "hardtanh", "hardtanh_", "relu6", "clamp", "clamp_", "clamp_min",
    "clamp_min_", "clamp_max", "clamp_max_", "tanh", "tanh_", "sigmoid", "sigmoid_",
    "abs", "abs_", "neg", "neg_", "threshold", "threshold_", "clone", "alias", "detach",
    "hardsigmoid", "hardsigmoid_", "softsign",
})
#: Categories that move values without scaling them (views, copies, padding folded into a conv).
_NEUTRAL = frozenset({"view", "copy", "creation"})


@dataclass(frozen=True)
class SpectralRow:
    """One convolution or linear layer of the traced model.

    ``name`` is the module call's label, ``op`` the aten op; ``lower``,
    ``upper``, ``exact``, ``converged``, ``bound``, ``circular``,
    ``reshaped`` are :class:`~symtoe.analysis.norms.NormRow`'s (``None``
    with a ``note`` when the layer's weight is not a parameter).
    """

    name: str
    op: str
    kind: str
    shape: str
    lower: float | None
    upper: float | None
    exact: bool
    converged: bool
    bound: str
    circular: float | None
    reshaped: float | None
    note: str = ""


@dataclass(frozen=True)
class SpectralReport:
    """Rows, the product of their upper bounds, and what the product leaves out."""

    model: str
    rows: tuple[SpectralRow, ...]
    lipschitz: float | None
    unaccounted: tuple[str, ...]

    def table(self) -> str:
        """The rows as a markdown table, then the product and what it leaves out."""
        lines = ["| layer | op | shape | lower | upper | bound | circular | reshaped |",
                 "|---|---|---|---|---|---|---|---|"]
        cell = lambda x: "-" if x is None else f"{x:.6g}"  # noqa: E731
        for r in self.rows:
            lines.append(f"| {r.name} | {r.op} | {r.shape} | {cell(r.lower)} | {cell(r.upper)} "
                         f"| {r.bound or r.note} | {cell(r.circular)} | {cell(r.reshaped)} |")
        lines.append(f"\nproduct of upper bounds: {cell(self.lipschitz)}")
        if self.unaccounted:
            lines.append(f"not a Lipschitz bound of this model as traced: {len(self.unaccounted)} "
                         "ops are not accounted for:")
            lines += [f"- {u}" for u in self.unaccounted]
        return "\n".join(lines)


def _label(trace, op) -> str:
    return trace.calls[op.call].label or trace.model


def spectral_report(model, input_size=None, *, example_inputs=None,
                    rtol: float = 1e-8) -> SpectralReport:
    """The norms of every convolution and linear layer of ``model`` (see the
    module docstring).

    Parameters
    ----------
    model : torch.nn.Module
    input_size : tuple of int, optional
        One sample's shape without batch (as :func:`~symtoe.network.trace.trace_model`).
    example_inputs : optional
        The model's inputs instead.
    rtol : float
        Passed to :func:`~symtoe.analysis.norms.operator_norm`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
    >>> report = spectral_report(net, (1, 6, 6))
    >>> [row.kind for row in report.rows], report.unaccounted
    (['conv', 'linear'], ())
    >>> all(r.lower <= r.upper for r in report.rows)
    True
    """
    trace = trace_model(model, input_size, example_inputs=example_inputs)
    tensors = {}
    for info in trace.parameters.values():
        for alias in info.aliases:
            tensors[alias] = info.tensor
    rows: list[SpectralRow] = []
    unaccounted: list[str] = []
    for op in sorted(trace.backward(), key=lambda op: op.index):  # what the outputs read
        name = _label(trace, op)
        where = f"{op.name} in {name}"
        fact = op.fact
        if isinstance(fact, ConvFact):
            ref = fact.weight
            weight = tensors.get(ref.name) if ref.source == "parameter" else None
            shape = (f"{fact.spec.in_channels}->{fact.spec.out_channels} "
                     f"k{'x'.join(map(str, fact.spec.kernel_size))} "
                     f"s{'x'.join(map(str, fact.spec.stride))} "
                     f"{'x'.join(map(str, fact.spec.input_size))}")
            if weight is None:
                rows.append(SpectralRow(name, op.name, "conv", shape, None, None, False, False,
                                        "", None, None, "weight computed in forward"))
                unaccounted.append(f"{where}: its weight is not a parameter, no norm")
                continue
            row = norm_row(fact.spec, weight.detach(), rtol=rtol)
        elif isinstance(fact, MatmulFact) and fact.weight is not None:
            weight = tensors[fact.weight].detach()
            shape = "x".join(map(str, weight.shape))
            if weight.ndim != 2:
                rows.append(SpectralRow(name, op.name, "linear", shape, None, None, False, False,
                                        "", None, None, "weight is not a matrix"))
                unaccounted.append(f"{where}: its weight {shape} is not a matrix, no norm")
                continue
            row = norm_row(None, weight)
        else:
            reason = _reason(trace, op)
            if reason:
                unaccounted.append(f"{where}: {reason}")
            continue
        rows.append(SpectralRow(name, op.name, row.kind, shape, row.lower, row.upper, row.exact,
                                row.converged, row.bound, row.circular, row.reshaped))
    uppers = [r.upper for r in rows]
    product = math.prod(uppers) if rows and None not in uppers else None
    return SpectralReport(trace.model, tuple(rows), product, tuple(unaccounted))


def _reason(trace, op) -> str:
    """Why ``op`` breaks 'product of the layers' norms', or '' if it does not."""
    if op.folded_into is not None or op.category in _NEUTRAL:
        return ""
    if op.fact is not None and getattr(op.fact, "kind", "") == "matmul":
        return "a product of two computed tensors (no fixed weight)"
    short = op.name.rpartition(".")[2]
    moving = [r for r in op.inputs if r.source in ("op", "input")]
    if op.category == "pointwise":
        if len(moving) > 1:
            return "combines branches (Lip(a + b) <= Lip(a) + Lip(b)): not a product"
        if short in ONE_LIPSCHITZ:
            return ""
        return "an activation or scale not known to be 1-Lipschitz"
    if op.category == "cat":
        return "concatenates branches (Lip <= sqrt(sum of Lip^2)): not a product"
    if op.category == "norm":
        return "a normalisation: its per-channel scale is not in the product"
    if op.category in ("pool", "adaptive_pool"):
        return "a pooling: its norm is not in the product"
    return f"an op of category {op.category!r}: its norm is not in the product"
