"""Latent codes of a dataset split as arrays, and their files (``pyro-vae encode``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from ..io.files import atomic_write_bytes


def encode_split(model, data, split: str = "test", batch_size: int = 1000) -> dict:
    """``{NAME_mean, NAME_scale: [N, dim] arrays for each latent, labels: [N] (if any)}`` of the
    split, encoded ``batch_size`` datapoints at a time (a memory-mapped split included)."""
    x, y = data.split(split)
    parts: dict = {}
    for start in range(0, len(x), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(x)))
        xb = x[idx].to(model.device)
        yb = y[idx].to(model.device) if (y is not None and model.uses_labels) else None
        for name, enc in model.encode(xb, yb).items():
            parts.setdefault(f"{name}_mean", []).append(enc.mean.cpu())
            parts.setdefault(f"{name}_scale", []).append(enc.scale.cpu())
    arrays = {k: torch.cat(v).numpy() for k, v in parts.items()}
    if y is not None:
        arrays["labels"] = y.cpu().numpy()
    return arrays


def write_latents(arrays: dict, path) -> Path:
    """``arrays`` into ``path``: ``.npz`` (one array per key) or ``.csv`` (a column per value)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return atomic_write_bytes(path, lambda f: np.savez(f, **arrays))
    header, columns = [], []
    for key, a in arrays.items():
        a = a.reshape(len(a), -1)
        header += [key] if key == "labels" else [f"{key}_{j}" for j in range(a.shape[1])]
        columns.append(a)
    table = np.concatenate([c.astype(np.float64) for c in columns], axis=1)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in table:
        writer.writerow([f"{v:.9g}" for v in row])
    return atomic_write_bytes(path, lambda f: f.write(text.getvalue().encode()))
