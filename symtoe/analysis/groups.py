"""Groups that act exactly on the pixel grid, their representations, and the
exact spaces of equivariant kernels.

**Groups.**  A group here is a finite set of signed permutation matrices
``M_g`` acting on *centred* offsets: a kernel tap or a pixel at index ``m``
of an axis of length ``k`` has offset ``u = m - (k-1)/2`` (a half-integer
for even ``k``), and ``g`` moves it to ``M_g u``.  Such matrices map the
square (cubic) grid onto itself, odd or even, dilated or not, which is why
only they are exact on pixels.  On an image ``g`` acts by ``(g x)[m] =
x[g^-1 m]``; in 2-D the generators are torch's own maps:

* ``r`` (a quarter turn) ``= torch.rot90(x, 1, dims=(-2, -1))``,
  ``M_r = [[0, -1], [1, 0]]``;
* ``m`` (a mirror) ``= torch.flip(x, (-1,))``, ``M_m = [[1, 0], [0, -1]]``.

``"C4"`` = {r^q}, ``"C2"`` = {e, r^2}, ``"D1"`` = {e, m}, ``"D2"`` = {r^2q m^f},
``"D4"`` = {r^q m^f}.  Element ``f * N + q`` of ``C_N`` / ``D_N`` is
``r^(q * 4/N) m^f`` (``m`` first, then the turn), named ``"r^2 m"`` and so
on.  ``"O"`` is the 24 rotations of the cube in 3-D (signed permutation
matrices of determinant 1, identity first, then by decreasing entries).

**Representations** on the channels of a field are signed permutations,
``rho(g) e_j = sign[g, j] e_{perm[g, j]}``:

* ``"trivial"`` (a scalar field), ``"regular"`` (``|G|`` channels indexed by
  the elements, ``rho(g) e_h = e_{g h}``),
* ``"sign"`` (one channel, ``-1`` on the generating rotation, ``+1`` on the
  mirror; for ``"O"`` the sign of the axis permutation),
* ``"det"`` (one channel, ``det M_g``: ``-1`` on mirrors; dihedral groups),
* ``"quotient:H"`` for a subgroup ``H`` (``G/H`` cosets ``gH``, ordered by
  their first element; e.g. ``"quotient:C4"`` of ``"D4"``).

**Equivariant kernels.**  A kernel ``K`` (shape ``(dim_out, dim_in, *k)``)
gives an equivariant convolution, ``T(g x) = g T(x)``, iff

    K(M_g u) = rho_out(g) K(u) rho_in(g)^-1      for every g and offset u.

The group acts on triples ``t = (o, i, u)`` by ``g t = (perm_out[g, o],
perm_in[g, i], M_g u)`` with sign ``sign_out[g, o] * sign_in[g, i]``, and the
constraint reads ``K[g t] = sign * K[t]``.  So every orbit of triples gives one
basis kernel (``+-1`` on the orbit, 0 elsewhere) unless some ``g`` fixing a
triple of the orbit has sign ``-1``: that orbit is forced to zero.  The
dimension is the character formula (the number of invariants of
``P_pos (x) rho_out (x) rho_in``)

    dim = (1/|G|) sum_g fix_k(g) chi_out(g) chi_in(g),

with ``fix_k(g)`` the kernel taps that ``M_g`` fixes: a product over the
cycles of ``g``'s axis permutation of ``k`` (sign product +1) or ``[k odd]``
(sign product -1, only the centre).  Dilation does not enter: the group acts
on dilated taps as on undilated ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np

from ..core.spec import is_int

__all__ = [
    "GROUPS",
    "KernelOrbits",
    "PixelGroup",
    "Representation",
    "apply_group_element",
    "equivariant_kernel_basis",
    "kernel_orbits",
    "kernel_space_dimension",
    "pixel_group",
    "representation",
    "representation_names",
]

GROUPS = ("C2", "C4", "D1", "D2", "D4", "O")

#: Refuse kernel spaces with more (group element, triple) pairs than this.
MAX_ACTION_ENTRIES = 20_000_000

_QUARTER = np.array([[0, -1], [1, 0]], dtype=np.int64)  # torch.rot90(x, 1, dims=(-2, -1))
_MIRROR = np.array([[1, 0], [0, -1]], dtype=np.int64)  # torch.flip(x, (-1,))


@dataclass(frozen=True, eq=False)
class PixelGroup:
    """A finite group of signed permutation matrices (see the module doc).

    Attributes
    ----------
    name : str
    matrices : ndarray of int64, shape (order, rank, rank)
        ``M_g``: element ``g`` moves the centred offset ``u`` to ``M_g u``.
    element_names : tuple of str

    Examples
    --------
    >>> G = pixel_group("D4")
    >>> G.order, G.element_names[:5], G.matrices[1].tolist()
    (8, ('e', 'r', 'r^2', 'r^3', 'm'), [[0, -1], [1, 0]])
    >>> G.element_names[G.table[1, 4]]          # r . m
    'r m'
    """

    name: str
    matrices: np.ndarray
    element_names: tuple[str, ...]

    @property
    def order(self) -> int:
        return len(self.matrices)

    @property
    def rank(self) -> int:
        """Spatial axes the group acts on (2, or 3 for ``"O"``)."""
        return self.matrices.shape[1]

    @cached_property
    def table(self) -> np.ndarray:
        """Multiplication table: ``table[g, h]`` is the index of ``g h``."""
        products = np.einsum("gab,hbc->ghac", self.matrices, self.matrices)
        return self._lookup(products.reshape(-1, self.rank, self.rank)).reshape(
            self.order, self.order
        )

    @cached_property
    def inverse(self) -> np.ndarray:
        """``inverse[g]``: the index of ``g^-1`` (``M_g`` transposed)."""
        return self._lookup(self.matrices.transpose(0, 2, 1))

    def _lookup(self, matrices: np.ndarray) -> np.ndarray:
        """Indices of the given matrices in the group (-1 where absent)."""
        flat = self.matrices.reshape(self.order, -1)
        match = (matrices.reshape(len(matrices), 1, -1) == flat[None]).all(axis=2)
        return np.where(match.any(axis=1), match.argmax(axis=1), -1)

    def element(self, element) -> int:
        """The index of an element given by index, name (``"r^2 m"``) or matrix."""
        if is_int(element):
            if 0 <= element < self.order:
                return int(element)
        elif isinstance(element, str):
            if element in self.element_names:
                return self.element_names.index(element)
        else:
            matrix = np.asarray(element)
            if matrix.shape == (self.rank, self.rank):
                index = int(self._lookup(matrix[None].astype(np.int64))[0])
                if index >= 0:
                    return index
        raise ValueError(
            f"element must be an index in range({self.order}), a name in "
            f"{self.element_names} or a {self.rank}x{self.rank} matrix of group "
            f"{self.name!r}, but got {element!r}"
        )

    @cached_property
    def swaps_axes(self) -> bool:
        """Whether some element exchanges spatial axes (quarter turns, ``"O"``)."""
        eye = np.eye(self.rank, dtype=bool)
        return bool(((self.matrices != 0) != eye).any())

    def __repr__(self) -> str:
        return f"PixelGroup({self.name!r}, order={self.order})"


def _dihedral(name: str, turns: int, mirror: bool) -> PixelGroup:
    """``C_N`` / ``D_N`` with ``N = turns``: elements ``r^(q*4/N) m^f`` at ``f*N + q``."""
    step = 4 // turns
    mats, names = [], []
    for f in range(2 if mirror else 1):
        for q in range(turns):
            power = q * step
            turn = np.linalg.matrix_power(_QUARTER, power)
            mats.append(turn @ np.linalg.matrix_power(_MIRROR, f))
            rot = "" if power == 0 else ("r" if power == 1 else f"r^{power}")
            names.append(" ".join(p for p in (rot, "m" if f else "") if p) or "e")
    return PixelGroup(name, np.array(mats, dtype=np.int64), tuple(names))


def _cube() -> PixelGroup:
    """The 24 rotations of the cube: signed permutation matrices, det 1."""
    import itertools

    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3), dtype=np.int64)
            m[list(perm), range(3)] = signs
            if round(np.linalg.det(m)) == 1:
                mats.append(m)
    mats.sort(key=lambda m: tuple(m.ravel()), reverse=True)  # identity first
    return PixelGroup("O", np.array(mats), ("e", *(f"g{i}" for i in range(1, 24))))


def pixel_group(name) -> PixelGroup:
    """The group named ``"C2"``, ``"C4"``, ``"D1"``, ``"D2"``, ``"D4"`` or ``"O"``.

    >>> pixel_group("C4").element_names
    ('e', 'r', 'r^2', 'r^3')
    """
    if isinstance(name, PixelGroup):
        return name
    if not isinstance(name, str) or name not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, but got {name!r}")
    return _pixel_group(name)


@cache
def _pixel_group(name: str) -> PixelGroup:
    if name == "O":
        return _cube()
    return _dihedral(name, int(name[1]), name[0] == "D")


# ------------------------------------------------------------ representations
@dataclass(frozen=True, eq=False)
class Representation:
    """A signed permutation representation: ``rho(g) e_j = sign[g, j] e_{perm[g, j]}``.

    Attributes
    ----------
    group : PixelGroup
    name : str
    perm : ndarray of int64, shape (order, dim)
    sign : ndarray of int64, shape (order, dim), entries +-1

    >>> rho = representation("C4", "quotient:C2")
    >>> rho.dim, rho.matrix(1).tolist(), rho.character.tolist()
    (2, [[0, 1], [1, 0]], [2, 0, 2, 0])
    """

    group: PixelGroup
    name: str
    perm: np.ndarray
    sign: np.ndarray

    @property
    def dim(self) -> int:
        return self.perm.shape[1]

    def matrix(self, element) -> np.ndarray:
        """``rho(g)`` as an integer matrix."""
        g = self.group.element(element)
        out = np.zeros((self.dim, self.dim), dtype=np.int64)
        out[self.perm[g], np.arange(self.dim)] = self.sign[g]
        return out

    @cached_property
    def character(self) -> np.ndarray:
        """``chi(g) = trace rho(g)``, shape (order,)."""
        fixed = self.perm == np.arange(self.dim)
        return (self.sign * fixed).sum(axis=1)

    def __repr__(self) -> str:
        return f"Representation({self.group.name!r}, {self.name!r}, dim={self.dim})"


def representation_names(group) -> tuple[str, ...]:
    """The representation names a group accepts (see the module doc)."""
    G = pixel_group(group)
    names = ["trivial", "regular"]
    if G.name != "D1":
        names.append("sign")
    if G.name[0] == "D":
        names.append("det")
    for sub in GROUPS:
        H = pixel_group(sub)
        if H.rank == G.rank and 1 < H.order < G.order and (G._lookup(H.matrices) >= 0).all():
            names.append(f"quotient:{sub}")
    return tuple(names)


@cache
def _representation(group: str, name: str) -> Representation:
    G = pixel_group(group)
    n = G.order
    if name == "trivial":
        return Representation(G, name, np.zeros((n, 1), np.int64), np.ones((n, 1), np.int64))
    if name == "regular":
        return Representation(G, name, G.table.copy(), np.ones((n, n), np.int64))
    if name in ("sign", "det"):
        if name == "det":
            values = np.rint(np.linalg.det(G.matrices)).astype(np.int64)
        elif G.name == "O":  # the sign of the axis permutation
            perms = np.abs(G.matrices).argmax(axis=1)
            values = np.rint(np.linalg.det(np.eye(3, dtype=np.int64)[perms])).astype(np.int64)
        else:  # (-1)^q on r^(q step) m^f
            turns = int(G.name[1])
            values = np.where((np.arange(n) % turns) % 2 == 1, -1, 1).astype(np.int64)
        return Representation(G, name, np.zeros((n, 1), np.int64), values[:, None])
    H = pixel_group(name.split(":", 1)[1])
    sub = G._lookup(H.matrices)
    first = G.table[:, sub].min(axis=1)  # coset gH -> its first element
    cosets = np.unique(first)  # sorted: cosets by first element
    members = G.table[:, cosets]  # g . (first element of coset j)
    perm = np.searchsorted(cosets, first[members])
    return Representation(G, name, perm, np.ones(perm.shape, np.int64))


def representation(group, name) -> Representation:
    """The representation ``name`` of ``group`` (a name or a :class:`Representation`).

    >>> representation("D4", "regular").dim, representation("D4", "quotient:D1").dim
    (8, 4)
    """
    G = pixel_group(group)
    if isinstance(name, Representation):
        if name.group.name != G.name:
            raise ValueError(
                f"rep must be a representation of {G.name!r}, but got one of {name.group.name!r}"
            )
        return name
    names = representation_names(G)
    if name not in names:
        raise ValueError(f"rep of group {G.name!r} must be one of {names}, but got {name!r}")
    return _representation(G.name, name)


# --------------------------------------------------------------- kernel sizes
def check_kernel(G: PixelGroup, kernel_size, dilation) -> tuple[int, ...]:
    """Validate a kernel (and dilation) that every element maps onto itself."""
    out = []
    for arg, value in (("kernel_size", kernel_size), ("dilation", dilation)):
        values = (value,) * G.rank if is_int(value) else value
        if (
            not isinstance(values, (tuple, list))
            or len(values) != G.rank
            or not all(is_int(v) and v >= 1 for v in values)
        ):
            raise ValueError(
                f"{arg} must be a positive integer or a tuple of {G.rank} of them for "
                f"group {G.name!r}, but got {value!r}"
            )
        values = tuple(int(v) for v in values)
        if G.swaps_axes and len(set(values)) > 1:
            raise ValueError(
                f"{arg} must be equal on every axis for group {G.name!r} (its elements "
                f"exchange axes), but got {values}"
            )
        out.append(values)
    return out[0]


def position_action(matrices: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """``act[g, m]``: the flat index of ``M_g u(m)`` on a grid of ``size``, for
    signed permutation matrices ``matrices`` of shape ``(count, rank, rank)``.

    Offsets are doubled (``2m - (n-1)``) so that even sizes stay integer.
    """
    grids = np.indices(size).reshape(len(size), -1)
    n = np.array(size)[:, None]
    doubled = 2 * grids - (n - 1)  # (rank, K)
    moved = np.einsum("gab,bk->gak", matrices, doubled)
    index = (moved + (n - 1)[None]) // 2
    return np.ravel_multi_index(tuple(np.moveaxis(index, 1, 0)), size)


@dataclass(frozen=True, eq=False)
class KernelOrbits:
    """Orbits of ``(o, i, tap)`` triples: the tied kernel of one field pair.

    Attributes
    ----------
    shape : tuple of int
        ``(dim_out, dim_in, *kernel_size)``; triples are its flat indices.
    orbit : ndarray of int64, shape (prod(shape),)
        The basis kernel (free weight) of each triple; -1 where the orbit is
        forced to zero.
    sign : ndarray of int64, shape (prod(shape),)
        ``+-1`` (0 where forced to zero): basis kernel ``b`` is
        ``sign * (orbit == b)``.
    dimension : int
        Number of basis kernels.
    """

    shape: tuple[int, ...]
    orbit: np.ndarray
    sign: np.ndarray
    dimension: int

    def basis(self) -> np.ndarray:
        """All basis kernels as one int64 array ``(dimension, *shape)``."""
        out = np.zeros((self.dimension, self.orbit.size), dtype=np.int64)
        live = np.flatnonzero(self.orbit >= 0)
        out[self.orbit[live], live] = self.sign[live]
        return out.reshape(self.dimension, *self.shape)


@lru_cache(maxsize=128)
def _orbits(group: str, rep_in: str, rep_out: str, kernel: tuple[int, ...]) -> KernelOrbits:
    G = pixel_group(group)
    r_in, r_out = _representation(group, rep_in), _representation(group, rep_out)
    shape = (r_out.dim, r_in.dim, *kernel)
    n_taps = math.prod(kernel)
    total = math.prod(shape)
    if total * G.order > MAX_ACTION_ENTRIES:
        raise ValueError(
            f"kernel space must have at most {MAX_ACTION_ENTRIES} (element, weight) "
            f"pairs, but {G.name} with {rep_out} x {rep_in} fields and kernel {kernel} "
            f"has {total * G.order}"
        )
    # action and sign of every element on every triple, by broadcasting (g, o, i, tap)
    pos = position_action(G.matrices, kernel)[:, None, None, :]
    o_to = r_out.perm[:, :, None, None]
    i_to = r_in.perm[:, None, :, None]
    act = ((o_to * r_in.dim + i_to) * n_taps + pos).reshape(G.order, total)
    sgn = (r_out.sign[:, :, None, None] * r_in.sign[:, None, :, None]).repeat(n_taps, axis=3)
    sgn = sgn.reshape(G.order, total)

    first = act.min(axis=0)  # canonical triple of each orbit
    # a triple whose stabiliser acts by -1 forces its orbit to zero
    dead_at = ((act == np.arange(total)) & (sgn < 0)).any(axis=0)
    dead = dead_at[first]
    # the element carrying each orbit's first triple to the triple, and its sign
    carrier = (act[:, first] == np.arange(total)).argmax(axis=0)
    sign = np.where(dead, 0, sgn[carrier, first])
    heads = np.unique(first[~dead])
    orbit = np.where(dead, -1, np.searchsorted(heads, first))
    for a in (orbit, sign):
        a.flags.writeable = False
    return KernelOrbits(shape, orbit, sign, len(heads))


def kernel_orbits(group, kernel_size, in_rep="trivial", out_rep="trivial") -> KernelOrbits:
    """The (cached) :class:`KernelOrbits` of one field pair.

    Basis kernels are numbered by the first triple of their orbit in the flat
    order of ``(o, i, *tap)``.  So for a ``"regular"`` output the free
    weights are the kernel of output channel ``e`` in flat ``(i, *tap)``
    order (no orbit is forced to zero: the group acts freely on ``o``) and
    the other output channels are its turned copies, as in Cohen & Welling's
    rotated filter stacks.
    """
    G = pixel_group(group)
    kernel = check_kernel(G, kernel_size, 1)
    r_in, r_out = representation(G, in_rep), representation(G, out_rep)
    return _orbits(G.name, r_in.name, r_out.name, kernel)


def equivariant_kernel_basis(group, kernel_size, in_rep="trivial", out_rep="trivial", *,
                             dilation=1) -> list[np.ndarray]:
    """An exact basis of the kernels with ``K(M_g u) = rho_out(g) K(u) rho_in(g)^-1``.

    Each basis kernel is an object array of sympy Integers (``0``, ``+-1``)
    of shape ``(dim_out, dim_in, *kernel_size)``: ``+-1`` on one orbit of
    ``(o, i, tap)`` triples, 0 elsewhere (see the module doc).  Their number
    is :func:`kernel_space_dimension`.  ``dilation`` does not change the basis
    (the group acts on dilated taps as on undilated ones); it is validated so
    that a dilated kernel is described the same way.

    Parameters
    ----------
    group : {"C2", "C4", "D1", "D2", "D4", "O"}
    kernel_size : int or tuple of int
        Equal on every axis for groups that exchange axes.
    in_rep, out_rep : str or Representation
        ``"trivial"``, ``"regular"``, ``"sign"``, ``"det"``, ``"quotient:H"``.
    dilation : int or tuple of int

    Examples
    --------
    >>> basis = equivariant_kernel_basis("C4", 3)
    >>> len(basis), basis[1][0, 0].tolist()           # centre, edges, corners
    (3, [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> len(equivariant_kernel_basis("C4", 2, "regular", "regular"))
    16

    A convolution ``F.conv2d(x, K)`` with ``K = sum_b c_b basis[b]`` (fields
    stacked along the channels) commutes with ``torch.rot90`` of its input
    and output (and ``rho`` on the channels) where the grid allows: see
    :func:`symtoe.analysis.symmetry.check_rotation`.
    """
    G = pixel_group(group)
    check_kernel(G, kernel_size, dilation)
    import sympy

    values = kernel_orbits(G, kernel_size, in_rep, out_rep).basis()
    exact = np.array([sympy.S.Zero, sympy.S.One, sympy.S.NegativeOne], dtype=object)
    return list(exact[values % 3])


def _fixed_taps(matrix: np.ndarray, kernel: tuple[int, ...]) -> int:
    """Taps with ``M u = u``: per cycle of the axis permutation, ``k`` if the
    signs along the cycle multiply to +1, else ``[k odd]`` (only offset 0)."""
    perm = np.abs(matrix).argmax(axis=0)  # axis a goes to axis perm[a]
    signs = matrix[perm, np.arange(len(perm))]
    seen, count = set(), 1
    for start in range(len(perm)):  # cycles of a permutation of <= 3 axes
        if start in seen:
            continue
        a, product = start, 1
        while a not in seen:
            seen.add(a)
            product *= int(signs[a])
            a = int(perm[a])
        k = kernel[start]
        count *= k if product == 1 else k % 2
    return count


def kernel_space_dimension(group, kernel_size, in_rep="trivial", out_rep="trivial", *,
                           dilation=1) -> int:
    """The dimension of the equivariant kernel space, in closed form.

    ``dim = (1/|G|) sum_g fix_k(g) chi_out(g) chi_in(g)`` (see the module
    doc).  For example C4, trivial: ``(k^2 + 3 [k odd]) / 4`` (3, 7, 13 for
    k = 3, 5, 7); D4, trivial: ``(k^2 + 2k + [k odd] (2k + 3)) / 8`` (3, 6,
    10); a regular field on either side: ``k^2 * dim`` of the other side
    (C4 regular -> regular: ``4 k^2``; D4: ``8 k^2``).  Independent of
    ``dilation``.

    >>> [kernel_space_dimension("C4", k) for k in (3, 5, 7)]
    [3, 7, 13]
    >>> [kernel_space_dimension("D4", k, "regular", "regular") for k in (3, 5, 7)]
    [72, 200, 392]
    >>> kernel_space_dimension("C4", 3, "trivial", "sign")  # the centre is forced to 0
    2
    """
    G = pixel_group(group)
    kernel = check_kernel(G, kernel_size, dilation)
    r_in, r_out = representation(G, in_rep), representation(G, out_rep)
    fixed = np.array([_fixed_taps(m, kernel) for m in G.matrices])  # one per element
    total = int((fixed * r_out.character * r_in.character).sum())
    assert total % G.order == 0, "the character formula gives an integer"
    return total // G.order


# ------------------------------------------------------------------- actions
def field_source(rep: Representation, element: int, fields: int, size) -> tuple:
    """Index map of ``g`` on ``fields`` copies of ``rep`` over a grid of ``size``.

    ``(g x)[f, a, m] = sign * x[f, a', m']`` with ``a' = perm^-1(a)``,
    ``sign = sign[g, a']`` and ``m' = g^-1 m``; returned as flat ``(src,
    sign)`` arrays over ``(f, a, *m)`` (``x.flatten()`` order of one sample).
    """
    G = rep.group
    size = tuple(size)
    inv = G.inverse[element]
    pos = position_action(G.matrices[inv][None], size)[0]  # m -> g^-1 m
    back = np.argsort(rep.perm[element])  # a -> perm^-1(a)
    n = math.prod(size)
    f = np.arange(fields)[:, None, None]
    src = (f * rep.dim + back[None, :, None]) * n + pos[None, None, :]
    sign = np.broadcast_to(rep.sign[element][back][None, :, None], src.shape)
    return src.ravel(), sign.ravel().copy()


def apply_group_element(x, group, element, rep="trivial"):
    """``g`` acting on a batch of fields (numpy array or torch tensor).

    ``x`` has shape ``(..., fields * dim, *spatial)`` with ``rank`` trailing
    spatial axes (2, or 3 for ``"O"``): ``(g x)[f, a, m] = sum_b rho(g)[a, b]
    x[f, b, g^-1 m]``.  For ``"C4"``, element ``r`` on a ``"trivial"`` field is
    ``torch.rot90(x, 1, dims=(-2, -1))``; on a ``"regular"`` field the
    channels of each field also roll by one.

    >>> x = np.arange(6).reshape(1, 1, 2, 3)
    >>> apply_group_element(x, "D1", "m").ravel().tolist()
    [2, 1, 0, 5, 4, 3]
    >>> y = np.arange(4).reshape(1, 1, 2, 2)
    >>> bool((apply_group_element(y, "C4", "r") == np.rot90(y, 1, axes=(-2, -1))).all())
    True
    """
    G = pixel_group(group)
    rho = representation(G, rep)
    g = G.element(element)
    rank = G.rank
    if x.ndim < rank + 1:
        raise ValueError(
            f"x must have a channel axis and {rank} spatial axes, but got shape {tuple(x.shape)}"
        )
    channels, spatial = x.shape[-rank - 1], tuple(x.shape[-rank:])
    if channels % rho.dim:
        raise ValueError(
            f"x must have a multiple of {rho.dim} channels ({rho.name} fields), "
            f"but got {channels}"
        )
    if G.swaps_axes and len(set(spatial)) > 1:
        raise ValueError(
            f"x must have equal spatial sizes for group {G.name!r}, but got {spatial}"
        )
    src, sign = field_source(rho, g, channels // rho.dim, spatial)
    lead = tuple(x.shape[: -rank - 1])
    flat = x.reshape(*lead, -1)
    if isinstance(x, np.ndarray):
        out = np.take(flat, src, axis=-1) * sign.astype(flat.dtype)
    else:
        import torch

        index = torch.as_tensor(src, device=x.device)
        out = flat.index_select(-1, index) * torch.as_tensor(sign, device=x.device).to(x.dtype)
    return out.reshape(x.shape)
