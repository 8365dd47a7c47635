"""Rows of an array that stays on disk: a memory-mapped ``.npy`` read a batch at a time.

:class:`MappedRows` stands where a ``[N, D]`` float tensor would (``len``, ``shape``,
``rows[idx]``), but holds only a ``numpy.memmap`` (``np.load(path, mmap_mode="r")``) and,
when the file was split, the row numbers that belong to this split. Indexing reads just the
rows asked for, converts them to ``float32`` (integers 0..255 divided by 255) and flattens
images, channels-last ones to channels-first. A training split larger than memory therefore
costs the pages of the current batch, which the OS may drop again (they are clean file pages).
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

#: Rows per block when a whole split is scanned (kind detection, NaN checks, means).
SCAN_ROWS = 8192


class MappedRows:
    """The rows ``index`` (all when ``None``) of ``array`` (``[N, ...]``, any numeric dtype),
    returned as flat ``float32`` tensors times ``scale`` (then ``(x - shift) / divide`` per
    column when standardized); ``channels_last`` images are moved to channels-first
    (``[H, W, C] -> [C, H, W]``) before flattening."""

    def __init__(self, array: np.ndarray, index: Optional[np.ndarray] = None, scale: float = 1.0,
                 channels_last: bool = False, shift: Optional[torch.Tensor] = None,
                 divide: Optional[torch.Tensor] = None):
        self.array = array
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self.scale = float(scale)
        self.shift, self.divide = shift, divide  # per-column standardization, (x - shift) / divide
        self.channels_last = channels_last
        self.width = int(np.prod(array.shape[1:], dtype=np.int64)) if array.ndim > 1 else 1

    def __len__(self) -> int:
        return len(self.array) if self.index is None else len(self.index)

    @property
    def shape(self) -> tuple:
        return (len(self), self.width)

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        idx = np.asarray(idx, dtype=np.int64)
        rows = idx if self.index is None else self.index[idx]
        if isinstance(self.array, np.memmap) and len(rows) > 1:
            order = np.argsort(rows, kind="stable")  # read the file forwards, put rows back in place
            block = np.empty((len(rows),) + self.array.shape[1:], dtype=self.array.dtype)
            block[order] = self.array[rows[order]]
        else:
            block = self.array[rows]  # one copy (numpy's fancy indexing)
        if self.channels_last:
            block = np.moveaxis(block, -1, 1)
        flat = np.ascontiguousarray(block).reshape(len(rows), self.width)
        out = torch.from_numpy(flat.astype(np.float32, copy=False))
        if self.scale != 1.0:
            out.mul_(self.scale)
        if self.shift is not None:
            out = (out - self.shift) / self.divide
        return out

    def blocks(self, size: int = SCAN_ROWS) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first_row, rows)`` over the whole split, ``size`` rows at a time."""
        for start in range(0, len(self), size):
            yield start, self[np.arange(start, min(start + size, len(self)))]

    def materialize(self) -> torch.Tensor:
        """All rows as one in-memory tensor (for the small valid and test splits)."""
        return self[np.arange(len(self))]


def row_blocks(x, size: int = SCAN_ROWS) -> Iterator[tuple[int, torch.Tensor]]:
    """``(first_row, rows)`` blocks of a tensor or :class:`MappedRows`."""
    if isinstance(x, MappedRows):
        yield from x.blocks(size)
    else:
        for start in range(0, len(x), size):
            yield start, x[start:start + size]
