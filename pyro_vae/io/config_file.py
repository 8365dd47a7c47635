"""Experiments as files: ``pyro-vae train --config FILE [--set KEY=VALUE ...]``.

A configuration file holds the keys of :class:`~pyro_vae.training.TrainConfig` (those of a
run's ``config.json``), so a run's own ``config.json`` is a valid ``--config`` and trains the
same run again, seed and numbers included. Formats: ``.toml`` (the standard library's
``tomllib``, Python >= 3.11, else the ``tomli`` package), ``.json``, and ``.yaml`` / ``.yml``
when PyYAML is installed. Example::

    model = "vae"
    dataset = "data/imgs.npz"
    epochs = 20
    lr = 0.0003
    [model_options]
    z_dim = 16

``--set KEY=VALUE`` overrides one key, VALUE parsed as JSON when it is JSON; ``A.B=VALUE`` sets
key ``B`` of the table ``A`` (``model_options.z_dim=2``). The keys are checked where the
configuration is built (:meth:`TrainConfig.from_dict`): unknown ones are named in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import OptionError

SUFFIXES = (".toml", ".json", ".yaml", ".yml")


def read_config_file(path) -> dict:
    """The table in ``path`` as a dict, or an :class:`OptionError` naming the file and the fix."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise OptionError(f"--config {path}: cannot read {suffix or 'a file without a suffix'}; give a .toml, "
                          f".json or .yaml file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise OptionError(f"--config {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        if suffix == ".json":
            table = json.loads(text)
        elif suffix == ".toml":
            table = _toml().loads(text)
        else:
            table = _yaml().safe_load(text)
    except OptionError:
        raise
    except Exception as e:  # JSONDecodeError, TOMLDecodeError, YAMLError: the parser's line and column
        message = " ".join(str(e).split())
        raise OptionError(f"--config {path} is not valid {suffix[1:].upper()}: {message}") from None
    if not isinstance(table, dict):
        raise OptionError(f"--config {path} holds a {type(table).__name__}; it must be a table of options "
                          f"(key = value)")
    return table


def apply_sets(table: dict, sets: list) -> dict:
    """``table`` with each ``(key, value)`` of ``--set`` applied (``a.b`` sets key b of table a)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in table.items()}
    for key, value in sets:
        head, dot, tail = key.partition(".")
        if not dot:
            out[key] = value
            continue
        inner = out.get(head)
        if inner is None:
            inner = out[head] = {}
        if not isinstance(inner, dict) or not tail:
            raise OptionError(f"--set {key}={value!r}: {head} is not a table of options; set it as {head}=VALUE")
        inner[tail] = value
    return out


def _toml():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise OptionError("reading .toml needs Python >= 3.11 or the tomli package: pip install tomli") from None
    return tomllib


def _yaml():
    try:
        import yaml
    except ImportError:
        raise OptionError("reading .yaml needs PyYAML: pip install pyyaml (or use a .toml or .json config)") from None
    return yaml
