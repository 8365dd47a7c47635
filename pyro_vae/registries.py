"""Things by name that modules add themselves to: one convention for models, datasets, losses and
data-file formats.

* **Adding**: a decorator (``@register_model``, ``@register_dataset``, ``@register_loss``,
  ``@register_file_format``) puts the decorated object in its :class:`Registry` when its module is
  imported. No central list names it.
* **Discovery**: the first time a registry is asked for a name or a listing it imports every
  module of its home packages (the zoo ``pyro_vae.zoo``, ``pyro_vae.data.named``,
  ``pyro_vae.infer.estimators``, ``pyro_vae.data.formats``), so a new file there is found.
* **Duplicates**: a name taken by a different object is an error naming both (a module imported
  twice registers the same object again, which is no conflict).
* **Unknown names**: one error listing the registered names.
* **Options**: :func:`keyword_options` lists what an entry's callable takes, with its defaults;
  ``pyro-vae models NAME`` (``losses NAME``, ``datasets NAME``) prints them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Callable, Generic, Iterable, Optional, TypeVar

from .errors import PyroVAEError

E = TypeVar("E")


def qualified_name(obj) -> str:
    """``module.QualName`` of a class or function (what decides whether two registrations differ)."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def import_package_modules(package: str) -> None:
    """Import every module of ``package`` whose name does not start with ``_``."""
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


class Registry(Generic[E]):
    """Entries by name. ``kind`` names an entry in messages ("model", "loss"); ``error`` is the
    exception class of its mistakes; ``target(entry)`` is the registered object (for the duplicate
    rule); ``same(a, b)`` says whether two entries are one registration made twice (default: the
    same qualified name); ``packages`` are imported once before the first lookup or listing."""

    def __init__(self, kind: str, error: type[PyroVAEError], target: Callable[[E], object],
                 packages: Iterable[str] = (), hint: str = "",
                 same: Optional[Callable[[object, object], bool]] = None):
        self.kind, self.error, self.target = kind, error, target
        self.same = same or (lambda a, b: qualified_name(a) == qualified_name(b))
        self.packages, self.hint = tuple(packages), hint
        self._entries: dict[str, E] = {}
        self._discovered = False

    def add(self, name: str, entry: E) -> E:
        old = self._entries.get(name)
        if old is not None and not self.same(self.target(old), self.target(entry)):
            raise self.error(f"two {self.kind}s are registered as {name!r}: {qualified_name(self.target(old))} and "
                             f"{qualified_name(self.target(entry))}; rename one")
        self._entries[name] = entry
        return entry

    def discover(self) -> None:
        if not self._discovered:
            self._discovered = True
            for package in self.packages:
                import_package_modules(package)

    def get(self, name: str) -> E:
        self.discover()
        if name not in self._entries:
            raise self.error(f"unknown {self.kind} {name!r}: choose one of {', '.join(self.names())}{self.hint}")
        return self._entries[name]

    def find(self, name: str) -> Optional[E]:
        """The entry ``name`` or None (no error)."""
        self.discover()
        return self._entries.get(name)

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def entries(self) -> list[E]:
        return [self._entries[n] for n in self.names()]


def keyword_options(fn, skip: Iterable[str] = ()) -> list[tuple[str, object]]:
    """``(name, default)`` of the keyword parameters of ``fn`` (``inspect.Parameter.empty`` for
    none), leaving out ``self``, ``skip`` and ``*args`` / ``**kwargs``."""
    skipped = {"self", *skip}
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.name not in skipped and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def first_doc_line(obj) -> str:
    """The first line of ``obj``'s own docstring (not one inherited from a base class)."""
    doc = inspect.cleandoc(getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""
