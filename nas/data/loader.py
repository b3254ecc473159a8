"""Decode, crop, resize and cache a dataset's hands: records -> memory-mapped uint8 arrays.

- Hand-crop images (CSV, FreiHAND) are letterboxed whole into the square input (scaled so the
  longer side fits, padded right/bottom, the same as `predict`). Other images (COCO, Panoptic)
  are cropped around the hand: its box (or the labelled keypoints' bounds) padded 1.25x and
  squared, then resized. Keypoints follow the same map; those that land outside the input get
  visibility 0 but keep their coordinates (never clipped).
- The result is cached in `<cache>/datasets/<key>/` as .npy files opened memory-mapped. The key
  hashes the records (image paths, sizes, modification times, keypoints, boxes), the input size
  and the loader version, so a changed file rebuilds the cache. The folder is written under a
  temporary name and renamed when complete: a killed first run leaves nothing a second run trusts.
- Decoding runs in worker processes (all cores by default). Unreadable images are skipped,
  counted and listed in `<cache>/datasets/<key>/skipped.log`; more than `max_bad` of them (default
  1%) fails the load.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from nas.data.dataset import NUM_KEYPOINTS, KeypointDataset
from nas.data.records import SPLITS, HandRecord
from nas.errors import DataError

__all__ = ["LoadedDataset", "load_dataset", "crop_transform", "decode_record", "split_indices", "CROP_PAD"]

LOADER_VERSION = 1
CROP_PAD = 1.25
_CHUNK = 64


@dataclass
class LoadedDataset:
    data: KeypointDataset  # images memory-mapped from the cache
    scale: np.ndarray  # (N,) input pixels per original-image pixel
    origin: np.ndarray  # (N, 2) original-image position of the input's top-left corner
    refs: list[str]  # where each sample came from
    splits: list[str | None]  # dataset-defined split per sample, or None
    format: str
    cache: Path
    skipped: int  # unreadable images left out (listed in cache/skipped.log)
    from_cache: bool


# --- geometry ---------------------------------------------------------------------------------
def crop_transform(rec: HandRecord, width: int, height: int) -> tuple[float, float, float]:
    """(x0, y0, side): the original-image square mapped onto the input."""
    if not rec.crop:
        return 0.0, 0.0, float(max(width, height))
    if rec.box is not None and rec.box[2] > 0 and rec.box[3] > 0:
        x, y, w, h = rec.box
    else:
        pts = rec.keypoints[rec.visibility > 0]
        if len(pts) == 0:
            raise DataError(f"{rec.ref or rec.image}: no box and no labelled keypoint to crop around")
        lo, hi = pts.min(0), pts.max(0)
        x, y, w, h = lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)
    side = max(w, h) * CROP_PAD
    return x + w / 2 - side / 2, y + h / 2 - side / 2, float(side)


def _warp(img: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """Continuous coords (pixel j covers [j, j+1)): out = s * (in - origin), s = size / side."""
    s = size / side
    if s < 0.5:  # shrink first with area averaging so strong downscaling does not alias
        k = 2 * s
        small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        kx, ky = small.shape[1] / img.shape[1], small.shape[0] / img.shape[0]
        img, sx, sy, ox, oy = small, s / kx, s / ky, x0 * kx, y0 * ky
    else:
        sx = sy = s
        ox, oy = x0, y0
    m = np.array([[sx, 0.0, sx * (0.5 - ox) - 0.5], [0.0, sy, sy * (0.5 - oy) - 0.5]], np.float64)
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def decode_record(rec: HandRecord, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float] | str:
    """(image 3xSxS RGB uint8, keypoints (21,2) input px, visibility, scale, x0, y0), or why it failed."""
    try:
        data = np.fromfile(rec.image, np.uint8)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None or img.size == 0:
        return "not a readable image"
    h, w = img.shape[:2]
    x0, y0, side = crop_transform(rec, w, h)
    out = _warp(img, x0, y0, side, size)
    s = size / side
    kp = (rec.keypoints - np.array([x0, y0])) * s
    vis = rec.visibility.astype(np.uint8).copy()
    inside = np.all((kp >= 0) & (kp < size), axis=1)
    vis[~inside] = 0
    rgb = np.ascontiguousarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
    return rgb, kp.astype(np.float32), vis, s, x0, y0


# --- cache --------------------------------------------------------------------------------------
def _cache_key(records: list[HandRecord], size: int, fmt: str) -> str:
    h = hashlib.sha256(f"v{LOADER_VERSION}|{size}|{fmt}|{CROP_PAD}|{len(records)}".encode())
    stats: dict[Path, str] = {}
    for r in records:
        p = Path(r.image)
        if p not in stats:
            try:
                st = p.stat()
                stats[p] = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                stats[p] = "missing"
        h.update(f"{p.resolve()}|{stats[p]}|{r.crop}|{r.box}|{r.split}".encode())
        h.update(np.ascontiguousarray(r.keypoints, np.float64).tobytes())
        h.update(np.ascontiguousarray(r.visibility, np.uint8).tobytes())
    return h.hexdigest()[:24]


_WORK: dict[str, object] = {}


def _decode_chunk(args: tuple[int, int]) -> tuple[int, list]:
    """Decode records [start, stop); pixels go straight into the shared memory map (a forked
    worker inherits the parent's MAP_SHARED mapping), only the small per-image values come back."""
    start, stop = args
    records, size, images = _WORK["records"], _WORK["size"], _WORK["images"]
    out = []
    for i in range(start, stop):
        r = decode_record(records[i], size)
        if not isinstance(r, str):
            images[i] = r[0]
            r = (None, *r[1:])
        out.append(r)
    return start, out


def _open(folder: Path) -> dict[str, np.ndarray] | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c" if name == "images" else None)
                  for name in ("images", "keypoints", "visibility", "scale", "origin")}
    except (OSError, ValueError):
        return None
    n = meta.get("count")
    if any(len(a) != n for a in arrays.values()):
        return None
    arrays["meta"] = meta
    return arrays


