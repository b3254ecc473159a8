"""FreiHAND training set reader: `training/rgb/%08d.jpg` + `training_K.json` + `training_xyz.json`.

Each annotation i (a 3x3 camera matrix K and 21x3 points in metres) projects to 2D as
`uv = (K @ xyz.T).T; uv = uv[:, :2] / uv[:, 2:]`. The image folder may hold up to 4 versions of
every sample (different backgrounds): image id i uses annotation i % N, N = number of annotations.
The projected values are taken as given (no half-pixel shift).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from nas.data.dataset import NUM_KEYPOINTS
from nas.data.records import HandRecord, load_json
from nas.errors import DataError

__all__ = ["read_freihand", "is_freihand", "MAX_VERSIONS"]

MAX_VERSIONS = 4  # FreiHAND ships each training sample with 4 backgrounds
_IMAGE_NAME = re.compile(r"^(\d{8})\.jpg$")


def _stack(entries, path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    """`entries` (a JSON list) as an (N, *shape) float64 array, or DataError naming the first bad index."""
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a list, got {type(entries).__name__}")
    try:
        arr = np.asarray(entries, dtype=np.float64)
        if arr.shape == (len(entries), *shape):
            return arr
    except (TypeError, ValueError):
        pass
    for i, entry in enumerate(entries):  # slow path, only to name the bad entry
        try:
            one = np.asarray(entry, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}[{i}]: values are not numbers") from None
        if one.shape != shape:
            raise DataError(f"{path}[{i}]: expected {what}, got shape {one.shape}")
    raise DataError(f"{path}: entries do not all have shape {shape}")  # pragma: no cover - unreachable


def _project(K: np.ndarray, xyz: np.ndarray, k_path: Path, xyz_path: Path) -> np.ndarray:
    """(N, 21, 2) pixel coordinates; DataError naming the first annotation that does not project."""
    if not np.all(np.isfinite(K)):
        i = int(np.argwhere(~np.isfinite(K).all(axis=(1, 2)))[0][0])
        raise DataError(f"{k_path}[{i}]: camera matrix is not finite")
    if not np.all(np.isfinite(xyz)):
        i = int(np.argwhere(~np.isfinite(xyz).all(axis=(1, 2)))[0][0])
        raise DataError(f"{xyz_path}[{i}]: points are not finite numbers")
    hom = np.einsum("nij,nkj->nki", K, xyz)  # (N, 21, 3) = (K @ xyz.T).T per annotation
    z = hom[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = hom[..., :2] / z[..., None]
    bad = ~(z > 0) | ~np.isfinite(uv).all(axis=-1)
    if bad.any():
        i, k = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{xyz_path}[{i}]: keypoint {k} does not project to a finite image point (depth {z[i, k]:.6g}, must be > 0)"
        )
    return uv


def is_freihand(path: Path) -> bool:
    """A folder with `training_xyz.json`."""
    return path.is_dir() and (path / "training_xyz.json").is_file()


def read_freihand(root: Path) -> list[HandRecord]:
    """One record per `training/rgb/%08d.jpg` under `root`, sorted by image id.

    Visibility is 2 for all 21 keypoints; crop=False (images are hand crops), box=None, split=None.
    Raises DataError for missing or malformed files and inconsistent counts.
    """
    root = Path(root)
    rgb = root / "training" / "rgb"
    for needed in (root / "training_K.json", root / "training_xyz.json"):
        if not needed.is_file():
            raise DataError(f"{needed}: FreiHAND annotation file not found")
    if not rgb.is_dir():
        raise DataError(f"{rgb}: FreiHAND image folder not found")
    uv = _keypoints(root)
    return [
        HandRecord(image=rgb / name, keypoints=uv[image_id % len(uv)].copy(),
                   visibility=np.full(NUM_KEYPOINTS, 2, dtype=np.uint8), box=None, crop=False, split=None,
                   ref=f"training/rgb/{name} (annotation {image_id % len(uv)})")
        for image_id, name in _image_ids(rgb, len(uv))
    ]


def _keypoints(root: Path) -> np.ndarray:
    """(N, 21, 2) image points of the N annotations, checked."""
    k_path, xyz_path = root / "training_K.json", root / "training_xyz.json"
    k_raw, xyz_raw = load_json(k_path), load_json(xyz_path)
    for path, raw in ((k_path, k_raw), (xyz_path, xyz_raw)):
        if not isinstance(raw, list):
            raise DataError(f"{path}: expected a JSON list, got {type(raw).__name__}")
    if len(k_raw) != len(xyz_raw):
        raise DataError(
            f"{root}: training_K.json has {len(k_raw)} entries but training_xyz.json has {len(xyz_raw)}"
        )
    if not xyz_raw:
        raise DataError(f"{xyz_path}: no annotations")
    K = _stack(k_raw, k_path, (3, 3), "a 3x3 camera matrix")
    xyz = _stack(xyz_raw, xyz_path, (NUM_KEYPOINTS, 3), f"{NUM_KEYPOINTS}x3 points")
    return _project(K, xyz, k_path, xyz_path)


def _image_ids(rgb: Path, n: int) -> list[tuple[int, str]]:
    """(image id, file name) of the %08d.jpg images, sorted; their count must be a multiple of the
    `n` annotations and their ids below MAX_VERSIONS * n."""
    ids = sorted((int(m.group(1)), name) for name in _list_names(rgb) if (m := _IMAGE_NAME.match(name)))
    if not ids:
        raise DataError(f"{rgb}: no %08d.jpg images")
    if len(ids) % n:
        raise DataError(
            f"{rgb}: {len(ids)} images is not a multiple of the {n} annotations in training_xyz.json"
        )
    image_id, name = ids[-1]
    if image_id >= MAX_VERSIONS * n:
        raise DataError(
            f"{rgb / name}: image id {image_id} is beyond the {MAX_VERSIONS} x {n} = {MAX_VERSIONS * n} "
            "images the annotations cover"
        )
    return ids


def _list_names(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in folder.iterdir()]
    except OSError as exc:
        raise DataError(f"{folder}: cannot list ({exc.strerror or exc})") from None
