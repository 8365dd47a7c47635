"""Models by name: a registry that model files add themselves to (the convention of
:mod:`pyro_vae.registries`).

Zoo files live in the top-level ``models/`` folder, which is installed as the package
``pyro_vae.zoo``; every module there is imported on first use and registers its classes with
:func:`register_model`. A user's own file works the same way: ``pyro-vae train --model
my_model.py`` imports it and takes the model it registers (``my_model.py:name`` when it
registers several). Adding a model touches no central file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ModelError, PyroVAEError
from .registries import Registry, first_doc_line


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    description: str
    source: Optional[str]  # the file of a model registered from outside the zoo


# A user's model file is imported again from its copy in a run directory (another module name):
# the same class name there is the same model.
MODELS: Registry[ModelEntry] = Registry("model", ModelError, target=lambda e: e.cls, packages=["pyro_vae.zoo"],
                                        hint=" or give a .py file", same=lambda a, b: a.__qualname__ == b.__qualname__)
_loading_file: Optional[str] = None  # set while a user's model file is being imported
_USER_FILES: set = set()  # every user model file imported in this process (resolved paths)


def register_model(name: str, description: Optional[str] = None):
    """Class decorator: make a :class:`~pyro_vae.model.LatentVariableModel` available by ``name``."""

    def decorate(cls):
        from .model import LatentVariableModel

        if not (isinstance(cls, type) and issubclass(cls, LatentVariableModel)):
            raise ModelError(f"@register_model({name!r}) must decorate a LatentVariableModel subclass")
        MODELS.add(name, ModelEntry(name, cls, description or first_doc_line(cls), _loading_file))
        return cls

    return decorate


def load_zoo() -> None:
    """Import every module of the zoo (``models/``, installed as ``pyro_vae.zoo``) once."""
    MODELS.discover()


def zoo_listing() -> list[tuple[str, str, str]]:
    """``(name, likelihood, description)`` of every zoo model, read from the zoo's source with
    :mod:`ast` instead of importing it (no torch: ``pyro-vae models`` starts in a fraction of a
    second). It reads the same ``@register_model`` decorators, class docstrings and
    ``likelihood`` attributes the registry does; a test keeps the two in agreement."""
    import ast

    spec = importlib.util.find_spec("pyro_vae.zoo")
    rows = []
    for folder in spec.submodule_search_locations:
        for file in sorted(Path(folder).glob("*.py")):
            if file.name.startswith("_"):
                continue
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.ClassDef):
                    rows.extend(_listing_rows(node))
    return sorted(rows)


def _listing_rows(node) -> list[tuple[str, str, str]]:
    import ast

    likelihood = next((stmt.value.value for stmt in node.body if isinstance(stmt, ast.Assign)
                       and any(getattr(t, "id", None) == "likelihood" for t in stmt.targets)
                       and isinstance(stmt.value, ast.Constant)), "bernoulli")
    doc = (ast.get_docstring(node) or "").strip().splitlines()
    rows = []
    for deco in node.decorator_list:
        if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register_model" and deco.args:
            args = [a.value for a in deco.args if isinstance(a, ast.Constant)]
            rows.append((args[0], likelihood, args[1] if len(args) > 1 else (doc[0] if doc else "")))
    return rows


def model_entries() -> list[ModelEntry]:
    return MODELS.entries()


def load_model_file(path: str) -> list[str]:
    """Import a user's model file; return the names it registered."""
    global _loading_file
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ModelError(f"model file {path} does not exist: give a zoo name (see `pyro-vae models`) or a .py file")
    before = {e.name: e.cls for e in MODELS.entries()}
    module_name = f"pyro_vae_user_{abs(hash(str(file)))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    _loading_file = str(file)
    _USER_FILES.add(str(file))
    try:
        spec.loader.exec_module(module)
    except ModelError:
        raise
    except Exception as e:  # the user's code: name the file and the error, not our stack
        raise ModelError(f"importing {file} failed: {type(e).__name__}: {e}") from e
    finally:
        _loading_file = None
    added = [e.name for e in MODELS.entries() if before.get(e.name) is not e.cls]
    if not added:
        raise ModelError(f"{file} registers no model: decorate a LatentVariableModel with @register_model('name')")
    return added


def user_code_frame(error: BaseException) -> Optional[tuple[str, int, str]]:
    """``(file, line, function)`` of the innermost frame of ``error``'s traceback that lies in a
    user's model file imported here, or None: an exception raised inside a user's model or guide
    (a network of the wrong width, a typo) is the user's to fix, not a bug of pyro-vae."""
    found, tb = None, error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if str(Path(code.co_filename).resolve()) in _USER_FILES:
            found = (code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return found


def resolve(name_or_path: str) -> ModelEntry:
    """The entry for a zoo name, ``file.py`` or ``file.py:name``."""
    target, _, pick = name_or_path.partition(":") if ".py:" in name_or_path else (name_or_path, "", "")
    if target.endswith(".py"):
        added = load_model_file(target)
        if pick:
            if pick not in added:
                raise ModelError(f"{target} registers {added}, not {pick!r}")
            return MODELS.get(pick)
        if len(added) > 1:
            raise ModelError(f"{target} registers several models {added}: pick one as {target}:NAME")
        return MODELS.get(added[0])
    return MODELS.get(target)


def build_model(name_or_path: str, data: dict, **hparams):
    """Build the model ``name_or_path`` for data described by ``data`` (``Dataset.info()``).

    ``hparams`` are checked against the model's keyword defaults first
    (:func:`pyro_vae.options.check_hyperparameters`); an exception raised by the model's own
    constructor becomes a :class:`ModelError` naming the model, its file and the exception.
    """
    from .options import check_hyperparameters

    entry = resolve(name_or_path)
    check_hyperparameters(entry.name, entry.cls, hparams, zoo=entry.cls.__module__.startswith("pyro_vae."))
    try:
        model = entry.cls(data, **hparams)
    except PyroVAEError:
        raise
    except Exception as e:  # the model's own code: name it and the error, not our stack
        where = f" (in {entry.source})" if entry.source else ""
        message = (str(e).strip().splitlines() or [""])[0]
        options = ", ".join(f"{k}={v!r}" for k, v in hparams.items()) or "default options"
        raise ModelError(f"building model {entry.name!r}{where} with {options} failed: "
                         f"{type(e).__name__}: {message}") from e
    model.spec = {"model": entry.name, "source": entry.source, "hparams": hparams, "data": dict(data)}
    return model


def model_from_spec(spec: dict, run_path=None):
    """Rebuild a model (untrained) from the JSON ``spec`` a checkpoint was saved with.

    A user's model file is kept in the run directory (``source`` relative to ``run_path``,
    with its ``source_sha256``); a copy edited since the run was trained is refused.
    """
    source = spec.get("source")
    if source:
        path = Path(source)
        if not path.is_absolute() and run_path is not None:
            path = Path(run_path) / path
        if spec.get("source_sha256") and path.is_file():
            import hashlib

            if hashlib.sha256(path.read_bytes()).hexdigest() != spec["source_sha256"]:
                raise ModelError(f"{path} changed since the run was trained (its sha256 differs from model.json): "
                                 f"the checkpoint belongs to the code as it was; restore the file or train anew")
        source = str(path)
    name = f"{source}:{spec['model']}" if source else spec["model"]
    return build_model(name, spec["data"], **spec.get("hparams", {}))
