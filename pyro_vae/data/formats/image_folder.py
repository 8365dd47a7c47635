"""Folders of PNG / JPEG images, grey or RGB; sub-folders are classes (like torchvision's ``ImageFolder``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import DataError
from . import first_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_image_folder(root: Path, image_size=None) -> tuple[dict, Optional[np.ndarray]]:
    """``[N, H, W]`` (grey) or ``[N, H, W, 3]`` (any colour image) uint8 pixels, and the class of
    each image when the folder has one sub-folder per class."""
    from PIL import Image, UnidentifiedImageError

    def images_in(folder):
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and images_in(d))
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if classes and loose:
        raise DataError(f"{root} holds images both in sub-folders ({', '.join(classes[:3])}) and directly "
                        f"({loose[0].name}): put every image in a class folder, or none")
    files = [(p, classes.index(p.relative_to(root).parts[0]) if classes else None) for p in images_in(root)]
    if not files:
        raise DataError(f"{root} holds no {'/'.join(IMAGE_SUFFIXES)} images: give a folder of images (sub-folders "
                        f"as classes)")
    pictures = []
    for p, _ in files:
        try:
            img = Image.open(p)
            img.load()
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read the image {p} ({first_line(e)}): remove or replace it") from None
        pictures.append(img)
    grey = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for img in pictures)
    size = (int(image_size[1]), int(image_size[0])) if image_size else pictures[0].size  # PIL: (W, H)
    pixels = []
    for (p, _), img in zip(files, pictures):
        img = img.convert("L" if grey else "RGB")
        if img.size != size:
            if not image_size:
                raise DataError(f"{p} is {img.size[0]}x{img.size[1]} (WxH) but {files[0][0].name} is "
                                f"{size[0]}x{size[1]}: pass --image-size H W to resize them all")
            img = img.resize(size, Image.BILINEAR)
        pixels.append(np.asarray(img, dtype=np.uint8))
    labels = np.asarray([c for _, c in files], dtype=np.int64) if classes else None
    return {"train": np.stack(pixels)}, labels
