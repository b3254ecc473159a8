"""What a dataset format reader produces: one `HandRecord` per hand, before any decoding.

Readers (`nas/data/formats/*.py`) only parse annotations and check them; decoding, cropping,
resizing and caching are shared (`nas/data/loader.py`), so every format gets the same crop rules,
cache and bad-image handling.

Coordinates are continuous original-image pixels, pixel column j covering [j, j+1) (values are
taken from the files as given). Keypoint order is the common 21-point hand convention: 0 wrist;
1-4 thumb CMC, MCP, IP, tip; 5-8 index MCP..tip; 9-12 middle; 13-16 ring; 17-20 little.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.dataset import NUM_KEYPOINTS
from nas.errors import DataError

__all__ = ["HandRecord", "SPLITS", "check_keypoints", "load_json"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class HandRecord:
    """One hand in one image file.

    image: path of the image file (need not exist yet: the loader reports missing/corrupt files).
    keypoints: (21, 2) float64, original-image pixels.
    visibility: (21,) uint8: 2 labelled and visible, 1 labelled but occluded, 0 unlabelled.
        (The loader also sets 0 for keypoints that fall outside the final crop.)
    box: (x, y, w, h) of the hand in original pixels when the dataset gives one; None means
        "derive it from the labelled keypoints" (only used when `crop` is True).
    crop: True for images that are not hand crops (COCO, Panoptic): the loader crops a padded
        square around the hand. False for hand-crop datasets (CSV, FreiHAND): the whole image is
        letterboxed into the input.
    split: 'train' | 'val' | 'test' when the dataset defines its own split, else None.
    ref: where the record came from, for messages, e.g. "training_xyz.json[12]".
    """

    image: Path
    keypoints: np.ndarray
    visibility: np.ndarray
    box: tuple[float, float, float, float] | None = None
    crop: bool = False
    split: str | None = None
    ref: str = ""


def check_keypoints(values, where: str, with_visibility: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse a flat or nested list of 21 x [x, y] (or 21 x [x, y, v]) into arrays.

    Raises DataError naming `where` when the count is not 21 or a value is not a finite number.
    Returns (keypoints (21, 2) float64, visibility (21,) float64 or None).
    """
    width = 3 if with_visibility else 2
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: keypoints are not numbers") from None
    if arr.ndim == 1:
        if arr.size % width:
            raise DataError(f"{where}: {arr.size} keypoint values is not a multiple of {width}")
        arr = arr.reshape(-1, width)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise DataError(f"{where}: keypoints must be 21 x {width} values, got shape {tuple(arr.shape)}")
    if arr.shape[0] != NUM_KEYPOINTS:
        raise DataError(f"{where}: {arr.shape[0]} keypoints, expected {NUM_KEYPOINTS}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"{where}: keypoint {bad} is not a finite number")
    kp = arr[:, :2].copy()
    vis = arr[:, 2].copy() if with_visibility else None
    return kp, vis


def load_json(path: Path) -> Any:
    """A JSON file's content; DataError naming the file when it cannot be read or parsed."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not valid JSON ({first})") from None
