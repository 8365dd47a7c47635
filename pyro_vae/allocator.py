r"""glibc's malloc set for block-sized tensors: the command line calls :func:`tune_malloc` once.

torch takes CPU tensors from ``malloc``. With its defaults, glibc (Linux) serves a request above
its *mmap threshold* with a fresh ``mmap`` and returns the free top of its heap to the system once
it exceeds the *trim threshold*; both thresholds move as memory is freed. An evaluation allocates
and frees tensors of one block's size (``max_elements x 784`` floats: 13 MB) thousands of times,
and under those rules many of them are new memory each time, whose pages the kernel supplies on
first touch: a page fault per 4 KiB, about 3200 per tensor. So :func:`tune_malloc` fixes the
mmap threshold at its largest allowed value (32 MiB on 64-bit glibc: block-sized tensors come from
the heap) and the trim threshold at 1 GiB (freed blocks stay in the heap for the next chunk).

Measured (``benchmarks/eval_memory.py``, AMD EPYC 2-core VM, 2026-12-04, ``pyro-vae evaluate``
with K=5000 on 2000 test images, each run its own process, 2 rounds in palindromic order): 79 s
with these settings against 121 s with glibc's defaults and 172 s with the mmap threshold fixed at
1 MiB, peak RSS 1136, 1116 and 1100 MB. Outside that table: fixing only the trim threshold took
154-157 s. ``tests/test_allocator.py`` counts the page faults of a loop over eight block-sized
tensors (25,000 per iteration with the defaults in most runs, none with these settings).

The settings stay for the process: the heap keeps up to 1 GiB of freed memory instead of returning
it, which a command that ends with its work can afford. Nothing is changed where the user chose:
``PYRO_VAE_MALLOC=system`` (glibc's defaults), any ``MALLOC_*`` or ``GLIBC_TUNABLES`` variable, an
allocator preloaded with ``LD_PRELOAD`` (jemalloc, tcmalloc), or a C library other than glibc.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: ``mallopt`` parameters (glibc's ``malloc.h``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: The largest mmap threshold glibc accepts on 64-bit systems (``HEAP_MAX_SIZE / 2``).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


def user_chose_allocator(environ=os.environ) -> bool:
    """Whether the environment already configures malloc (then it is left alone)."""
    preload = environ.get("LD_PRELOAD", "")
    return (environ.get("PYRO_VAE_MALLOC") == "system" or any(name.startswith("MALLOC_") for name in environ)
            or "GLIBC_TUNABLES" in environ or "malloc" in preload)


def tune_malloc() -> bool:
    """Sets glibc's mmap and trim thresholds for block-sized tensors (module docstring); True if
    it did, False where it leaves malloc alone (not glibc, or the user's choice)."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or user_chose_allocator():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
