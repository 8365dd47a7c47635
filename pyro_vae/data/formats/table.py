"""Comma-separated tables: ``.csv``, numeric columns, labels in ``--label-column``."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import DataError
from . import first_line, register_file_format


@register_file_format(".csv", "numeric columns, a header row optional; --label-column NAME holds labels",
                      label_column=True)
def read_csv(path: Path, label_column=None) -> tuple[dict, Optional[np.ndarray]]:
    """Numeric columns (an empty cell, NaN or inf is refused, naming its line); a header row
    is recognised by a cell that is not a number."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path} as CSV ({first_line(e)}): save a comma-separated table") from None
    if not rows:
        raise DataError(f"{path} has no rows: give a table with one datapoint per row")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path} has a header but no rows: give one datapoint per row")
    width = len(rows[0])
    label_at = _label_index(label_column, header, width, path)
    values, names = [], []
    for i, r in enumerate(body, 2 if header else 1):
        if len(r) != width:
            raise DataError(f"{path} line {i} has {len(r)} columns, the first line has {width}: every row needs "
                            f"the same columns")
        row = []
        for j, cell in enumerate(r):
            if j == label_at:
                names.append(cell.strip())
                continue
            if cell.strip() == "":
                row.append(math.nan)
            elif _is_number(cell):
                row.append(float(cell))
            else:
                col = header[j] if header else f"column {j}"
                raise DataError(f"{path} line {i}, {col}: {cell.strip()!r} is not a number: give numeric columns "
                                f"(class names belong in --label-column)")
        values.append(row)
    x = np.asarray(values, dtype=np.float32)
    if x.shape[1] == 0:
        raise DataError(f"{path} has no columns besides the label column: give at least one numeric column")
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if len(bad):  # named here by its line in the file: the checks after the split see shuffled rows
        line = int(bad[0]) + (2 if header else 1)
        raise DataError(f"{path} line {line}: an empty cell, NaN or inf ({len(bad)} row(s) have one): fill in or "
                        f"drop those rows")
    return {"train": x}, (_encode_labels(names) if label_at is not None else None)


def _label_index(label_column, header, width, path) -> Optional[int]:
    if label_column is None:
        return None
    if header and str(label_column) in header:
        return header.index(str(label_column))
    if str(label_column).isdigit() and int(label_column) < width:
        return int(label_column)
    columns = ", ".join(header) if header else f"0..{width - 1} (no header)"
    raise DataError(f"--label-column {label_column} is not a column of {path}: its columns are {columns}")


def _encode_labels(names: list) -> np.ndarray:
    """Integer labels stay as they are; class names become 0..C-1 in sorted order."""
    if all(_is_number(n) and float(n).is_integer() for n in names):
        return np.asarray([int(float(n)) for n in names], dtype=np.int64)
    classes = sorted(set(names))
    return np.asarray([classes.index(n) for n in names], dtype=np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
