"""Torch evaluation of the sharing pattern: dense, COO and CSR matrices.

The values of every nonzero entry are ``W2[o, template]``: the weight laid
out as ``W2[o, c*K + tap]``, read at the pattern's template (one more read
per folded tap under reflect / replicate / circular padding).  The index
tensors come from the cached pattern and stay on the weight's device, in a
``_Lowering`` cached per ``(spec, device, augmented, layout)``.

* The first build of a spec, and any build that autograd records, is one
  ``index_select``: differentiable in the weight and bias.
* Later builds without autograd follow the spec's
  :class:`~symtoe.core.fill.FillPlan`: gather the few distinct blocks of rows and
  broadcast each into the places it repeats with one strided copy, several
  times faster than the gather (see ``benchmarks/README.md``).

Leading batch dimensions of the weight give batched matrices.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .fill import fill_plan
from .limits import byte_cache, check_memory, sizes_of
from .pattern import sharing_pattern
from .spec import ConvSpec, check_spec
from .validate import SymtoeError, SymtoeTypeError, boolean, choice

__all__ = ["numeric_matrix", "LAYOUTS"]

LAYOUTS = ("dense", "coo", "csr")
_INT32_MAX = 2**31 - 1


def _index_dtype(nnz: int, cols: int):
    """int32 CSR indices where every pointer and column fits, else int64."""
    return np.int32 if max(nnz, cols) <= _INT32_MAX else np.int64


class _Lowering:
    """What a spec's matrix needs besides the weight, on one device: index
    tensors, sizes, and (from the second build on) a fill plan.  Cached per
    ``(spec, device, augmented, layout)`` by :func:`_lowering`."""

    def __init__(self, spec: ConvSpec, device: torch.device, augmented: bool, layout: str):
        pattern = sharing_pattern(spec)
        rows, cols = spec.matrix_shape
        self.pattern = pattern
        self.template = _index_rows(pattern.template_weight, device)
        self.length = pattern.template_length
        self.device, self.built, self.plan = device, False, None
        as_tensor = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        if not augmented:
            if layout == "dense":
                flat = pattern.row_indices() * cols + pattern.col_indices()
                self.flat = as_tensor(flat.ravel())
            elif layout == "coo":
                self.indices = as_tensor(
                    np.stack([pattern.row_indices().ravel(), pattern.col_indices().ravel()])
                )
            else:
                dtype = _index_dtype(pattern.nnz, cols)
                self.crow = as_tensor(pattern.crow_indices(dtype))
                self.col = as_tensor(pattern.col_indices(dtype).ravel())
            return

        # [[T, b], [0, 1]]: each row's bias entry goes last, so T's entries shift
        # by their row number and CSR order is kept.
        nnz = pattern.nnz
        crow = pattern.crow_indices()
        per_row = np.diff(crow)
        value_pos = np.arange(nnz) + np.repeat(np.arange(rows), per_row)
        total = nnz + rows + 1
        col = np.full(total, cols)
        col[value_pos] = pattern.col_indices().ravel()
        row = np.concatenate([np.repeat(np.arange(rows), per_row + 1), [rows]])
        self.value_pos = as_tensor(value_pos)
        self.bias_pos = as_tensor(crow[1:] + np.arange(rows))
        if layout == "dense":
            self.flat = as_tensor(row * (cols + 1) + col)
        elif layout == "coo":
            self.indices = as_tensor(np.stack([row, col]))
        else:
            dtype = _index_dtype(total, cols + 1)
            self.crow = as_tensor(np.append(crow + np.arange(rows + 1), total).astype(dtype))
            self.col = as_tensor(col.astype(dtype))

    @property
    def nbytes(self) -> int:
        """Bytes it keeps alive: its index tensors and the pattern it reads
        (counted here too, as the pattern cache may drop it first)."""
        tensors = [v for v in vars(self).values() if isinstance(v, torch.Tensor)]
        tensors += list(self.template)
        return self.pattern.nbytes + sum(t.numel() * t.element_size() for t in tensors)

    def values(self, w2: torch.Tensor) -> torch.Tensor:
        """The values of every output channel, shape ``(*batch, C_out, L)``.

        With autograd, and on the first build of a spec, one gather.  Later
        builds follow the spec's :class:`~symtoe.core.fill.FillPlan`: gather the
        few distinct blocks of rows, then broadcast each into the places it
        repeats with one strided copy.  Cold builds thus skip making the plan.
        """
        if torch.is_grad_enabled() and w2.requires_grad:
            return _gather(w2, self.template)
        out = _buffer((*w2.shape[:-1], self.length), w2, zero=False)
        if self.plan is None:
            if not self.built:
                self.built = True
                return _gather(w2, self.template, out)
            plan = fill_plan(self.pattern)
            leaf = None if plan.is_gather else _index_rows(plan.leaf_weight, self.device)
            self.plan = (plan.copies, leaf)
        copies, leaf = self.plan
        if leaf is None:
            return _gather(w2, self.template, out)
        leaves = _gather(w2, leaf)
        rows, length, n_leaf = math.prod(w2.shape[:-1]), self.length, leaf[0].shape[0]
        for dst, shape, dst_strides, src, src_strides in copies:
            out.as_strided((rows, *shape), (length, *dst_strides), dst).copy_(
                leaves.as_strided((rows, *shape), (n_leaf, *src_strides), src)
            )
        return out


@byte_cache("lowering")
def _lowering(spec: ConvSpec, device: torch.device, augmented: bool, layout: str) -> _Lowering:
    return _Lowering(spec, device, augmented, layout)


def _index_rows(index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The rows of a (multiplicity, n) index table as int64 tensors on a device."""
    return tuple(torch.tensor(row, device=device) for row in index)