def _build(folder: Path, records: list[HandRecord], size: int, fmt: str, workers: int, max_bad: float,
           progress: Callable[[int], None] | None) -> None:
    n = len(records)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        images = np.lib.format.open_memmap(tmp / "images.raw.npy", "w+", np.uint8, (n, 3, size, size))
        kps = np.zeros((n, NUM_KEYPOINTS, 2), np.float32)
        vis = np.zeros((n, NUM_KEYPOINTS), np.uint8)
        scale = np.zeros(n, np.float32)
        origin = np.zeros((n, 2), np.float32)
        ok = np.zeros(n, bool)
        bad: list[str] = []
        chunks = [(i, min(n, i + _CHUNK)) for i in range(0, n, _CHUNK)]
        done = 0

        def store(start: int, results: list) -> None:
            nonlocal done
            for j, r in enumerate(results):
                i = start + j
                if isinstance(r, str):
                    bad.append(f"{records[i].image}\t{records[i].ref}\t{r}")
                    continue
                _, kps[i], vis[i], scale[i], origin[i, 0], origin[i, 1] = r
                ok[i] = True
            done += len(results)
            if progress is not None:
                progress(done)

        _WORK.update(records=records, size=size, images=images)
        try:
            if workers > 1 and n > _CHUNK:
                with mp.get_context("fork").Pool(workers) as pool:
                    for start, results in pool.imap_unordered(_decode_chunk, chunks):
                        store(start, results)
            else:
                for c in chunks:
                    store(*_decode_chunk(c))
        finally:
            _WORK.clear()
        log = tmp / "skipped.log"
        log.write_text("".join(line + "\n" for line in bad))
        if len(bad) > max_bad * n:
            kept = folder.parent / f"{folder.name}.skipped.log"
            shutil.copyfile(log, kept)
            raise DataError(f"{len(bad)} of {n} images could not be read ({100 * len(bad) / n:.1f}%, more than the "
                            f"allowed {100 * max_bad:g}%); they are listed in {kept}")
        good = np.flatnonzero(ok)
        final = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (len(good), 3, size, size))
        for i in range(0, len(good), 1024):
            final[i:i + 1024] = images[good[i:i + 1024]]
        final.flush()
        del final
        os.unlink(tmp / "images.raw.npy")
        for name, arr in (("keypoints", kps), ("visibility", vis), ("scale", scale), ("origin", origin)):
            np.save(tmp / f"{name}.npy", arr[good])
        meta = {"count": int(len(good)), "format": fmt, "size": size, "skipped": len(bad),
                "refs": [records[i].ref or str(records[i].image) for i in good],
                "splits": [records[i].split for i in good]}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if folder.exists():  # a concurrent builder finished first: keep theirs
            shutil.rmtree(tmp)
            return
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_dataset(path: str | Path, fmt: str = "auto", size: int = 224, cache_dir: str | Path | None = None,
                 max_bad: float = 0.01, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 on_format: Callable[[str, int], None] | None = None) -> LoadedDataset:
    """Read `path` in format `fmt` (auto-detected by default), decode/crop/resize every hand to `size`
    (cached), and return it. `progress(done, total)` reports decoding; `on_format(format, records)`
    says which format was chosen and how many hands it lists."""
    from nas.data.formats.detect import read_records
    from nas.data.synth import default_cache_dir

    path = Path(path)
    if not 0 <= max_bad < 1:
        raise DataError(f"max_bad: {max_bad} must be in [0, 1)")
    fmt, records = read_records(path, fmt)
    if on_format is not None:
        on_format(fmt, len(records))
    root = Path(cache_dir) if cache_dir is not None else Path(os.environ.get("HANDKP_CACHE") or default_cache_dir())
    folder = root / "datasets" / f"{fmt}-{size}-{_cache_key(records, size, fmt)}"
    arrays = _open(folder)
    from_cache = arrays is not None
    if arrays is None:
        total = len(records)
        cb = None if progress is None else (lambda done: progress(done, total))
        _build(folder, records, size, fmt, workers or os.cpu_count() or 1, max_bad, cb)
        arrays = _open(folder)
        if arrays is None:
            raise DataError(f"{folder}: the dataset cache just written cannot be read back")
    elif progress is not None:
        progress(len(records), len(records))
    meta = arrays["meta"]
    data = KeypointDataset(torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["keypoints"]),
                           torch.from_numpy(arrays["visibility"]), torch.from_numpy(arrays["scale"]))
    return LoadedDataset(data, arrays["scale"], arrays["origin"], meta["refs"], meta["splits"], fmt, folder,
                         meta["skipped"], from_cache)


def split_indices(splits: list[str | None], seed: int = 0, val_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index arrays: the dataset's own split where it defines one
    (missing val/test parts are carved out of train by `seed`), else a seeded random split."""
    n = len(splits)
    rng = np.random.default_rng(seed)
    labels = np.array([s if s in SPLITS else "" for s in splits], dtype=object)
    out = {k: np.flatnonzero(labels == k) for k in SPLITS}
    pool = np.concatenate([out["train"], np.flatnonzero(labels == "")])
    pool = rng.permutation(np.sort(pool))
    for part, frac in (("test", test_fraction), ("val", val_fraction)):
        if len(out[part]) == 0:
            take = max(1, int(round(frac * n))) if len(pool) > 2 else 0
            out[part], pool = np.sort(pool[:take]), pool[take:]
    out["train"] = np.sort(pool)
    for k in SPLITS:
        if len(out[k]) == 0:
            raise DataError(f"the dataset has {n} hands: too few for a train/validation/test split")
    return out
