"""Data-file formats by suffix (``--dataset x.SUFFIX``): a registry that reader modules add
themselves to (the convention of :mod:`pyro_vae.registries`).

A reader is ``fn(path) -> (arrays, labels)``: ``arrays`` maps ``train`` (and optionally
``valid``, ``test``) to ``[N, ...]`` numeric arrays, ``labels`` is None, one ``[N]`` integer
array for ``train``, or a dict like ``arrays``. Shapes, kind detection and the split are
:mod:`pyro_vae.data.arrays`'s. Register one in a module of this package (every module here is
imported on first use)::

    @register_file_format(".amat", "whitespace-separated rows of numbers (Larochelle's format)")
    def read_amat(path): ...

A reader that takes ``label_column=...`` (``--label-column``) says so with ``label_column=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...errors import DataError
from ...registries import Registry


@dataclass(frozen=True)
class FileFormat:
    suffix: str
    description: str
    reader: Callable
    label_column: bool = False  # the reader takes label_column= (--label-column)


FILE_FORMATS: Registry[FileFormat] = Registry("file format", DataError, target=lambda e: e.reader,
                                              packages=["pyro_vae.data.formats"])


def register_file_format(suffix: str, description: str, label_column: bool = False):
    """Decorator adding ``reader(path[, label_column]) -> (arrays, labels)`` for files ending in ``suffix``."""

    def decorate(reader):
        FILE_FORMATS.add(suffix.lower(), FileFormat(suffix.lower(), description, reader, label_column))
        return reader

    return decorate


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (at most 160 characters), for a one-line error."""
    text = str(e).strip().splitlines()
    return text[0][:160] if text else type(e).__name__
