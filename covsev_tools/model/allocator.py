"""The C allocator's handling of large blocks: reuse freed activation buffers in forward passes.

Each forward pass allocates and frees activations of 10-50 MB (batch of 16). Above glibc's mmap
threshold (at most 32 MB by default) every such block is a fresh ``mmap`` whose pages the kernel
zeroes on first touch, so each batch pays page faults for memory it just gave back. PyTorch's CPU
tuning guide reaches the same effect by preloading jemalloc or tcmalloc.

How much it pays is measured by ``benchmarks/predict_speed.py`` (its allocator variant) and stated
in ``docs/readme/model.md`` (speed).

Examples
--------
>>> import platform
>>> on_glibc = platform.libc_ver()[0] == "glibc"  # elsewhere there is no mallopt: nothing changes
>>> reuse_large_allocations() == on_glibc
True
>>> restore_default_allocator() == on_glibc
True
"""
from __future__ import annotations

# glibc <malloc.h> parameters
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
LARGE_BLOCKS_FROM_HEAP = 1 << 30  # serve blocks up to 1 GiB from the heap, not from mmap
HEAP_SLACK = 256 << 20            # and keep up to 256 MiB freed at its top for the next batch
# glibc's own limits once its dynamic thresholds have adapted: mmap above 32 MiB, trim above 64 MiB
GLIBC_STEADY_STATE = {"mmap_threshold": 32 << 20, "top_pad": 128 << 10, "trim_threshold": 64 << 20}


def reuse_large_allocations() -> bool:
    """Let the C allocator reuse freed activation buffers instead of unmapping them.

    Serving large blocks from the heap and keeping up to 256 MiB of free memory at its top removes
    the page faults of fresh mappings. The setting is process-wide (it also applies to numpy and other allocations)
    and keeps the process's memory at its peak plus at most 256 MiB. Where the C library has no
    ``mallopt`` (macOS, Windows, musl's is a no-op) nothing changes.

    Returns
    -------
    bool
        True when both settings were accepted.

    Examples
    --------
    >>> import platform
    >>> reuse_large_allocations() == (platform.libc_ver()[0] == "glibc")
    True
    """
    # older glibc refuses thresholds above 32 MiB; that still covers most activation blocks
    return (set_allocator(LARGE_BLOCKS_FROM_HEAP, HEAP_SLACK)
            or set_allocator(GLIBC_STEADY_STATE["mmap_threshold"], HEAP_SLACK))


def restore_default_allocator() -> bool:
    """Give the process glibc's usual limits back (decoding workers need no 256 MiB of slack).

    Examples
    --------
    >>> import platform
    >>> restore_default_allocator() == (platform.libc_ver()[0] == "glibc")
    True
    """
    return set_allocator(**GLIBC_STEADY_STATE)


def set_allocator(mmap_threshold: int, top_pad: int, trim_threshold: int | None = None) -> bool:
    """glibc ``mallopt`` of the mmap threshold and the heap's top pad (and trim threshold).

    False where the C library has no ``mallopt`` or refuses a value.

    Examples
    --------
    >>> import platform
    >>> set_allocator(**GLIBC_STEADY_STATE) == (platform.libc_ver()[0] == "glibc")
    True
    """
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = [(M_MMAP_THRESHOLD, mmap_threshold), (M_TOP_PAD, top_pad)]
    if trim_threshold is not None:
        settings.append((M_TRIM_THRESHOLD, trim_threshold))
    return all(mallopt(param, value) for param, value in settings)