def _gather(w2: torch.Tensor, index: tuple[torch.Tensor, ...], out: torch.Tensor | None = None):
    """``sum_m W2ext[..., index[m]]``: folded taps add up; absent ones read
    the zero appended to ``W2`` (index ``W2.shape[-1]``)."""
    if len(index) > 1:
        w2 = torch.cat([w2, w2.new_zeros(*w2.shape[:-1], 1)], dim=-1)
    values = torch.index_select(w2, -1, index[0], out=out)
    for extra in index[1:]:
        values += w2.index_select(-1, extra)
    return values


_NUMPY_DTYPES = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
    torch.int32: np.int32,
    torch.int64: np.int64,
}


def _buffer(shape: tuple[int, ...], like: torch.Tensor, *, zero: bool) -> torch.Tensor:
    """A fresh buffer for a result.  On the CPU, zeroed and large (4 MiB and
    up) buffers come from numpy, whose allocator gets zeroed pages from calloc
    and transparent huge pages for large arrays: touching them is then several
    times faster than with torch's allocator; smaller ones come from torch,
    which reuses freed memory better (see benchmarks/README.md)."""
    np_dtype = _NUMPY_DTYPES.get(like.dtype)
    if like.device.type != "cpu" or np_dtype is None or (
        not zero and math.prod(shape) * like.element_size() < 2**22
    ):
        return like.new_zeros(shape) if zero else like.new_empty(shape)
    return torch.from_numpy((np.zeros if zero else np.empty)(shape, np_dtype))


