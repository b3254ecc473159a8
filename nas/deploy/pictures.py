"""Pictures of a trained model: a grid of images with predicted and true keypoints and skeletons
(PNG), and the training curves (self-contained HTML)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nas.errors import NasError
from nas.io import write_bytes_atomic, write_text_atomic
from nas.training.trainer import EpochStats

__all__ = ["SKELETON", "keypoint_grid", "write_png", "curves_html"]

# (parent, child) bones of the 21-keypoint hand: wrist -> each finger's 4 joints
SKELETON: tuple[tuple[int, int], ...] = tuple(
    (0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4)
)
TRUE_BGR = (60, 200, 60)  # green: ground truth
PRED_BGR = (40, 40, 230)  # red: prediction


def _draw(img: np.ndarray, kps: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], scale: float) -> None:
    pts = np.round(kps * scale).astype(int)
    for a, b in SKELETON:
        if mask[a] and mask[b]:
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, 1, cv2.LINE_AA)
    for i in np.flatnonzero(mask):
        cv2.circle(img, tuple(pts[i]), 2, color, -1, cv2.LINE_AA)


def keypoint_grid(images: np.ndarray, true_kps: np.ndarray, visibility: np.ndarray, pred_kps: np.ndarray,
                  errors: Sequence[float] | None = None, cols: int = 4, cell: int = 192) -> np.ndarray:
    """A BGR uint8 grid: each image (N x 3 x H x W RGB uint8) upscaled to `cell` px with the true
    skeleton (green, labelled keypoints only) and the predicted one (red, all 21), its mean error on top."""
    n = len(images)
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
    for i in range(n):
        rgb = np.ascontiguousarray(images[i].transpose(1, 2, 0))
        scale = cell / rgb.shape[0]
        tile = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (cell, cell), interpolation=cv2.INTER_LINEAR)
        _draw(tile, true_kps[i], visibility[i] > 0, TRUE_BGR, scale)
        _draw(tile, pred_kps[i], np.ones(len(pred_kps[i]), bool), PRED_BGR, scale)
        if errors is not None:
            label = f"{errors[i]:.1f} px"
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(i, cols)
        grid[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = tile
    return grid


def write_png(path: str | Path, image_bgr: np.ndarray) -> Path:
    """Encode then write atomically (temp file + rename)."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise NasError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, buf.tobytes())
    return path


def curves_html(path: str | Path, history: Sequence[EpochStats], title: str) -> Path:
    """Training loss, validation px error and learning rate per epoch, one self-contained page."""
    epochs = [h.epoch for h in history]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("training loss", "validation px error", "learning rate (end of epoch)"))
    fig.add_trace(go.Scatter(x=epochs, y=[h.train_loss for h in history], mode="lines+markers", name="loss"), 1, 1)
    fig.add_trace(go.Scatter(x=epochs, y=[h.px_error for h in history], mode="lines+markers", name="val px"), 2, 1)
    fig.add_trace(go.Scatter(x=epochs, y=[h.lr for h in history], mode="lines+markers", name="lr"), 3, 1)
    fig.update_yaxes(type="log", row=3, col=1)
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    fig.update_layout(title=title, height=800, showlegend=False, template="plotly_white")
    return write_text_atomic(path, fig.to_html(full_html=True, include_plotlyjs=True))
