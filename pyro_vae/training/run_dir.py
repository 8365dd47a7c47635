"""A run directory: config, model spec, metrics, checkpoints, pictures; every write atomic.

Layout::

    RUN_DIR/config.json          the exact training configuration
    RUN_DIR/model.json           the model spec (name, source file, hyper-parameters, data info)
    RUN_DIR/metrics.jsonl        one JSON line per completed epoch
    RUN_DIR/checkpoint_last.pt   state_dicts after the last completed epoch (+ optimizer)
    RUN_DIR/checkpoint_best.pt   state_dicts at the best validation ELBO
    RUN_DIR/*.png, eval.json     pictures and evaluation results

Checkpoints hold tensors and plain numbers only (``torch.load(weights_only=True)`` reads
them); the model is rebuilt from ``model.json`` by :func:`pyro_vae.registry.model_from_spec`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from ..errors import RunDirError


def atomic_write_bytes(path: Path, writer) -> None:
    """Write through ``writer(file)`` into a temporary file, fsync it, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.file("config.json")

    def exists(self) -> bool:
        return self.config_path.exists()

    def create(self, config: dict, spec: dict) -> None:
        if self.exists():
            raise RunDirError(f"{self.path} already holds a run: continue it with --resume {self.path} "
                              f"or choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, config)
        write_json(self.file("model.json"), spec)
        self.file("metrics.jsonl").write_text("")

    def read_json(self, name: str) -> dict:
        path = self.file(name)
        if not path.exists():
            raise RunDirError(f"{path} not found: {self.path} is not a pyro-vae run directory "
                              f"(make one with `pyro-vae train --out {self.path}`)")
        return json.loads(path.read_text())

    def config(self) -> dict:
        return self.read_json("config.json")

    def spec(self) -> dict:
        return self.read_json("model.json")

    # ---- metrics ----------------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        path = self.file("metrics.jsonl")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def append_metrics(self, row: dict) -> None:
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_metrics(self, epochs_done: int) -> None:
        """Keep the lines of epochs <= ``epochs_done`` (a run killed between writes may have more)."""
        rows = [r for r in self.metrics() if r["epoch"] <= epochs_done]
        atomic_write_bytes(self.file("metrics.jsonl"), lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows).encode()))

    # ---- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, name: str, state: dict) -> None:
        atomic_write_bytes(self.file(f"checkpoint_{name}.pt"), lambda f: torch.save(state, f))

    def load_checkpoint(self, name: str = "last", map_location="cpu") -> dict:
        path = self.file(f"checkpoint_{name}.pt")
        if not path.exists():
            raise RunDirError(f"{path} not found: the run has no completed epoch yet (train it first)")
        return torch.load(path, map_location=map_location, weights_only=True)


def load_trained_model(run_dir, which: str = "best", device="cpu"):
    """The model of ``run_dir`` with the weights of checkpoint ``which`` (``best`` or ``last``)."""
    from ..registry import model_from_spec

    run = RunDir(run_dir)
    model = model_from_spec(run.spec())
    state = run.load_checkpoint(which, map_location=device)
    model.load_state_dict(state["model"])
    return model.to(device).eval()