def _as_weight(weight, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """``weight`` as a dense numeric tensor of ``(*batch, *shape)``."""
    if isinstance(weight, torch.Tensor):
        tensor = weight
    else:
        if weight is None or isinstance(weight, (str, bytes, dict, set)) or (
            isinstance(weight, np.ndarray) and weight.dtype.kind not in "biufc"
        ):
            raise SymtoeTypeError(
                f"{name} must be a torch tensor or an array of numbers, but got "
                f"{type(weight).__name__}" + (" of objects (use symbolic_matrix for sympy "
                                              "values)" if isinstance(weight, np.ndarray) else "")
            )
        try:
            tensor = torch.as_tensor(weight)
        except (TypeError, ValueError, RuntimeError) as error:
            raise SymtoeTypeError(
                f"{name} must be a torch tensor or an array of numbers, but got "
                f"{type(weight).__name__} ({error})"
            ) from None
    if tensor.is_meta:
        raise SymtoeError(f"{name} must hold values, but got a tensor on the meta device")
    if tensor.layout != torch.strided:
        raise SymtoeError(
            f"{name} must be a dense (strided) tensor, but got layout {tensor.layout}; "
            f"pass {name}.to_dense()"
        )
    if tensor.dtype == torch.bool:
        raise SymtoeTypeError(f"{name} must hold numbers, but got a bool tensor")
    if tensor.ndim < len(shape) or tuple(tensor.shape[tensor.ndim - len(shape):]) != shape:
        raise SymtoeError(
            f"{name} must have shape {shape} (optionally with leading batch "
            f"dimensions), but got {tuple(tensor.shape)}"
        )
    return tensor


def numeric_matrix(
    spec: ConvSpec,
    weight,
    *,
    layout: str = "dense",
    bias=None,
    augmented: bool = False,
) -> torch.Tensor:
    """The layer's matrix as a torch tensor (dense, COO or CSR).

    Entry rule as :func:`symtoe.symbolic_matrix`: ``T[(o, *i), (c, *m)]`` is
    the sum of the weights whose tap reads input ``m`` from output ``i``.
    ``numeric_matrix(spec, w) @ x.flatten()`` equals ``F.conv{1,2,3}d(x, w,
    stride, padding, dilation, groups).flatten()`` (``F.pad(x,
    spec.torch_padding, mode)`` first for a non-zero ``padding_mode``;
    ``F.conv_transpose{1,2,3}d`` when ``spec.transposed``).

    Parameters
    ----------
    spec : ConvSpec
    weight : torch.Tensor or array-like, shape ``(*batch, *spec.weight_shape)``
        The matrix has the weight's dtype and device and is differentiable in
        it.  Leading batch dimensions give a batch of matrices (per-example
        kernels).
    layout : {"dense", "coo", "csr"}
    bias : tensor of shape ``(*batch, out_channels)``, optional
        Only with ``augmented=True``.
    augmented : bool
        The homogeneous matrix ``[[T, b], [0, 1]]`` of ``x -> T x + b``.

    Examples
    --------
    >>> import torch
    >>> spec = ConvSpec(1, 1, 3, input_size=5)
    >>> numeric_matrix(spec, torch.tensor([[[1., 2., 3.]]]))
    tensor([[1., 2., 3., 0., 0.],
            [0., 1., 2., 3., 0.],
            [0., 0., 1., 2., 3.]])

    A dense matrix that would not fit in memory is refused with a ValueError
    that says to use ``layout="csr"``.
    """
    check_spec(spec)
    choice(layout, "layout", LAYOUTS)
    augmented = boolean(augmented, "augmented")
    if bias is not None and not augmented:
        raise SymtoeError(
            "bias is only part of the augmented matrix: pass augmented=True, "
            "or add the bias vector to T @ x yourself"
        )
    weight = _as_weight(weight, "weight", spec.weight_shape)
    batch = tuple(weight.shape[: weight.ndim - len(spec.weight_shape)])
    if augmented:
        if bias is None:
            if spec.bias:
                raise SymtoeError(
                    "bias must be given when spec.bias is True and augmented=True"
                )
            bias = weight.new_zeros(*batch, spec.out_channels)
        bias = _as_weight(bias, "bias", spec.bias_shape)
        dtype = torch.promote_types(weight.dtype, bias.dtype)  # a complex bias stays complex
        weight = weight.to(dtype)
        try:
            bias = torch.broadcast_to(bias.to(weight.device, dtype), (*batch, spec.out_channels))
        except RuntimeError:
            raise SymtoeError(
                f"bias must have shape {(*batch, spec.out_channels)} (the weight's batch), "
                f"but got {tuple(bias.shape)}"
            ) from None

    rows, cols = spec.matrix_shape
    n_rows, n_cols = rows + augmented, cols + augmented
    nnz = sizes_of(spec).nonzeros
    n_batch = math.prod(batch)
    itemsize = weight.element_size()
    if layout == "dense":
        check_memory(
            n_batch * n_rows * n_cols * itemsize,
            f"the dense {n_rows} x {n_cols} matrix" + (f" (batch {batch})" * bool(batch)),
            "use layout='csr'", weight.device,
        )
    else:
        check_memory(
            (n_batch * (itemsize + 8) + 24) * (nnz + n_rows + 1),
            f"the {layout} matrix with {nnz} nonzeros",
            "use count_parameters(spec) for its sizes, or a smaller layer", weight.device,
        )

    lowering = _lowering(spec, weight.device, augmented, layout)
    values = lowering.values(lowering.pattern.weight_matrix(weight)).reshape(*batch, nnz)
    if augmented:
        full = values.new_zeros(*batch, nnz + rows + 1)
        full = full.index_copy(-1, lowering.value_pos, values)
        column = bias.repeat_interleave(math.prod(spec.output_size), dim=-1)
        full = full.index_copy(-1, lowering.bias_pos, column)
        full[..., -1] = 1
        values = full

    if layout == "dense":
        dense = _buffer((*batch, n_rows * n_cols), values, zero=True)
        dense.index_copy_(-1, lowering.flat, values)  # in place: no second dense copy
        return dense.reshape(*batch, n_rows, n_cols)
    if layout == "coo":
        indices = lowering.indices
        if batch:
            grid = torch.cartesian_prod(
                *(torch.arange(b, device=weight.device) for b in batch),
                torch.arange(indices.shape[1], device=weight.device),
            ).reshape(-1, len(batch) + 1).T
            indices = torch.cat([grid[:-1], indices[:, grid[-1]]])
        return torch.sparse_coo_tensor(
            indices,
            values.reshape(-1),
            (*batch, n_rows, n_cols),
            is_coalesced=True,
            check_invariants=False,
        )
    crow, col = lowering.crow, lowering.col
    if batch:
        crow = crow.expand(*batch, -1).contiguous()
        col = col.expand(*batch, -1).contiguous()
    return torch.sparse_csr_tensor(
        crow, col, values, (*batch, n_rows, n_cols), check_invariants=False
    )


# torch warns once per process that sparse CSR support is in beta: use the
# warning up here, silenced, rather than silencing every build.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    torch.sparse_csr_tensor(
        torch.zeros(2, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.zeros(0), (1, 1)
    )
