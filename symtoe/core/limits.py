"""Sizes first, then work: the one place that decides whether a request fits.

Every builder and analysis of symtoe asks this module, from closed-form
counts (:mod:`symtoe.core.sizes`), *before* it allocates anything, and
refuses with a :class:`~symtoe.core.validate.SizeLimitError` whose message
states the cost and what to use instead.  Two kinds of limits:

* **memory**: numbers held in numpy or torch (patterns, dense and sparse
  matrices) must fit the memory available now (256 MiB and less is never
  questioned); the working memory of an analysis (certificates, index maps)
  has a fixed budget too, :data:`ANALYSIS_BYTES`;
* **usefulness**: sympy objects cost microseconds and hundreds of bytes per
  entry, so explicit symbolic matrices, symbols, commutators, eigenvalues
  and graphs have fixed budgets (the constants below; change them here).

The caches of derived objects (per-axis patterns, sharing patterns, torch
lowerings) are bounded by bytes, not entries: :func:`byte_cache`.

>>> from symtoe import ConvSpec
>>> check_pattern(ConvSpec(1, 1, 3, input_size=10**9))
Traceback (most recent call last):
...
symtoe.core.validate.SizeLimitError: the sharing pattern of ...
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections import OrderedDict, namedtuple

from .sizes import LayerSizes, layer_sizes
from .spec import ConvSpec, output_length
from .validate import SizeLimitError

__all__ = [
    "ANALYSIS_BYTES",
    "CACHE_BYTES",
    "COMMUTATOR_NONZEROS",
    "EIGENVALUE_TERMS",
    "ENTRY_CELLS",
    "EXPLICIT_ENTRIES",
    "GRAPH_EDGES",
    "IMAGE_PIXELS",
    "RECOVERY_CELLS",
    "STRUCTURE_COMPARISONS",
    "SYMBOLIC_NONZEROS",
    "SYMBOLS",
    "TEXT_CELLS",
    "available_memory",
    "byte_cache",
    "check_axis",
    "check_budget",
    "check_memory",
    "check_work",
    "check_pattern",
    "pattern_bytes",
    "sizes_of",
]

#: Explicit sympy matrices (symbolic_matrix, composed_matrix, index maps) hold
#: at most this many nonzeros.
SYMBOLIC_NONZEROS = 5_000_000
#: ``as_explicit()`` of a lazy matrix (or a slice of it) has at most this many entries.
EXPLICIT_ENTRIES = 4_000_000
#: At most this many weight symbols are made at once (weight_symbols, subs).
SYMBOLS = 1_000_000
#: ShiftCheck.commutator() builds sympy entries for at most this many nonzeros.
COMMUTATOR_NONZEROS = 200_000
#: networkx graphs have at most this many edges (each is a dict in networkx).
GRAPH_EDGES = 2_000_000
#: circulant_eigenvalues builds at most this many sympy terms.
EIGENVALUE_TERMS = 50_000
#: recover_convolution compares at most this many support cells (about 4 s).
RECOVERY_CELLS = 1_000_000_000
#: toeplitz_levels compares at most this many entries in all.
STRUCTURE_COMPARISONS = 2_000_000_000
#: Reading single entries (lazy matrices, LaTeX) looks at most this many
#: (entry, tap) cells at once.
ENTRY_CELLS = 50_000_000
#: Working memory of an analysis (certificates, index maps, exactness maps):
#: at most this many bytes, and never more than is available.
ANALYSIS_BYTES = 2 * 2**30
#: ``symtoe matrix`` prints at most this many cells as text (``--latex`` elides).
TEXT_CELLS = 4096
#: Raster images (``symtoe plot``) have at most this many pixels.
IMAGE_PIXELS = 40_000_000
#: Byte budgets of the caches of derived objects.
CACHE_BYTES = {"axis": 64 * 2**20, "pattern": 256 * 2**20, "lowering": 256 * 2**20}
#: Memory requests at most this large are not checked against the system.
_UNCHECKED_BYTES = 2**28


def _fmt_bytes(nbytes: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes} bytes"


def available_memory(device=None) -> int:
    """Bytes that can still be allocated on ``device`` (the CPU by default;
    a ``torch.device``; best effort)."""
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62


def check_memory(nbytes: int, what: str, instead: str, device=None) -> None:
    """Refuse ``nbytes`` that ``device`` (default: the CPU) cannot hold now."""
    if nbytes <= _UNCHECKED_BYTES:
        return
    available = available_memory(device)
    if nbytes > available:
        where = "" if device is None else f" on {device}"
        raise SizeLimitError(
            f"{what} would need {_fmt_bytes(nbytes)}, more than the "
            f"{_fmt_bytes(available)} available{where}; {instead}"
        )


def check_work(nbytes: int, what: str, instead: str) -> None:
    """Refuse an analysis whose working memory is over :data:`ANALYSIS_BYTES`
    (or over what is available now)."""
    if nbytes > ANALYSIS_BYTES:
        raise SizeLimitError(
            f"{what} would need {_fmt_bytes(nbytes)} of working memory, more than the "
            f"limit of {_fmt_bytes(ANALYSIS_BYTES)}; {instead}"
        )
    check_memory(nbytes, what, instead)


def check_budget(amount: int, limit: int, what: str, unit: str, instead: str) -> None:
    """Refuse ``amount`` ``unit`` (``what`` would have them) above a fixed ``limit``."""
    if amount > limit:
        raise SizeLimitError(
            f"{what} would have {amount:,} {unit}, more than the limit of {limit:,}; {instead}"
        )


# ------------------------------------------------------------------ patterns
def _axis_bytes(n, k, s, padding, d, transposed=False, output_padding=0) -> int:
    """Peak bytes of building one axis's pattern: a dozen ``(rows, k)`` tables."""
    rows = output_length(n, k, s, padding, d, transposed=transposed, output_padding=output_padding)
    return 96 * rows * k


