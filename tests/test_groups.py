"""Exact rotation / reflection weight sharing against references written here.

The references nobody in symtoe wrote:

* the groups are built here from ``np.rot90`` / ``np.flip`` (and
  ``torch.rot90`` / ``torch.flip`` on tensors), with their multiplication
  tables read off a probe image, and the representations from those tables;
* the dimension of every kernel space is the null space of the stacked
  constraint matrices ``L_g - I`` (``L_g K = rho_out(g) (g.K) rho_in(g)^-1``,
  the spatial part a permutation read off ``np.rot90``), ranked exactly over
  the rationals by sympy's sparse ``DomainMatrix``;
* group convolutions are run with ``F.conv2d`` on stacks of turned / flipped
  filters (Cohen & Welling 2016), and fields are turned with ``torch.rot90``
  and ``torch.roll`` of the group axis;
* ordinary layers are probed through torch (``F.conv*`` on an identity batch).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sparse
import sympy
import torch
import torch.nn.functional as F
from reference import torch_forward
from sympy import QQ
from sympy.polys.matrices import DomainMatrix

from symtoe import (
    ConvSpec,
    GroupConvSpec,
    apply_group_element,
    check_reflection,
    check_rotation,
    check_symmetry,
    count_group_parameters,
    count_parameters,
    equivariant_kernel_basis,
    kernel_space_dimension,
    numeric_matrix,
    symbolic_matrix,
    tied_kernel,
)
from symtoe.analysis.groups import (
    kernel_orbits,
    pixel_group,
    representation,
    representation_names,
)

TOL = 1e-12


# ------------------------------------------------------------- the groups, here
#: Elements (quarter turns q, mirror f) meaning x -> rot90(flip(x, -1)^f, q),
#: in the order the library documents (element f * N + q).
ELEMENTS = {
    "C2": [(0, 0), (2, 0)],
    "C4": [(q, 0) for q in range(4)],
    "D1": [(0, 0), (0, 1)],
    "D2": [(0, 0), (2, 0), (0, 1), (2, 1)],
    "D4": [(q, f) for f in (0, 1) for q in range(4)],
}
GROUPS_2D = list(ELEMENTS)


def act(x, q, f):
    """An element on the last two axes of a numpy array or torch tensor."""
    if isinstance(x, np.ndarray):
        return np.rot90(np.flip(x, -1) if f else x, q, axes=(-2, -1))
    return torch.rot90(x.flip(-1) if f else x, q, dims=(-2, -1))


def act_3d(x, word):
    """A word of quarter turns in the planes (0, 1) and (1, 2) of a cube."""
    for plane in word:
        dims = (-3, -2) if plane == 0 else (-2, -1)
        x = np.rot90(x, 1, axes=dims) if isinstance(x, np.ndarray) else torch.rot90(x, 1, dims)
    return x


def multiplication_table(images):
    """table[g, h] = index of g h, from how the elements move a probe."""
    flat = [img.ravel().tolist() for img in images]

    def index(img):
        return flat.index(img.ravel().tolist())

    return index


def group_2d(name):
    elements = ELEMENTS[name]
    probe = np.arange(25).reshape(5, 5)
    index = multiplication_table([act(probe, *e) for e in elements])
    table = np.array([[index(act(act(probe, *h), *g)) for h in elements] for g in elements])
    return elements, table


def group_cube():
    """The 24 rotations of the cube: words in two quarter turns, by breadth-first search."""
    probe = np.arange(27).reshape(3, 3, 3)
    words, seen = [()], {probe.tobytes()}
    for word in words:
        for plane in (0, 1):
            image = act_3d(probe, word + (plane,))
            if image.tobytes() not in seen:
                seen.add(image.tobytes())
                words.append(word + (plane,))
    index = multiplication_table([act_3d(probe, w) for w in words])
    table = np.array([[index(act_3d(act_3d(probe, h), g)) for h in words] for g in words])
    return words, table


def reps_from_table(name, elements, table):
    """Representation matrices (order, dim, dim) built from the table alone."""
    n = len(elements)
    out = {"trivial": np.ones((n, 1, 1), np.int64)}
    regular = np.zeros((n, n, n), np.int64)
    for g in range(n):
        regular[g, table[g], np.arange(n)] = 1
    out["regular"] = regular
    if name == "O":  # -1 on each quarter turn: the parity of the word
        out["sign"] = np.array([(-1) ** len(w) for w in elements]).reshape(n, 1, 1)
        return out
    step = 1 if name in ("C4", "D4") else 2
    if name != "D1":
        out["sign"] = np.array([(-1) ** (q // step) for q, _ in elements]).reshape(n, 1, 1)
    if name[0] == "D":
        out["det"] = np.array([(-1) ** f for _, f in elements]).reshape(n, 1, 1)
    for sub, members in ELEMENTS.items():
        if not (set(members) <= set(elements) and 1 < len(members) < n):
            continue
        idx = [elements.index(e) for e in members]
        firsts = sorted({min(table[g, idx]) for g in range(n)})
        coset = {g: firsts.index(min(table[g, idx])) for g in range(n)}
        mats = np.zeros((n, len(firsts), len(firsts)), np.int64)
        for g in range(n):
            for j, first in enumerate(firsts):
                mats[g, coset[table[g, first]], j] = 1
        out[f"quotient:{sub}"] = mats
    return out


GROUP_DATA = {name: group_2d(name) for name in GROUPS_2D}
REPS = {name: reps_from_table(name, *GROUP_DATA[name]) for name in GROUPS_2D}
CUBE = group_cube()
REPS["O"] = reps_from_table("O", *CUBE)


def rep_pairs(groups):
    return [
        pytest.param(g, a, b, id=f"{g}-{a}-{b}")
        for g in groups for a in REPS[g] for b in REPS[g]
    ]


# ------------------------------------------------------------------ brute force
def null_dimension(rho_out, rho_in, moves, k, d, rank=2):
    """dim of {K on the dilated taps : L_g K = K for the generators g}, exactly.

    The kernel lives on the span grid of ``d(k-1)+1`` points per axis, zero
    off the dilated taps (those columns are dropped); ``moves[g]`` turns an
    array of that grid.  Rank over QQ with sympy's sparse elimination.
    """
    span = d * (k - 1) + 1
    n = span**rank
    grid = np.arange(n).reshape((span,) * rank)
    blocks = []
    for g, move in moves.items():
        moved = move(grid).ravel()  # (g.K)[m] = K[moved[m]]
        perm = sparse.csr_matrix((np.ones(n, np.int64), (np.arange(n), moved)), shape=(n, n))
        inv_in = np.rint(np.linalg.inv(rho_in[g])).astype(np.int64)
        channels = np.kron(rho_out[g], inv_in.T)
        L = sparse.kron(sparse.csr_matrix(channels), perm, format="csr")
        blocks.append(L - sparse.identity(L.shape[0], dtype=np.int64, format="csr"))
    on = np.zeros((span,) * rank, bool)
    on[(slice(None, None, d),) * rank] = True
    keep = np.flatnonzero(np.tile(on.ravel(), rho_out.shape[1] * rho_in.shape[1]))
    A = sparse.vstack(blocks).tocsc()[:, keep].tocoo()
    A.sum_duplicates()
    rows = {}
    for r, c, v in zip(A.row.tolist(), A.col.tolist(), A.data.tolist()):
        if v:
            rows.setdefault(r, {})[c] = QQ(v)
    return A.shape[1] - DomainMatrix(rows, A.shape, QQ).rank()


def generators_2d(name):
    elements, _ = GROUP_DATA[name]
    gens = [1] if name != "D1" else []  # the rotation generator is element 1
    if name[0] == "D":
        gens.append(elements.index((0, 1)))
    return {g: (lambda x, e=elements[g]: act(x, *e)) for g in gens}


@pytest.mark.parametrize("group, in_rep, out_rep", rep_pairs(GROUPS_2D))
def test_dimension_equals_null_space_of_constraints(group, in_rep, out_rep):
    moves = generators_2d(group)
    for k, d in itertools.product(range(1, 8), (1, 2)):
        brute = null_dimension(REPS[group][out_rep], REPS[group][in_rep], moves, k, d)
        closed = kernel_space_dimension(group, k, in_rep, out_rep, dilation=d)
        assert closed == brute, (k, d)
        assert len(equivariant_kernel_basis(group, k, in_rep, out_rep, dilation=d)) == brute


@pytest.mark.parametrize("in_rep, out_rep", [(a, b) for a in REPS["O"] for b in REPS["O"]])
def test_cube_dimension_equals_null_space(in_rep, out_rep):
    words, _ = CUBE
    moves = {words.index((p,)): (lambda x, p=p: act_3d(x, (p,))) for p in (0, 1)}
    big = "regular" in (in_rep, out_rep)
    for k, d in [(1, 1), (2, 1), (3, 1), (2, 2)] + ([] if big else [(4, 1), (3, 2)]):
        brute = null_dimension(REPS["O"][out_rep], REPS["O"][in_rep], moves, k, d, rank=3)
        assert kernel_space_dimension("O", k, in_rep, out_rep, dilation=d) == brute, (k, d)
        assert kernel_orbits("O", k, in_rep, out_rep).dimension == brute, (k, d)


ISSUE_VALUES = [
    # group, in, out, {k: exact dimension}; e2cnn 0.2.3 (the issue's measurement)
    # gives 2/3/4, 24/44/72, 2/3/4, 48/88/144 for k = 3/5/7 and fails for k = 2.
    ("C4", "trivial", "trivial", {3: 3, 5: 7, 7: 13}),
    ("C4", "regular", "regular", {2: 16, 3: 36, 5: 100, 7: 196}),
    ("D4", "trivial", "trivial", {3: 3, 5: 6, 7: 10}),
    ("D4", "regular", "regular", {3: 72, 5: 200, 7: 392}),
]


@pytest.mark.parametrize("group, in_rep, out_rep, values", ISSUE_VALUES,
                         ids=[f"{g}-{a}-{b}" for g, a, b, _ in ISSUE_VALUES])
def test_issue_values(group, in_rep, out_rep, values):
    for k, expected in values.items():
        assert kernel_space_dimension(group, k, in_rep, out_rep) == expected
        assert len(equivariant_kernel_basis(group, k, in_rep, out_rep)) == expected


def test_closed_forms_of_the_docs():
    for k in range(1, 12):
        odd = k % 2
        assert kernel_space_dimension("C4", k) == (k * k + 3 * odd) // 4
        assert kernel_space_dimension("D4", k) == (k * k + 2 * k + odd * (2 * k + 3)) // 8
        for g, dim in (("C4", 4), ("D4", 8), ("C2", 2), ("D1", 2)):
            assert kernel_space_dimension(g, k, "regular", "trivial") == k * k
            assert kernel_space_dimension(g, k, "regular", "regular") == dim * k * k


# ------------------------------------------------------------ reps and actions
@pytest.mark.parametrize("group", GROUPS_2D)
def test_group_matches_rot90_and_flip(group):
    elements, table = GROUP_DATA[group]
    G = pixel_group(group)
    np.testing.assert_array_equal(G.table, table)
    assert sorted(REPS[group]) == sorted(representation_names(group))
    for name, mats in REPS[group].items():
        rho = representation(group, name)
        for g in range(G.order):
            np.testing.assert_array_equal(rho.matrix(g), mats[g], err_msg=f"{name} at {g}")
    x = np.random.default_rng(7).normal(size=(2, 3, 4, 4))
    for g, e in enumerate(elements):
        np.testing.assert_array_equal(apply_group_element(x, group, g), act(x, *e))


def test_cube_is_the_rotations_of_the_cube():
    words, table = CUBE
    G = pixel_group("O")
    assert G.order == len(words) == 24
    probe = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    images = [act_3d(probe, w).ravel().tolist() for w in words]
    ours = [images.index(apply_group_element(probe, "O", g).ravel().tolist()) for g in range(24)]
    assert sorted(ours) == list(range(24))
    np.testing.assert_array_equal(np.asarray(ours)[G.table], table[np.ix_(ours, ours)])
    signs = REPS["O"]["sign"][:, 0, 0]
    np.testing.assert_array_equal(representation("O", "sign").sign[:, 0], signs[ours])


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_fields_turn_like_torch(group):
    """A regular field: torch.rot90 / flip of the grid and the group axis permuted."""
    elements, table = GROUP_DATA[group]
    n = len(elements)
    x = torch.randn(2, 3 * n, 5, 5, generator=torch.Generator().manual_seed(1))
    for g, e in enumerate(elements):
        turned = act(x, *e).reshape(2, 3, n, 5, 5)
        expected = torch.empty_like(turned)
        expected[:, :, table[g]] = turned  # rho(g) e_h = e_{gh}
        got = apply_group_element(x, group, g, "regular")
        assert torch.equal(got, expected.reshape(x.shape))
        if group == "C4":
            assert torch.equal(got, torch.roll(act(x, *e).reshape(2, 3, 4, 5, 5), g, 2).reshape(x.shape))


# ------------------------------------------------------------------ the bases
@pytest.mark.parametrize("group, in_rep, out_rep", rep_pairs(GROUPS_2D))
def test_every_basis_kernel_satisfies_the_constraint(group, in_rep, out_rep):
    elements, _ = GROUP_DATA[group]
    rho_in, rho_out = REPS[group][in_rep], REPS[group][out_rep]
    for k in (1, 2, 3, 4, 5):
        B = kernel_orbits(group, k, in_rep, out_rep).basis()  # int64 (dim, d_out, d_in, k, k)
        if k <= 3:  # the public basis: the same kernels, as sympy Integers
            public = equivariant_kernel_basis(group, k, in_rep, out_rep)
            assert all(isinstance(v, sympy.Integer) for b in public for v in b.ravel())
            assert np.array_equal(np.array(public, dtype=object).astype(np.int64).reshape(B.shape), B)
        for g, e in enumerate(elements):
            inv_in = np.rint(np.linalg.inv(rho_in[g])).astype(np.int64)
            moved = np.einsum("ab,nbchw,cd->nadhw", rho_out[g], act(B, *e), inv_in)
            np.testing.assert_array_equal(moved, B, err_msg=f"k={k}, element {e}")
        # independent: nonzero kernels with disjoint supports
        support = B.reshape(len(B), math.prod(B.shape[1:])) != 0
        assert support.any(axis=1).all() and (support.sum(axis=0) <= 1).all()


def test_dilation_does_not_change_the_basis():
    for d in (1, 2, 3):
        basis = equivariant_kernel_basis("D4", 3, "trivial", "regular", dilation=d)
        assert len(basis) == 9
    with pytest.raises(ValueError, match=r"dilation must be equal on every axis for group 'C4'"):
        equivariant_kernel_basis("C4", 3, dilation=(1, 2))


def test_rectangular_kernels_where_no_axes_are_exchanged():
    # D2 (half turns and the two mirrors) maps a 3x4 kernel onto itself
    assert kernel_space_dimension("D2", (3, 4)) == len(equivariant_kernel_basis("D2", (3, 4))) == 4
    moves = generators_2d("D2")
    # brute force on a 3x4 grid: the kernel restricted to it, 12 unknowns
    grid = np.arange(12).reshape(3, 4)
    rows = {}
    for r, move in enumerate(moves.values()):
        for m, src in enumerate(move(grid).ravel().tolist()):
            if src != m:
                rows[r * 12 + m] = {m: QQ(1), src: QQ(-1)}
    assert 12 - DomainMatrix(rows, (24, 12), QQ).rank() == 4


# --------------------------------------------------- group convolutions, torch
def stack_reference(spec, weight):
    """Cohen & Welling: output channel h of a regular field uses the filter of
    channel e turned by h, its input channels moved by rho_in(h)^-1."""
    elements, _ = GROUP_DATA[spec.group]
    rho_in = torch.as_tensor(REPS[spec.group][spec.in_rep], dtype=weight.dtype)
    k = spec.conv.kernel_size
    base = weight.reshape(spec.out_fields, spec.in_fields, rho_in.shape[1], *k)
    stack = []
    for h, e in enumerate(elements):
        turned = act(base, *e)
        stack.append(torch.einsum("fgihw,ij->fgjhw", turned, torch.linalg.inv(rho_in[h])))
    full = torch.stack(stack, dim=1)  # (F_out, |G|, F_in, d_in, k, k)
    return full.reshape(spec.conv.weight_shape)


def conv(spec, x, weight):
    c = spec.conv
    return torch_forward(c, x, weight)


LIFT_AND_GROUP = [
    pytest.param(g, a, id=f"{g}-{a}")
    for g in GROUPS_2D for a in ("trivial", "regular")
] + [pytest.param("D4", "quotient:D1", id="D4-quotient:D1"), pytest.param("C4", "sign", id="C4-sign")]


@pytest.mark.parametrize("group, in_rep", LIFT_AND_GROUP)
@pytest.mark.parametrize("k", [2, 3])
def test_tied_kernel_is_the_stack_of_turned_filters(group, in_rep, k):
    spec = GroupConvSpec(group, in_rep, "regular", 2, 3, k, input_size=6, padding=1)
    gen = torch.Generator().manual_seed(11)
    w = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)
    reference = stack_reference(spec, w)
    assert torch.equal(tied_kernel(spec, w), reference)
    x = torch.randn(3, spec.conv.in_channels, 6, 6, generator=gen, dtype=torch.float64)
    lowered = numeric_matrix(spec.conv, tied_kernel(spec, w)) @ x.reshape(3, -1).T
    expected = F.conv2d(x, reference, padding=1).reshape(3, -1).T
    torch.testing.assert_close(lowered, expected, atol=TOL, rtol=0)


def test_tied_kernel_is_exact_and_differentiable():
    spec = GroupConvSpec("D4", "trivial", "sign", 1, 2, 3, input_size=5, padding=1)
    kernel = tied_kernel(spec)
    assert kernel.shape == spec.conv.weight_shape
    symbols = {s for v in kernel.ravel() for s in sympy.sympify(v).free_symbols}
    assert len(symbols) == math.prod(spec.weight_shape) == 2 * kernel_space_dimension("D4", 3, "trivial", "sign")
    halves = tied_kernel(spec, np.full(spec.weight_shape, sympy.Rational(1, 2), dtype=object))
    assert all(v.is_Rational for v in halves.ravel())  # exact: no Floats
    assert {abs(v) for v in halves.ravel()} == {0, sympy.Rational(1, 2)}
    w = torch.randn(spec.weight_shape, dtype=torch.float64, requires_grad=True)
    tied_kernel(spec, w).sum().backward()
    assert w.grad is not None and w.grad.shape == w.shape


def test_symbolic_matrix_commutes_exactly():
    """C4 scalar fields, 4x4, padding 1: T R = R T for the symbolic tied matrix."""
    spec = GroupConvSpec("C4", "trivial", "trivial", 1, 1, 3, input_size=4, padding=1)
    T = symbolic_matrix(spec.conv, tied_kernel(spec))
    R = sympy.Matrix(np.rot90(np.eye(16, dtype=int).reshape(16, 4, 4), 1, axes=(1, 2)).reshape(16, 16).T.tolist())
    # R x = rot90(x): column j of R is rot90 of the j-th unit image
    x = np.arange(16).reshape(4, 4)
    assert list(R @ sympy.Matrix(x.ravel())) == np.rot90(x).ravel().tolist()
    assert (T * R - R * T).is_zero_matrix
    assert len(T.free_symbols) == 3
    assert check_rotation(spec).holds


# ------------------------------------------------------------------ counts
def test_counts_dense_cnn_p4_p4m():
    cnn = ConvSpec(64, 64, 3, input_size=(32, 32), padding=1)
    p4 = GroupConvSpec("C4", "regular", "regular", 16, 16, 3, input_size=32, padding=1)
    p4m = GroupConvSpec("D4", "regular", "regular", 8, 8, 3, input_size=32, padding=1)
    module = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
    assert count_parameters(cnn).shared == sum(p.numel() for p in module.parameters()) == 36864
    for spec, group in ((p4, 9216), (p4m, 4608)):
        counts = count_group_parameters(spec)
        assert counts.dense == count_parameters(cnn).dense == (64 * 32 * 32) ** 2
        assert counts.translation == 36864 and counts.group == group
        assert counts.group == spec.out_fields * spec.in_fields * spec.G.order * 9
    lift = GroupConvSpec("C4", "trivial", "regular", 3, 16, 3, input_size=32, padding=1)
    assert count_group_parameters(lift).group == 16 * 3 * 9
    assert count_group_parameters(lift).ratio == 4.0


# ------------------------------------------------------------- certificates
def probe_exact(lhs_fn, rhs_fn, spec, seeds=(1,)):
    """Output positions where the two sides agree on an identity batch."""
    cols = spec.matrix_shape[1]
    eye = torch.eye(cols, dtype=torch.float64).reshape(cols, spec.in_channels, *spec.input_size)
    ok = np.ones(spec.output_size, dtype=bool)
    for seed in seeds:
        w = torch.randn(spec.weight_shape, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
        err = (lhs_fn(eye, w) - rhs_fn(eye, w)).abs().amax(dim=(0, 1))
        ok &= (err < 1e-9).numpy()
    return ok


ROTATION_GEOMETRIES = [
    pytest.param(n, k, s, p, d, id=f"n{n}-k{k}-s{s}-p{p}-d{d}")
    for n, k, s, p, d in itertools.product((5, 6, 7, 8), (1, 2, 3), (1, 2, 3), (0, 1), (1, 2))
    if d * (k - 1) + 1 <= n + 2 * p
]


@pytest.mark.parametrize("n, k, s, p, d", ROTATION_GEOMETRIES)
def test_rotation_certificate_against_torch(n, k, s, p, d):
    spec = ConvSpec(1, 1, k, input_size=(n, n), stride=s, padding=p, dilation=d)
    for q in (1, 2, 3):
        check = check_rotation(spec, q)
        expected = probe_exact(
            lambda x, w, q=q: torch_forward(spec, torch.rot90(x, q, (-2, -1)), w),
            lambda x, w, q=q: torch.rot90(torch_forward(spec, x, torch.rot90(w, -q, (-2, -1))), q, (-2, -1)),
            spec,
        )
        np.testing.assert_array_equal(check.exact, expected, err_msg=f"q={q}")
        assert check.holds == check.condition == ((n + 2 * p - d * (k - 1) - 1) % s == 0)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(ConvSpec(2, 3, 3, input_size=(6, 6), padding=1, padding_mode="circular"), id="circular"),
        pytest.param(ConvSpec(1, 2, 3, input_size=(7, 7), padding=2, stride=2, padding_mode="reflect"), id="reflect-s2"),
        pytest.param(ConvSpec(1, 1, 3, input_size=(6, 6), padding=1, stride=2, padding_mode="replicate"), id="replicate-a1"),
        pytest.param(ConvSpec(1, 1, 4, input_size=(6, 6), padding="same"), id="same-even"),
        pytest.param(ConvSpec(2, 2, 3, input_size=(5, 5), padding=1, flip=True, groups=2), id="flip-depthwise"),
        pytest.param(ConvSpec(1, 1, 3, input_size=(4, 4), stride=2, padding=1, transposed=True), id="transposed"),
        pytest.param(ConvSpec(1, 1, 3, input_size=(4, 4), stride=2, padding=1, output_padding=1, transposed=True), id="transposed-op1"),
        pytest.param(ConvSpec(1, 1, 3, input_size=(4, 4, 4), padding=1, stride=(1, 2, 2)), id="3d-plane12"),
    ],
)
def test_rotation_certificate_modes_and_kinds(spec):
    axes = (1, 2) if spec.rank == 3 else (0, 1)
    dims = tuple(2 + a for a in axes)
    for q in (1, 2):
        check = check_rotation(spec, q, axes=axes)
        expected = probe_exact(
            lambda x, w, q=q: torch_forward(spec, torch.rot90(x, q, dims), w),
            lambda x, w, q=q: torch.rot90(torch_forward(spec, x, torch.rot90(w, -q, dims)), q, dims),
            spec,
        )
        np.testing.assert_array_equal(check.exact, expected, err_msg=f"q={q}")
        assert check.holds == check.condition, check.reason


@pytest.mark.parametrize("geometry", [
    dict(input_size=(6, 6), kernel_size=3, padding=1, stride=2),
    dict(input_size=(7, 5), kernel_size=(3, 2), padding=((1, 1), (0, 1))),
    dict(input_size=(5, 5), kernel_size=2, padding=1, padding_mode="reflect"),
])
def test_mirrors_agree_with_check_reflection(geometry):
    spec = ConvSpec(1, 1, **geometry)
    for axis, matrix in ((0, [[-1, 0], [0, 1]]), (1, [[1, 0], [0, -1]])):
        ours, theirs = check_symmetry(spec, matrix), check_reflection(spec, (axis,))
        np.testing.assert_array_equal(ours.exact, theirs.exact)
        assert ours.offset == theirs.offset and ours.condition == theirs.condition


def field_transform(group, rep, g):
    """x -> g x on fields of ``rep``: act on the grid, rho(g) on each field."""
    e = GROUP_DATA[group][0][g]
    rho = torch.as_tensor(REPS[group][rep][g], dtype=torch.float64)

    def transform(x):
        fields = x.reshape(x.shape[0], -1, rho.shape[0], *x.shape[-2:])
        return torch.einsum("ab,nfbhw->nfahw", rho, act(fields, *e)).reshape(x.shape)

    return transform


GROUP_LAYERS = [
    pytest.param(g, a, b, n, s, id=f"{g}-{a}-{b}-n{n}-s{s}")
    for g, a, b in [
        ("C4", "trivial", "regular"), ("C4", "regular", "regular"), ("C4", "quotient:C2", "sign"),
        ("D4", "trivial", "regular"), ("D4", "regular", "regular"), ("D4", "sign", "det"),
        ("D4", "quotient:D1", "quotient:C4"), ("D2", "det", "regular"), ("C2", "sign", "trivial"),
        ("D1", "det", "regular"),
    ]
    for n, s in [(7, 2), (8, 2), (6, 1)]
]


@pytest.mark.parametrize("group, in_rep, out_rep, n, s", GROUP_LAYERS)
def test_group_conv_certificate_against_torch(group, in_rep, out_rep, n, s):
    """The torch lowering on turned inputs equals the turned output exactly where
    the certificate says, and differs elsewhere (random weights)."""
    spec = GroupConvSpec(group, in_rep, out_rep, 2, 2, 3, input_size=n, padding=1, stride=s)
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)
    matrix = numeric_matrix(spec.conv, tied_kernel(spec, w))
    x = torch.randn(4, spec.conv.in_channels, n, n, generator=gen, dtype=torch.float64)
    out_shape = (4, spec.conv.out_channels, *spec.output_size)

    def lowered(v):
        return (matrix @ v.reshape(4, -1).T).T.reshape(out_shape)

    for g in range(spec.G.order):
        check = check_symmetry(spec, g)
        lhs = lowered(field_transform(group, in_rep, g)(x))
        rhs = field_transform(group, out_rep, g)(F.conv2d(x, tied_kernel(spec, w), stride=s, padding=1))
        err = (lhs - rhs).abs().amax(dim=(0, 1)).numpy()
        assert (err[check.exact] <= TOL).all(), (g, err)
        assert (err[~check.exact] > 1e-6).all(), (g, err)
        assert check.holds == check.condition == ((n - 1) % s == 0 or not check.offset)


@pytest.mark.parametrize("group", ["C4", "D4"])
@pytest.mark.parametrize("n, s", [(9, 2), (8, 2), (6, 1)])
def test_lifting_then_group_conv(group, n, s):
    """Output turned by torch.rot90 (group axis permuted) equals the stack on the
    turned input, exactly where check_rotation([lift, conv]) says."""
    lift = GroupConvSpec(group, "trivial", "regular", 3, 2, 3, input_size=n, padding=1, stride=s)
    gconv = GroupConvSpec(group, "regular", "regular", 2, 2, 3, input_size=lift.output_size, padding=1)
    gen = torch.Generator().manual_seed(9)
    w1 = torch.randn(lift.weight_shape, generator=gen, dtype=torch.float64)
    w2 = torch.randn(gconv.weight_shape, generator=gen, dtype=torch.float64)
    k1, k2 = stack_reference(lift, w1), stack_reference(gconv, w2)

    def net(x):
        return F.conv2d(F.relu(F.conv2d(x, k1, stride=s, padding=1)), k2, padding=1)

    x = torch.randn(4, 3, n, n, generator=gen, dtype=torch.float64)
    order = len(GROUP_DATA[group][0])
    y = net(x)
    check = check_rotation([lift, gconv])
    assert [layer.holds for layer in check.layers] == [(n + 2 - 3) % s == 0, True]
    turned = torch.rot90(y, 1, (-2, -1)).reshape(4, 2, order, *y.shape[-2:])
    if group == "C4":
        expected = torch.roll(turned, 1, dims=2)  # r maps orientation h to h + 1
    else:
        table = GROUP_DATA[group][1]
        expected = torch.empty_like(turned)
        expected[:, :, table[1]] = turned
    err = (net(torch.rot90(x, 1, (-2, -1))) - expected.reshape(y.shape)).abs().amax(dim=(0, 1))
    assert (err.numpy()[check.exact] <= TOL).all()
    assert (err.numpy()[~check.exact] > 1e-6).all()
    assert check.holds == ((n + 2 - 3) % s == 0)


@pytest.mark.parametrize("n, padding_mode, holds", [(9, "zeros", True), (10, "zeros", False),
                                                     (6, "circular", True)])
def test_dilated_and_circular_group_conv_against_torch(n, padding_mode, holds):
    stride = 2 if padding_mode == "zeros" else 1
    spec = GroupConvSpec("D4", "regular", "regular", 1, 2, 3, input_size=n, padding=2, dilation=2,
                         stride=stride, padding_mode=padding_mode)
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 8, n, n, generator=gen, dtype=torch.float64)
    for g in (1, 4, 5):  # r, m, r m
        check = check_symmetry(spec, g)
        lhs = torch_forward(spec.conv, field_transform("D4", "regular", g)(x), tied_kernel(spec, w))
        rhs = field_transform("D4", "regular", g)(torch_forward(spec.conv, x, tied_kernel(spec, w)))
        err = (lhs - rhs).abs().amax(dim=(0, 1)).numpy()
        assert (err[check.exact] <= TOL).all() and (err[~check.exact] > 1e-6).all()
        assert check.holds == (holds or g == 5)  # r m is the transpose: no axis reversed


def test_cube_lifting_is_the_stack_of_turned_filters_and_commutes():
    """O in 3-D: output channel h of a lifting layer is the filter turned by h
    (torch.rot90 words), and scalar / sign fields commute with quarter turns."""
    words, _ = CUBE
    probe = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    images = [act_3d(probe, w).ravel().tolist() for w in words]
    ours = [images.index(apply_group_element(probe, "O", g).ravel().tolist()) for g in range(24)]
    lift = GroupConvSpec("O", "trivial", "regular", 1, 1, 2, input_size=4)
    w = torch.randn(lift.weight_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    stack = tied_kernel(lift, w)[:, 0]
    base = w.reshape(2, 2, 2)
    for h in range(24):
        assert torch.equal(stack[h], act_3d(base, words[ours[h]]))
    gen = torch.Generator().manual_seed(8)
    for in_rep, out_rep in (("trivial", "trivial"), ("trivial", "sign"), ("sign", "trivial")):
        for n, stride in ((5, 2), (6, 2), (4, 1)):
            spec = GroupConvSpec("O", in_rep, out_rep, 2, 2, 3, input_size=n, padding=1, stride=stride)
            weight = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)
            kernel = tied_kernel(spec, weight)
            x = torch.randn(2, 2, n, n, n, generator=gen, dtype=torch.float64)
            for axes in ((0, 1), (1, 2), (0, 2)):
                dims = tuple(2 + a for a in axes)
                check = check_rotation(spec, 1, axes=axes)
                s_in, s_out = (-1 if r == "sign" else 1 for r in (in_rep, out_rep))
                lhs = F.conv3d(s_in * torch.rot90(x, 1, dims), kernel, stride=stride, padding=1)
                rhs = s_out * torch.rot90(F.conv3d(x, kernel, stride=stride, padding=1), 1, dims)
                err = (lhs - rhs).abs().amax(dim=(0, 1)).numpy()
                assert (err[check.exact] <= TOL).all() and (err[~check.exact] > 1e-6).all()
                assert check.holds == ((n - 1) % stride == 0)


def test_stack_of_convspecs_is_sound_against_torch():
    first = ConvSpec(1, 2, 3, input_size=(8, 8), padding=1, stride=2)
    second = ConvSpec(2, 1, 3, input_size=first.output_size, padding=1)
    check = check_rotation([first, second])
    gen = torch.Generator().manual_seed(3)
    w1 = torch.randn(first.weight_shape, generator=gen, dtype=torch.float64)
    w2 = torch.randn(second.weight_shape, generator=gen, dtype=torch.float64)
    r = lambda v, q=1: torch.rot90(v, q, (-2, -1))  # noqa: E731
    x = torch.randn(3, 1, 8, 8, generator=gen, dtype=torch.float64)
    lhs = torch_forward(second, torch_forward(first, r(x), w1), w2)
    rhs = r(torch_forward(second, torch_forward(first, x, r(w1, -1)), r(w2, -1)))
    err = (lhs - rhs).abs().amax(dim=(0, 1)).numpy()
    assert (err[check.exact] <= TOL).all() and (err[~check.exact] > 1e-6).all()
    assert not check.holds and check.layers[1].holds


def test_the_issue_examples():
    for k, p, holds_at_7 in ((3, 1, True), (2, 0, False)):
        for n, holds in ((7, holds_at_7), (8, not holds_at_7)):
            spec = ConvSpec(1, 1, k, input_size=(n, n), stride=2, padding=p)
            check = check_rotation(spec)
            assert check.holds == check.condition == holds, check.reason
            g = GroupConvSpec("C4", "trivial", "regular", 1, 1, k, input_size=n, stride=2, padding=p)
            assert check_rotation(g).holds == holds
    assert "(8 + 1 + 1 - 2 - 1) mod 2 = 1" in check_rotation(
        ConvSpec(1, 1, 3, input_size=(8, 8), stride=2, padding=1)).reason


def test_explain_names_the_terms():
    spec = ConvSpec(1, 1, 3, input_size=(6, 6), stride=2, padding=1)
    check = check_rotation(spec)
    bad = tuple(int(v) for v in check.failing()[0])
    text = check.explain(bad)
    assert text.startswith(f"output {bad} is not exact") and "* w[" in text
    good = GroupConvSpec("C4", "trivial", "trivial", 1, 1, 3, input_size=7, stride=2, padding=1)
    assert "is exact" in check_rotation(good).explain((1, 1))


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: pixel_group("C3"), r"group must be one of \('C2', 'C4', 'D1', 'D2', 'D4', 'O'\), but got 'C3'"),
        (lambda: representation("D1", "sign"), r"rep of group 'D1' must be one of .*'det'.*, but got 'sign'"),
        (lambda: representation("C4", "quotient:D1"), r"rep of group 'C4' must be one of"),
        (lambda: kernel_space_dimension("C4", (3, 5)), r"kernel_size must be equal on every axis for group 'C4'"),
        (lambda: kernel_space_dimension("C4", 0), r"kernel_size must be a positive integer or a tuple of 2"),
        (lambda: kernel_orbits("O", 13, "regular", "regular"), r"kernel space must have at most 20000000"),
        (lambda: GroupConvSpec("C4", "trivial", "regular", 0, 1, 3, input_size=5), r"in_fields must be a positive integer, but got 0"),
        (lambda: GroupConvSpec("C4", "trivial", "regular", 1, 1, 3, input_size=(5, 5, 5)), r"input_size must be an int or a tuple of 2 spatial sizes"),
        (lambda: GroupConvSpec("C4", "trivial", "regular", 1, 1, 3, input_size=5, dilation=(1, 2)), r"dilation must be equal on every axis"),
        (lambda: tied_kernel(GroupConvSpec("C4", "trivial", "trivial", 1, 1, 3, input_size=5), torch.zeros(2)), r"weight must have shape \(1, 1, 3\)"),
        (lambda: check_rotation(GroupConvSpec("C2", "trivial", "trivial", 1, 1, 3, input_size=5)), r"quarter_turns must give an element of group 'C2'"),
        (lambda: check_rotation(ConvSpec(1, 1, 3, input_size=(5, 6))), r"spec must have the same input_size, kernel_size, stride, padding, dilation and output_padding on axes 0 and 1"),
        (lambda: check_rotation(ConvSpec(1, 1, 3, input_size=5)), r"spec must have at least 2 spatial axes"),
        (lambda: check_rotation(ConvSpec(1, 1, 3, input_size=(5, 5)), axes=(0, 0)), r"axes must be two different spatial axes"),
        (lambda: check_symmetry(ConvSpec(1, 1, 3, input_size=(5, 5)), [[2, 0], [0, 1]]), r"element must be a 2x2 signed permutation matrix"),
        (lambda: check_symmetry(GroupConvSpec("D1", "trivial", "trivial", 1, 1, 3, input_size=5), "r"), r"element must be an index in range\(2\), a name in \('e', 'm'\)"),
        (lambda: check_symmetry("conv", [[1, 0], [0, 1]]), r"spec must be a ConvSpec, a GroupConvSpec or a list of them, but got str"),
        (lambda: check_symmetry([], [[1, 0], [0, 1]]), r"spec must be a non-empty list of layers"),
        (lambda: check_rotation([GroupConvSpec("C4", "trivial", "regular", 1, 1, 3, input_size=5), GroupConvSpec("C4", "trivial", "regular", 1, 1, 3, input_size=3)]), r"spec\[1\] must read what spec\[0\] writes, but got C4 regular x 1, then C4 trivial x 1"),
        (lambda: check_rotation([ConvSpec(1, 4, 3, input_size=(5, 5)), GroupConvSpec("C4", "regular", "regular", 1, 1, 3, input_size=3)]), r"not a mix"),
        (lambda: apply_group_element(np.zeros((1, 3, 4, 4)), "C4", 1, "regular"), r"x must have a multiple of 4 channels"),
        (lambda: apply_group_element(np.zeros((1, 1, 4, 5)), "C4", 1), r"x must have equal spatial sizes for group 'C4'"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_repr_and_replace():
    spec = GroupConvSpec("D4", "regular", "regular", 2, 3, 3, input_size=8, padding=1)
    assert "'regular' x 2 -> 'regular' x 3" in repr(spec)
    assert spec.replace(input_size=9).output_size == (9, 9)
    assert spec == GroupConvSpec("D4", "regular", "regular", 2, 3, 3, input_size=8, padding=1)
    assert hash(spec) == hash(spec.replace())
    assert "holds=True" in repr(check_rotation(spec))


@pytest.mark.slow
def test_benchmark_runs():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_groups.py"), "--quick"],
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "check_rotation p4 regular->regular" in proc.stdout and "ratio" in proc.stdout
