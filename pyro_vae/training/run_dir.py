"""A run directory: the one place that decides what is written where, locks, and recovers.

Layout::

    RUN_DIR/config.json          the exact training configuration (its presence makes a run)
    RUN_DIR/model.json           the model spec (name, source file, hyper-parameters, data info)
    RUN_DIR/model.py             a copy of the user's model file (a model given by path), with
                                 its sha256 in model.json: evaluate, sample and resume use it
    RUN_DIR/data.npz             a copy of a dataset the user's code registered (it exists in
                                 no file), recorded in config.json's data_source
    RUN_DIR/metrics.jsonl        one JSON line per completed epoch
    RUN_DIR/checkpoint_last.pt   state_dicts after the last completed epoch (+ optimizer)
    RUN_DIR/checkpoint_best.pt   state_dicts at the best validation ELBO
    RUN_DIR/*.png, eval.json     pictures and evaluation results
    RUN_DIR/.lock                held (an OS file lock) while a process trains here; its pid inside

Rules:

* ``train --out DIR`` starts only in a folder that does not exist or is empty: nothing a user
  wrote is overwritten (:meth:`RunDir.prepare_new`). A run there that never finished an epoch
  (no checkpoint, no metrics line) is started anew: it holds nothing but the files train wrote
  before its first epoch.
* One process trains in a run at a time: :meth:`RunDir.lock` takes ``fcntl.flock`` on
  ``.lock`` (the OS releases it when the process dies, ``kill -9`` included); a second
  train or resume is refused with the holder's pid.
* Under the lock, :meth:`RunDir.recover` deletes temporary files of interrupted atomic writes
  and drops a torn last line of ``metrics.jsonl`` (what a kill during the append leaves).
* Every file is written atomically (:mod:`pyro_vae.io.files`) but ``metrics.jsonl``, which is
  appended to and repaired on resume.
* Damaged files (a truncated checkpoint, a config.json that is not JSON, ...) raise
  :class:`~pyro_vae.errors.RunDirError` naming the file and what to do.

Paths: config.json and model.json hold absolute paths to what lies outside the run
directory (a data file, the original model file) and paths relative to the run directory for
what lies inside it (``model.py``), so a run folder can be moved or copied whole.

Checkpoints hold tensors and plain numbers only (``torch.load(weights_only=True)`` reads
them); the model is rebuilt from ``model.json`` by :func:`pyro_vae.registry.model_from_spec`.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import torch

from ..errors import OutputError, RunDirError
from ..io.files import atomic_write_bytes, read_json_object, remove_stale_temporaries, write_json

LOCK_NAME = ".lock"
MODEL_COPY = "model.py"
DATA_COPY = "data.npz"
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "best_valid_elbo")
SPEC_KEYS = ("model", "hparams", "data")


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.file("config.json")

    def exists(self) -> bool:
        return self.config_path.is_file()

    # ---- the guard --------------------------------------------------------------------------
    def prepare_new(self) -> None:
        """Make the folder of a new run: absent or empty, else refuse (nothing is overwritten)."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"--out {self.path} is a file, not a folder: choose a new folder for the run")
        if self.exists():
            if self.has_checkpoint("last") or self.metrics():
                raise RunDirError(f"{self.path} already holds a run: continue it with --resume {self.path} "
                                  f"or choose another --out")
            self._discard_untrained()
        if self.path.is_dir():
            foreign = self._foreign_entries()
            if foreign:
                shown = ", ".join(sorted(foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
                raise RunDirError(f"--out {self.path} is not empty and holds no pyro-vae run ({shown}): "
                                  f"choose a new or empty folder; nothing there is overwritten")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the run folder {self.path}: {e.strerror or e}: choose a "
                              f"folder you can write to") from None

    def _discard_untrained(self) -> None:
        """Remove the files of a run that never finished an epoch (it failed or was killed in its
        first), under its lock: a run in progress is refused. What it held is only what ``train``
        wrote before the first epoch, and resuming it would start from the beginning anyway; so the
        same ``train --out`` after a fix (of the user's model file, say) starts the run anew."""
        with self.lock():
            for name in ("config.json", "model.json", MODEL_COPY, DATA_COPY, "metrics.jsonl"):
                self.file(name).unlink(missing_ok=True)

    def _foreign_entries(self) -> list[str]:
        """What the folder holds besides our lock and stale temporary files."""
        from ..io.files import TEMP_PATTERN

        return [e.name for e in self.path.iterdir() if e.name != LOCK_NAME and not TEMP_PATTERN.match(e.name)]

    def require_run(self) -> None:
        if not self.exists():
            raise RunDirError(f"{self.config_path} not found: {self.path} is not a pyro-vae run directory "
                              f"(make one with `pyro-vae train --out {self.path}`)")

    @contextmanager
    def lock(self):
        """Hold the run's OS file lock (released on exit, or by the OS when the process dies)."""
        path = self.file(LOCK_NAME)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OutputError(f"cannot write into the run folder {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunDirError(f"{self.path} is in use by process {holder} (a train or resume runs there): "
                              f"wait for it to end or stop it, then try again") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)

    def recover(self) -> list[str]:
        """Repair what an interrupted process left (call under :meth:`lock`); return what was done."""
        done = [f"removed {p.name}" for p in remove_stale_temporaries(self.path)]
        path = self.file("metrics.jsonl")
        if path.exists():
            rows, torn = self._read_metrics()
            if torn:
                self._write_metrics(rows)
                done.append("dropped a torn last line of metrics.jsonl")
        return done

    # ---- reading ----------------------------------------------------------------------------
    def read_json(self, name: str) -> dict:
        return read_json_object(self.file(name), f"{self.path} is not a complete pyro-vae run directory "
                                                 f"(make one with `pyro-vae train --out DIR`)")

    def config(self) -> dict:
        """The saved configuration, checked like any other (a :class:`TrainConfig` as a dict)."""
        return self.train_config().to_dict()

    def train_config(self):
        from .config import TrainConfig

        self.require_run()
        return TrainConfig.from_dict(self.read_json("config.json"), source=str(self.config_path))

    def spec(self) -> dict:
        spec = self.read_json("model.json")
        missing = [k for k in SPEC_KEYS if k not in spec]
        if missing or not isinstance(spec.get("data"), dict) or "x_dim" not in spec.get("data", {}):
            what = f"lacks the keys {', '.join(missing)}" if missing else "has no data.x_dim"
            raise RunDirError(f"{self.file('model.json')} {what}: it is damaged; train a new run")
        return spec

    # ---- metrics ----------------------------------------------------------------------------
    def _read_metrics(self) -> tuple[list[dict], bool]:
        """``(rows, torn)``: a last line without its newline that does not parse is torn."""
        path = self.file("metrics.jsonl")
        if not path.exists():
            return [], False
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = text.split("\n")
        rows, torn = [], False
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                    raise ValueError
                rows.append(row)
            except ValueError:
                if i == len(lines):  # the last line, cut off by a kill during the append
                    torn = True
                    continue
                raise RunDirError(f"{path}:{i} is not a metrics line: the file is damaged; delete the line "
                                  f"(or the file) and resume") from None
        return rows, torn

    def metrics(self) -> list[dict]:
        return self._read_metrics()[0]

    def append_metrics(self, row: dict) -> None:
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _write_metrics(self, rows: list) -> None:
        atomic_write_bytes(self.file("metrics.jsonl"), lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows).encode()))

    def truncate_metrics(self, epochs_done: int) -> None:
        """Keep the lines of epochs <= ``epochs_done`` (a run killed between writes may have more)."""
        self._write_metrics([r for r in self.metrics() if r["epoch"] <= epochs_done])

    # ---- writing ----------------------------------------------------------------------------
    def create(self, config: dict, spec: dict) -> None:
        """Write a new run's files (after :meth:`prepare_new`, under :meth:`lock`); model.json
        first, since config.json is what makes the folder a run."""
        if self.exists() or self._foreign_entries():
            self.prepare_new()  # raises: something appeared since
        spec = self.keep_model_source(spec)
        write_json(self.file("model.json"), spec)
        self._write_metrics([])
        write_json(self.config_path, config)

    def keep_model_source(self, spec: dict) -> dict:
        """Copy a user's model file into the run (``model.py``); the spec then points to the copy."""
        import hashlib

        if not spec.get("source"):
            return spec
        original = Path(spec["source"])
        code = original.read_bytes()
        atomic_write_bytes(self.file(MODEL_COPY), lambda f: f.write(code))
        return {**spec, "source": MODEL_COPY, "source_sha256": hashlib.sha256(code).hexdigest(),
                "source_origin": str(original)}

    def keep_data_copy(self, data) -> dict:
        """Save ``data`` (a Dataset only the user's code can make) as ``data.npz`` in the run,
        images in their shape, labels as ``y_*``; return its record (``in_run``: the path is
        relative to the run folder)."""
        import numpy as np

        from ..data.source import describe

        shape = tuple(data.image_shape) if data.image_shape else None
        arrays = {}
        for split in ("train", "valid", "test"):
            x, y = data.split(split)
            x = x[: len(x)].cpu().numpy()  # (a memory-mapped split is read here)
            arrays[split] = x.reshape((len(x),) + shape) if shape else x
            if y is not None:
                arrays[f"y_{split}"] = y.cpu().numpy()
        path = atomic_write_bytes(self.file(DATA_COPY), lambda f: np.savez(f, **arrays))
        record = describe(path, kind=data.kind)
        return {**record, "path": DATA_COPY, "in_run": True, "registered_as": data.name}

    def update_config(self, config: dict) -> None:
        """Rewrite config.json of an existing run (under :meth:`lock`) when ``config`` differs."""
        if self.read_json("config.json") != config:
            write_json(self.config_path, config)

    def checkpoint_path(self, name: str = "last") -> Path:
        """``RUN/checkpoint_{name}.pt`` (``last`` or ``best``): the one place its name is spelled."""
        return self.file(f"checkpoint_{name}.pt")

    def save_checkpoint(self, name: str, state: dict) -> None:
        atomic_write_bytes(self.checkpoint_path(name), lambda f: torch.save(state, f))

    def has_checkpoint(self, name: str = "last") -> bool:
        return self.checkpoint_path(name).exists()

    def load_checkpoint(self, name: str = "last", map_location="cpu") -> dict:
        path = self.checkpoint_path(name)
        if not path.exists():
            raise RunDirError(f"{path} not found: the run has no completed epoch yet (train it first: "
                              f"`pyro-vae train --resume {self.path}`)")
        fix = ("delete it and run `pyro-vae train --resume " + str(self.path) + "` (it starts over)"
               if name == "last" else "use --checkpoint last")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # truncated, empty, random bytes: torch raises many kinds
            reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            raise RunDirError(f"{path} is not a readable checkpoint (damaged or truncated: {reason}): {fix}") from None
        if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
            raise RunDirError(f"{path} lacks the parts of a pyro-vae checkpoint ({', '.join(CHECKPOINT_KEYS)}): {fix}")
        return state


def load_trained_model(run_dir, which: str = "best", device="cpu"):
    """The model of ``run_dir`` with the weights of checkpoint ``which`` (``best`` or ``last``),
    on ``device`` (the checkpoint is mapped there, whatever device it was saved from)."""
    from ..options import resolve_device
    from ..registry import model_from_spec

    device = resolve_device(str(device))
    run = RunDir(run_dir)
    run.require_run()
    model = model_from_spec(run.spec(), run.path)
    state = run.load_checkpoint(which, map_location=device)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:160]
        raise RunDirError(f"{run.checkpoint_path(which)} does not fit the model of "
                          f"{run.file('model.json')} ({first}): the files come from different runs") from None
    return model.to(device).eval()