def check_axis(n, k, s, padding, d, transposed=False, output_padding=0) -> None:
    """Refuse a per-axis pattern that cannot be built in memory."""
    check_memory(
        _axis_bytes(n, k, s, padding, d, transposed, output_padding),
        f"the per-axis pattern of n={n}, k={k}",
        "its sizes are in symtoe.core.sizes.axis_sizes (closed form)",
    )


def pattern_bytes(spec: ConvSpec, sizes: LayerSizes | None = None) -> int:
    """Peak bytes of building a spec's :class:`~symtoe.core.pattern.SharingPattern`:
    the template (row, column and ``multiplicity`` weight indices per entry of
    one output channel) and the ``(rows, C_in/groups, slots)`` tables it is
    compressed from."""
    sizes = sizes or sizes_of(spec)
    cg = spec.in_channels // spec.groups
    rows = math.prod(spec.output_size)
    slots = math.prod(min(k, a.nonzeros) for k, a in zip(spec.kernel_size, sizes.axes))
    axes = sum(_axis_bytes(*axis[:5], spec.transposed, axis[5]) for axis in spec.axes())
    return axes + 8 * cg * (sizes.spatial * (3 + sizes.multiplicity) + 3 * rows * slots)


def check_pattern(spec: ConvSpec) -> LayerSizes:
    """Refuse a sharing pattern that cannot be built in memory; the sizes otherwise."""
    sizes = sizes_of(spec)
    check_memory(
        pattern_bytes(spec, sizes),
        f"the sharing pattern of {spec} ({sizes.spatial:,} nonzeros per channel pair)",
        "use count_parameters(spec) for its counts and lazy_symbolic_matrix(spec) for "
        "its entries, or a smaller input_size",
    )
    return sizes


# -------------------------------------------------------------------- caches
CacheInfo = namedtuple("CacheInfo", "hits misses entries nbytes max_bytes")


def byte_cache(kind: str):
    """Cache a function of hashable arguments whose results have ``nbytes``,
    keeping at most ``CACHE_BYTES[kind]`` bytes (least recently used first
    out; a result larger than the whole budget is returned, not kept).

    The wrapper has ``cache_info()`` and ``cache_clear()`` like
    ``functools.lru_cache``.
    """

    def decorate(fn):
        data: OrderedDict = OrderedDict()
        stats = {"hits": 0, "misses": 0, "nbytes": 0}
        lock = threading.RLock()

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            with lock:
                if key in data:
                    data.move_to_end(key)
                    stats["hits"] += 1
                    return data[key][0]
                stats["misses"] += 1
            value = fn(*args, **kwargs)
            size = int(value.nbytes)
            budget = CACHE_BYTES[kind]
            with lock:
                if size <= budget and key not in data:
                    data[key] = (value, size)
                    stats["nbytes"] += size
                    while stats["nbytes"] > budget:
                        _, (_, old) = data.popitem(last=False)
                        stats["nbytes"] -= old
            return value

        def cache_info() -> CacheInfo:
            with lock:
                return CacheInfo(stats["hits"], stats["misses"], len(data), stats["nbytes"],
                                 CACHE_BYTES[kind])

        def cache_clear() -> None:
            with lock:
                data.clear()
                stats.update(hits=0, misses=0, nbytes=0)

        wrapper.cache_info, wrapper.cache_clear = cache_info, cache_clear
        return wrapper

    return decorate


def sizes_of(spec: ConvSpec) -> LayerSizes:
    """Closed-form sizes of a spec (cached: a few small integers per spec)."""
    return _sizes(spec)


@functools.lru_cache(maxsize=4096)
def _sizes(spec: ConvSpec) -> LayerSizes:
    return layer_sizes(spec)

