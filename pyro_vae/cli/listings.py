"""``pyro-vae models``, ``datasets``, ``losses``: what there is to choose from, and with a NAME
what one of them takes (its options with their defaults) and what it is."""

from __future__ import annotations

import inspect
import json


def add_parsers(sub) -> None:
    m = sub.add_parser("models", help="list the model zoo; with NAME, a model's options and defaults")
    m.add_argument("name", nargs="?", metavar="NAME", help="a zoo name or path/to/model.py[:NAME]")
    m.set_defaults(fn=run_models)
    d = sub.add_parser("datasets", help="list the datasets and data-file formats; with NAME, one of them")
    d.add_argument("name", nargs="?", metavar="NAME", help="a dataset name or a file suffix (.csv)")
    d.set_defaults(fn=run_datasets)
    los = sub.add_parser("losses", help="list the training objectives (--loss); with NAME, its options")
    los.add_argument("name", nargs="?", metavar="NAME")
    los.set_defaults(fn=run_losses)


def _default(value) -> str:
    if value is inspect.Parameter.empty:
        return "(required)"
    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.dumps(value)  # as --model-opt / --loss-opt take it (values parsed as JSON)
    except TypeError:
        return repr(value)


def _options_table(flag: str, options: list[tuple[str, object]]) -> list[str]:
    if not options:
        return [f"  no {flag} options"]
    width = max(len(k) for k, _ in options)
    return [f"  {flag} {key:<{width}}  default {_default(value)}" for key, value in options]


def run_models(args) -> int:
    if args.name is None:
        from ..registry import zoo_listing  # reads the zoo's source: no torch import, a fast start

        for name, likelihood, description in zoo_listing():
            print(f"{name:<16} {likelihood:<21} {description}")
        print("\n`pyro-vae models NAME` shows a model's options (--model-opt KEY=VALUE) and their defaults")
        return 0
    from ..options import hyperparameter_signature
    from ..registry import resolve

    entry = resolve(args.name)
    cls = entry.cls
    where = entry.source or inspect.getsourcefile(cls)
    lines = [f"{entry.name}: {entry.description}", f"  likelihood {cls.likelihood}; defined in {where}"]
    doc = inspect.cleandoc(inspect.getmodule(cls).__doc__ or "").split("\n\n")[0]
    if doc:
        lines += ["", *("  " + line for line in doc.splitlines())]
    params = hyperparameter_signature(cls).parameters.values()
    options = [(p.name, p.default) for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    lines += ["", *_options_table("--model-opt", options)]
    print("\n".join(lines))
    return 0


def run_datasets(args) -> int:
    from ..data.formats import FILE_FORMATS
    from ..data.registry import DATASETS

    if args.name is None:
        for e in DATASETS.entries():
            print(f"{e.name:<16} {'bundled ' if e.bundled else 'download'}  {e.description}")
        for f in FILE_FORMATS.entries():
            print(f"{'PATH' + f.suffix:<16} {'yours':<8}  {f.description}")
        print(f"{'PATH/':<16} {'yours':<8}  a folder of PNG / JPEG images, grey or RGB; sub-folders are classes")
        return 0
    if args.name.startswith("."):
        f = FILE_FORMATS.get(args.name.lower())
        print(f"{f.suffix} files: {f.description}\n  read by {f.reader.__module__}.{f.reader.__qualname__}"
              + ("; takes --label-column" if f.label_column else ""))
        return 0
    e = DATASETS.get(args.name)
    source = "ships with pyro-vae's dependencies: no download" if e.bundled else \
        "read from --data-dir / $PYRO_VAE_DATA, downloaded there when missing"
    print(f"{e.name}: {e.description}\n  {source}\n  fixed splits and kind: no data-file options "
          f"(--split, --data-kind, ... apply to your own files)")
    return 0


def run_losses(args) -> int:
    from ..infer.losses import LOSSES

    if args.name is None:
        for e in LOSSES.entries():
            print(f"{e.name:<10} {e.description}")
        print("\n`pyro-vae losses NAME` shows a loss's options (--loss-opt KEY=VALUE) and their defaults")
        return 0
    e = LOSSES.get(args.name)
    print("\n".join([f"{e.name}: {e.description}", "  --num-particles K  particles per datapoint (default 1)",
                     *_options_table("--loss-opt", e.options())]))
    return 0
