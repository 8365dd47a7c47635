"""Files pyro-vae writes and reads back: atomic writes, JSON with one-line errors.

Every file is written through :func:`atomic_write_bytes`: into a temporary file beside the
target (``.NAME.XXXX.tmp``), flushed and fsync-ed, then renamed over the target, so a reader
(or a run killed mid-write) sees the old file or the new one, never half of one. Temporary
files get the permissions of ordinary files (``0o666`` less the umask), like every other file
in a run directory; :func:`remove_stale_temporaries` deletes those an interrupted write left.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import OutputError, RunDirError

TEMP_PATTERN = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # what atomic_write_bytes creates


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, writer) -> Path:
    """Write through ``writer(binary_file)`` into a temporary file, then rename it over ``path``.

    :raises OutputError: the folder does not exist or cannot be written (one line, with the path).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}: choose a folder that exists and "
                          f"that you can write to") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    return path


def write_json(path, obj) -> Path:
    """``obj`` as indented JSON, atomically (NaN written as ``NaN``, which Python reads back)."""
    return atomic_write_bytes(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def read_json_object(path, fix: str) -> dict:
    """The JSON object in ``path``; a :class:`RunDirError` naming the file, what is wrong and
    ``fix`` when it is missing, not UTF-8, not JSON or not an object."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise RunDirError(f"{path} not found: {fix}") from None
    except UnicodeDecodeError:
        raise RunDirError(f"{path} is not UTF-8 text (damaged?): {fix}") from None
    except OSError as e:
        raise RunDirError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}): {fix}") from None
    if not isinstance(obj, dict):
        raise RunDirError(f"{path} holds a JSON {type(obj).__name__}, not an object: {fix}")
    return obj


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporary files that interrupted :func:`atomic_write_bytes` calls left in
    ``folder``; return them. Only call it while no other process writes there (under the lock)."""
    removed = []
    for entry in Path(folder).iterdir():
        if entry.is_file() and TEMP_PATTERN.match(entry.name):
            entry.unlink()
            removed.append(entry)
    return removed
