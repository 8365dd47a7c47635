"""Where a user's data came from, recorded with a run so that the same data is found again.

:func:`describe` returns a JSON-ready record (saved as ``data_source`` in ``config.json``)::

    {"path": "/abs/path/imgs.npz", "bytes": 123456, "sha256": "...", "split": [0.8, 0.1, 0.1],
     "seed": 0, "kind": "grey", ...the options it was read with}

:func:`check_present` and :func:`check_unchanged` compare data with a record by the SHA-256
of its bytes (of every file and its relative name, for a folder) and refuse a missing or
changed one in one line that says how to point to the new place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from ..errors import DataError

_CHUNK = 1 << 22


def content_hash(path: Path) -> tuple[int, str]:
    """``(bytes, sha256)`` of a file, or of a folder's files (relative names and contents)."""
    digest = hashlib.sha256()
    if path.is_dir():
        total = 0
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(f.relative_to(path)).encode() + b"\0")
            total += _feed(digest, f)
        return total, digest.hexdigest()
    return _feed(digest, path), digest.hexdigest()


def _feed(digest, file: Path) -> int:
    size = 0
    with open(file, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size


def describe(path: Path, **options) -> dict:
    """The record of the data at ``path`` read with ``options`` (split, seed, kind, ...)."""
    size, sha = content_hash(path)
    record = {"path": str(path.expanduser().resolve()), "bytes": size, "sha256": sha}
    record.update({k: v for k, v in options.items() if v is not None})
    return record


def check_unchanged(record: dict, current: dict, pointed: bool) -> None:
    """Refuse data whose record ``current`` differs in content from the run's ``record``;
    ``pointed``: the user named the new place (``--dataset PATH``)."""
    if current.get("sha256") == record.get("sha256"):
        return
    hint = "" if pointed else "; if it moved, point to it with --dataset PATH"
    raise DataError(f"the data at {current['path']} is not the data the run was trained on ({current['bytes']} "
                    f"bytes, sha256 {current['sha256'][:12]}...; the run's: {record.get('bytes')} bytes, "
                    f"{str(record.get('sha256'))[:12]}...){hint}: restore it, or train a new run on the new data")


def check_present(record: dict, path: Optional[str]) -> str:
    """The place to read the run's data from: ``path`` when given, else the recorded one, which
    must still exist (else one line saying how to point to its new place)."""
    where = Path(path or record["path"]).expanduser()
    if not where.exists():
        if path:
            raise DataError(f"--dataset {path}: no such file or folder: give the path of the run's data")
        raise DataError(f"the run's data {where} is gone: if it moved, point to it with --dataset PATH")
    return str(where)
