"""``pyro-vae models``, ``datasets``, ``losses``: what there is to choose from."""

from __future__ import annotations


def add_parsers(sub) -> None:
    sub.add_parser("models", help="list the model zoo").set_defaults(fn=run_models)
    sub.add_parser("datasets", help="list the datasets").set_defaults(fn=run_datasets)
    sub.add_parser("losses", help="list the training objectives (--loss)").set_defaults(fn=run_losses)


def run_models(args) -> int:
    from ..registry import zoo_listing  # reads the zoo's source: no torch import, a fast start

    for name, likelihood, description in zoo_listing():
        print(f"{name:<16} {likelihood:<21} {description}")
    return 0


def run_datasets(args) -> int:
    from ..data import dataset_entries

    for e in dataset_entries():
        print(f"{e.name:<16} {'bundled ' if e.bundled else 'download'}  {e.description}")
    print(f"{'PATH':<16} {'yours':<8}  your own .npy (memory-mapped), .npz, .pt, .csv file or folder of PNG/JPEG "
          f"images (README: Your own data)")
    return 0


def run_losses(args) -> int:
    from ..infer.losses import loss_entries

    for e in loss_entries():
        print(f"{e.name:<10} {e.description}")
    return 0
