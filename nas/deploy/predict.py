"""Keypoints for a folder of images with a trained checkpoint, in original image pixels.

Each image is letterboxed into the model's square input (scaled so its longer side fits, padded
right/bottom), predicted, and the keypoints are mapped back by the same scale. Files that cannot
be read as images are reported by name and skipped.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from nas.data.dataset import NUM_KEYPOINTS
from nas.errors import ConfigError
from nas.io import write_text_atomic
from nas.training.device import resolve_memory_format, to_memory_format
from nas.training.evaluation import predict_keypoints

__all__ = ["Prediction", "PredictResult", "letterbox", "list_images", "predict_folder", "write_csv", "csv_header"]


@dataclass(frozen=True)
class Prediction:
    image: str  # file name relative to the folder
    keypoints: np.ndarray  # (21, 2) original-image pixels (pixel j covers [j, j+1))


@dataclass
class PredictResult:
    predictions: list[Prediction] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)


def letterbox(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """RGB uint8 3 x size x size and the scale (model px per original px)."""
    h, w = bgr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(bgr, (nw, nh), interpolation=interp)
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:nh, :nw] = resized
    return np.ascontiguousarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)), scale


def list_images(folder: str | Path) -> list[Path]:
    """Every regular, non-hidden file directly in `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _read(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return img if img is not None and img.size else None


@torch.no_grad()
def predict_folder(model: nn.Module, input_size: int, loss: str, folder: str | Path, batch_size: int = 32,
                   device: torch.device | None = None,
                   progress: Callable[[int, int], None] | None = None, memory_format: str = "auto") -> PredictResult:
    """Predict every image of `folder`; `progress(done, total)` after each file. The model is moved
    to `device` and converted to `memory_format` (`auto`: the faster layout there, as in training;
    prediction runs in float32) in place; the batches follow it."""
    files = list_images(folder)
    device = device or torch.device("cpu")
    to_memory_format(model.eval().to(device), resolve_memory_format(memory_format, device))
    result = PredictResult()
    batch: list[tuple[str, np.ndarray, float]] = []

    def flush() -> None:
        if not batch:
            return
        x = torch.from_numpy(np.stack([b[1] for b in batch])).to(device)
        kps = predict_keypoints(model, x, loss).float().cpu().numpy()
        for (name, _, scale), kp in zip(batch, kps):
            result.predictions.append(Prediction(name, kp / scale))
        batch.clear()

    for i, path in enumerate(files, 1):
        img = _read(path)
        if img is None:
            result.skipped.append((path.name, "not a readable image"))
        else:
            batch.append((path.name, *letterbox(img, input_size)))
            if len(batch) == batch_size:
                flush()
        if progress is not None:
            progress(i, len(files))
    flush()
    return result


def csv_header() -> list[str]:
    return ["image"] + [f"{a}{k}" for k in range(NUM_KEYPOINTS) for a in ("x", "y")]


def write_csv(path: str | Path, predictions: list[Prediction]) -> Path:
    """`image,x0,y0,...,x20,y20`, one row per image, written atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header())
    for p in predictions:
        w.writerow([p.image, *(f"{v:.2f}" for v in p.keypoints.reshape(-1))])
    return write_text_atomic(path, buf.getvalue())
