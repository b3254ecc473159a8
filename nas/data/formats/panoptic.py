"""CMU Panoptic hand dataset reader (manual annotations, "hand_labels.zip").

Layout: `hand_labels/manual_train/*.jpg` and `hand_labels/manual_test/*.jpg`, each with a same-name
`.json` holding `hand_pts` (21 x [x, y, v]) and `is_left`. All 21 points are labelled; v == 1 marks a
visible point (visibility 2), v == 0 an occluded one (visibility 1). Coordinates are taken as given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.data.records import SPLITS, HandRecord, check_keypoints, load_json
from nas.errors import DataError

__all__ = ["read_panoptic", "panoptic_folders", "is_panoptic"]

_PREFIX = "manual_"


def is_panoptic(path: Path) -> bool:
    """A folder with `hand_labels/`, `manual_train/` or `manual_test/`, or a `manual_*` folder of
    `.json` files beside `.jpg` images."""
    if not path.is_dir():
        return False
    if (path / "hand_labels").is_dir() or (path / "manual_train").is_dir() or (path / "manual_test").is_dir():
        return True
    if path.name.startswith(_PREFIX):
        return any(p.with_suffix(".jpg").is_file() for p in path.glob("*.json"))
    return False


def panoptic_folders(root: Path) -> list[Path]:
    """The `manual_*` folders for `root`: the folder containing `hand_labels`, `hand_labels` itself,
    or one `manual_*` folder. Raises DataError when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if root.name.startswith(_PREFIX):
        return [root]
    base = root / "hand_labels" if (root / "hand_labels").is_dir() else root
    found = sorted(d for d in base.iterdir() if d.is_dir() and d.name.startswith(_PREFIX))
    if not found:
        raise DataError(f"{root}: no hand_labels/manual_train or manual_test folder (CMU Panoptic hand layout)")
    return found


def read_panoptic(root: Path) -> list[HandRecord]:
    """One record per `.json` annotation in the `manual_*` folders under `root`, sorted by file name.

    crop=True, box=None (derived from the keypoints later); split 'train' for manual_train and
    'test' for manual_test. Raises DataError for malformed annotations and missing images.
    """
    records: list[HandRecord] = []
    for folder in panoptic_folders(root):
        records.extend(_read_folder(folder))
    return records


def _read_folder(folder: Path) -> list[HandRecord]:
    split_name = folder.name[len(_PREFIX):]
    split = split_name if split_name in SPLITS else None
    json_files = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not json_files:
        raise DataError(f"{folder}: no .json annotation files")
    records = []
    for json_path in json_files:
        data = load_json(json_path)
        if not isinstance(data, dict) or "hand_pts" not in data:
            raise DataError(f'{json_path}: missing "hand_pts"')
        keypoints, v = check_keypoints(data["hand_pts"], str(json_path), with_visibility=True)
        bad = ~np.isin(v, (0.0, 1.0))
        if bad.any():
            k = int(np.argmax(bad))
            raise DataError(f"{json_path}: keypoint {k} has visibility {v[k]:g}, expected 0 or 1")
        image = json_path.with_suffix(".jpg")
        if not image.is_file():
            raise DataError(f"{json_path}: image {image.name} not found")
        is_left = data.get("is_left")
        side = {1: " (left hand)", 0: " (right hand)"}.get(is_left, "") if isinstance(is_left, (int, float)) else ""
        records.append(
            HandRecord(
                image=image,
                keypoints=keypoints,
                visibility=np.where(v == 1.0, 2, 1).astype(np.uint8),
                box=None,
                crop=True,
                split=split,
                ref=f"{folder.name}/{json_path.name}{side}",
            )
        )
    return records
