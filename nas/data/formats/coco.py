"""COCO-style hand keypoint JSON reader: COCO-WholeBody hands, or plain COCO keypoints with 21 points.

- COCO-WholeBody: each person annotation has `lefthand_kpts` / `righthand_kpts` (21 x [x, y, v]),
  `lefthand_box` / `righthand_box` ([x, y, w, h]) and `lefthand_valid` / `righthand_valid`. One record
  per valid hand. The hand `v` values there are annotation-model scores in [0, 1] rather than COCO
  flags (COCO-WholeBody's data_format.md: any v > 0 is a labelled point), so v > 0 maps to 2.
- Plain COCO keypoints: `keypoints` (21 x [x, y, v]) and `bbox` per annotation; v maps directly
  (0 unlabelled, 1 labelled but occluded, 2 visible).

Annotations with no labelled keypoint (num_keypoints 0) are skipped. Image files are looked up in
the JSON's folder, its `images/` subfolder, and folders next to it (or inside it) whose name appears
in the JSON file name (e.g. `val2017` for `person_keypoints_val2017.json`, or for
`coco_wholebody_val_v1.0.json`, whose name has the token `val`).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from nas.data.dataset import NUM_KEYPOINTS
from nas.data.records import SPLITS, HandRecord, check_keypoints, load_json
from nas.errors import DataError

__all__ = ["read_coco", "coco_annotation_files", "is_coco"]

_SIDES = ("left", "right")
_NAME_HINTS = ("coco", "keypoints", "wholebody")


def is_coco(path: Path) -> bool:
    """A `.json` file, or a folder (or its `annotations/`) with a `*.json` whose name has a COCO hint
    or whose content has "annotations"."""
    if path.is_file():
        return path.suffix.lower() == ".json"
    return _has_coco_json(path) or _has_coco_json(path / "annotations")


def _has_coco_json(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    for p in sorted(folder.glob("*.json")):
        if not p.is_file():
            continue
        if any(hint in p.name.lower() for hint in _NAME_HINTS):
            return True
        try:
            data = json.loads(p.read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "annotations" in data:
            return True
    return False


def coco_annotation_files(folder: Path) -> list[Path]:
    """The `*.json` files directly in `folder`, else those in `folder/annotations` (sorted)."""
    for candidate in (folder, folder / "annotations"):
        if candidate.is_dir():
            found = sorted(p for p in candidate.glob("*.json") if p.is_file())
            if found:
                return found
    return []


def read_coco(path: Path) -> list[HandRecord]:
    """Records for every hand in a COCO JSON file, or in every `*.json` file of a folder.

    crop=True (COCO images are not hand crops); box from the annotation (None when w or h <= 0);
    split from the JSON file name ('train' / 'val' / 'test' when it contains one, else None).
    Raises DataError for malformed files, unknown image ids, missing image files and files with no hand.
    """
    path = Path(path)
    if path.is_dir():
        files = coco_annotation_files(path)
        if not files:
            raise DataError(f"{path}: no *.json annotation file")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"{path}: no such file or folder")
    records: list[HandRecord] = []
    for json_path in files:
        records.extend(_read_file(json_path))
    return records


def split_from_name(name: str) -> str | None:
    """'train' / 'val' / 'test' when the file name contains it (checked in that order), else None."""
    lower = name.lower()
    for split in SPLITS:
        if split in lower:
            return split
    return None


def _read_file(json_path: Path) -> list[HandRecord]:
    data = _document(json_path)
    images = _image_names(data["images"], json_path)
    category_points = _category_points(data.get("categories"), json_path)
    wholebody = _is_wholebody(data["annotations"])
    split, finder = split_from_name(json_path.name), _ImageFinder(json_path)
    records: list[HandRecord] = []
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(f"{json_path}: annotations[{index}] is not an object")
        ann_id = ann.get("id", f"#{index}")
        where = f"{json_path} annotation {ann_id}"
        file_name = _file_name(images, ann.get("image_id"), where)
        hands = _wholebody_hands(ann, where) if wholebody else _plain_hand(ann, where, category_points)
        for side, keypoints, visibility, box in hands:
            if not visibility.any():
                continue  # nothing labelled: nothing to learn from
            suffix = f" ({side} hand)" if side else ""
            records.append(HandRecord(image=finder.find(file_name, where + suffix), keypoints=keypoints,
                                      visibility=visibility, box=box, crop=True, split=split,
                                      ref=f"{json_path.name} annotation {ann_id}{suffix}"))
    if not records:
        raise DataError(f"{json_path}: no valid hand annotation")
    return records


def _document(json_path: Path) -> dict:
    """The JSON object, checked to have "images" and "annotations" lists."""
    data = load_json(json_path)
    if not isinstance(data, dict):
        raise DataError(f"{json_path}: expected a COCO JSON object, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if key not in data:
            raise DataError(f'{json_path}: missing "{key}" key (not a COCO annotation file)')
        if not isinstance(data[key], list):
            raise DataError(f'{json_path}: "{key}" must be a list, got {type(data[key]).__name__}')
    return data


def _is_wholebody(annotations: list) -> bool:
    """COCO-WholeBody when any annotation has per-side hand fields."""
    return any(
        isinstance(ann, dict) and any(f"{side}hand_kpts" in ann or f"{side}hand_valid" in ann for side in _SIDES)
        for ann in annotations
    )


def _file_name(images: dict, image_id, where: str) -> str:
    try:
        file_name = images.get(image_id)
    except TypeError:  # unhashable id
        file_name = None
    if file_name is None:
        raise DataError(f'{where}: image_id {image_id!r} is not in "images"')
    return file_name


def _image_names(images: list, json_path: Path) -> dict:
    names = {}
    for index, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise DataError(f'{json_path}: images[{index}] needs an "id" and a "file_name" string')
        try:
            names[image["id"]] = image["file_name"]
        except TypeError:
            raise DataError(f"{json_path}: images[{index}] has an invalid id {image['id']!r}") from None
    return names


def _category_points(categories, json_path: Path) -> dict:
    """category id -> number of keypoint names, for categories that list their keypoints."""
    counts = {}
    if not isinstance(categories, list):
        return counts
    for category in categories:
        if isinstance(category, dict) and isinstance(category.get("keypoints"), list):
            try:
                counts[category.get("id")] = len(category["keypoints"])
            except TypeError:
                raise DataError(f"{json_path}: category id {category.get('id')!r} is invalid") from None
    return counts


def _wholebody_hands(ann: dict, where: str):
    hands = []
    for side in _SIDES:
        if not ann.get(f"{side}hand_valid", False):
            continue  # invalid hands are all zeros
        hand_where = f"{where} ({side} hand)"
        values = ann.get(f"{side}hand_kpts")
        if values is None:
            raise DataError(f"{hand_where}: {side}hand_valid is true but {side}hand_kpts is missing")
        keypoints, v = check_keypoints(values, hand_where, with_visibility=True)
        visibility = np.where(v > 0, 2, 0).astype(np.uint8)
        box = _box(ann.get(f"{side}hand_box"), hand_where, f"{side}hand_box")
        hands.append((side, keypoints, visibility, box))
    return hands


def _plain_hand(ann: dict, where: str, category_points: dict):
    expected = category_points.get(ann.get("category_id")) if _hashable(ann.get("category_id")) else None
    if expected is not None and expected != NUM_KEYPOINTS:
        raise DataError(f"{where}: {expected} keypoints, expected {NUM_KEYPOINTS}")
    if "keypoints" not in ann:
        return []
    keypoints, v = check_keypoints(ann["keypoints"], where, with_visibility=True)
    visibility = np.where(v <= 0, 0, np.where(v >= 1.5, 2, 1)).astype(np.uint8)
    return [("", keypoints, visibility, _box(ann.get("bbox"), where, "bbox"))]


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _box(value, where: str, key: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: {key} must be 4 finite numbers [x, y, w, h], got {value!r}"[:300])
    x, y, w, h = (float(a) for a in arr)
    if w <= 0 or h <= 0:
        return None
    return (x, y, w, h)


def _named_in(folder_name: str, stem: str) -> bool:
    """Does a folder name appear in a JSON file stem ('val2017' in 'person_keypoints_val2017', or
    'val2017' whose letters 'val' are a word of 'coco_wholebody_val_v1.0')?"""
    name = folder_name.lower()
    stem = stem.lower()
    if len(name) >= 3 and name in stem:
        return True
    letters = name.rstrip("0123456789")
    return len(letters) >= 3 and letters in re.split(r"[^a-z0-9]+", stem)


class _ImageFinder:
    """Finds image files for one JSON file; folder listings are read once."""

    def __init__(self, json_path: Path):
        folder = json_path.parent
        dirs = [folder, folder / "images"]
        for base in (folder, folder.parent):
            try:
                children = sorted(p for p in base.iterdir() if p.is_dir())
            except OSError:
                continue
            dirs.extend(d for d in children if d not in dirs and _named_in(d.name, json_path.stem))
        self.dirs = [d for d in dirs if d.is_dir()] or [folder]
        self._listings: dict[Path, set[str]] = {}

    def _listing(self, folder: Path) -> set[str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = set(os.listdir(folder))
            except OSError:
                self._listings[folder] = set()
        return self._listings[folder]

    def find(self, file_name: str, where: str) -> Path:
        nested = "/" in file_name or "\\" in file_name or os.path.isabs(file_name)
        for folder in self.dirs:
            if nested:
                if (folder / file_name).is_file():
                    return folder / file_name
            elif file_name in self._listing(folder):
                return folder / file_name
        looked = ", ".join(str(d) for d in self.dirs)
        raise DataError(f"{where}: image {file_name} not found (looked in {looked})")
