"""Writing the built-in synthetic hands as a CSV dataset (labels.csv + images/), the example of
the simplest format."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from nas.data.formats.csv_format import write_csv
from nas.errors import DataError
from nas.io import write_bytes_atomic

__all__ = ["write_synthetic_csv"]


def write_synthetic_csv(out: str | Path, count: int, size: int = 224, seed: int = 0,
                        progress: Callable[[int], None] | None = None) -> Path:
    """Render `count` hands and write out/images/%06d.png and out/labels.csv (written last, atomically,
    so a folder with labels.csv is complete)."""
    from nas.data.synthetic import synthetic_dataset

    out = Path(out)
    images, keypoints, visibility = synthetic_dataset(count, size, seed)
    folder = out / "images"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create ({exc.strerror})") from None
    names = []
    for i in range(count):
        name = f"images/{i:06d}.png"
        bgr = cv2.cvtColor(np.ascontiguousarray(images[i].transpose(1, 2, 0)), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", bgr)
        if not ok:
            raise DataError(f"{out / name}: PNG encoding failed")
        write_bytes_atomic(out / name, buf.tobytes())
        names.append(name)
        if progress is not None:
            progress(i + 1)
    return write_csv(out / "labels.csv", names, keypoints, visibility)
