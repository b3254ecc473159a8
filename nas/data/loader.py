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
- Decoding runs in worker processes (all cores by default), each writing its pixels straight into
  the entry's memory-mapped image file. Unreadable images are skipped, counted and listed in
  `<cache>/datasets/<key>/skipped.log`; more than `max_bad` of them (default 1%) fails the load.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from nas.data.cache import Entry, build_entry, cache_root, create_rows, open_rows, read_entry, write_meta
from nas.data.dataset import NUM_KEYPOINTS, KeypointDataset
from nas.data.formats import read_records
from nas.data.parallel import Chunk, chunks, run_chunks
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


def _columns(size: int) -> dict[str, tuple[tuple[int, ...], type]]:
    return {"images": ((3, size, size), np.uint8), "keypoints": ((NUM_KEYPOINTS, 2), np.float32),
            "visibility": ((NUM_KEYPOINTS,), np.uint8), "scale": ((), np.float32), "origin": ((2,), np.float32)}


_RAW = "images.raw"  # every record's pixels, before unreadable ones are dropped


def _decode_chunk(chunk: Chunk[tuple[list[HandRecord], int, Path]]) -> list:
    """Worker entry point: decode the chunk's records; pixels go straight into the shared raw image
    file, only the small per-image values (or why an image failed) come back."""
    records, size, folder = chunk.payload
    images = open_rows(folder, _RAW)
    out = []
    for i, rec in enumerate(records, start=chunk.start):
        r = decode_record(rec, size)
        if not isinstance(r, str):
            images[i] = r[0]
            r = r[1:]
        out.append(r)
    images.flush()
    return out


@dataclass
class _Decoded:
    """Per-record results gathered in the parent while workers decode."""

    keypoints: np.ndarray
    visibility: np.ndarray
    scale: np.ndarray
    origin: np.ndarray
    ok: np.ndarray
    bad: list[str]

    @classmethod
    def empty(cls, n: int) -> _Decoded:
        return cls(np.zeros((n, NUM_KEYPOINTS, 2), np.float32), np.zeros((n, NUM_KEYPOINTS), np.uint8),
                   np.zeros(n, np.float32), np.zeros((n, 2), np.float32), np.zeros(n, bool), [])

    def store(self, chunk: Chunk, results: list) -> None:
        for i, (rec, r) in enumerate(zip(chunk.payload[0], results), start=chunk.start):
            if isinstance(r, str):
                self.bad.append(f"{rec.image}\t{rec.ref}\t{r}")
                continue
            self.keypoints[i], self.visibility[i], self.scale[i], self.origin[i, 0], self.origin[i, 1] = r
            self.ok[i] = True


def _decode_all(tmp: Path, records: list[HandRecord], size: int, workers: int,
                progress: Callable[[int], None] | None) -> _Decoded:
    n = len(records)
    create_rows(tmp, _RAW, n, (3, size, size), np.uint8).flush()
    decoded = _Decoded.empty(n)
    jobs = chunks(n, _CHUNK, lambda start, stop: (records[start:stop], size, tmp))
    run_chunks(_decode_chunk, jobs, workers, decoded.store, progress)
    return decoded


def _check_skipped(tmp: Path, folder: Path, decoded: _Decoded, max_bad: float) -> None:
    """Write skipped.log; DataError (naming a copy of it kept beside the cache) when too many failed."""
    n, bad = len(decoded.ok), decoded.bad
    log = tmp / "skipped.log"
    log.write_text("".join(line + "\n" for line in bad))
    if len(bad) > max_bad * n:
        kept = folder.parent / f"{folder.name}.skipped.log"
        shutil.copyfile(log, kept)
        raise DataError(f"{len(bad)} of {n} images could not be read ({100 * len(bad) / n:.1f}%, more than the "
                        f"allowed {100 * max_bad:g}%); they are listed in {kept}")


def _save(tmp: Path, decoded: _Decoded, records: list[HandRecord], size: int, fmt: str) -> None:
    """The entry's arrays and meta, for the readable images only."""
    good = np.flatnonzero(decoded.ok)
    if len(good) == len(records):
        os.replace(tmp / f"{_RAW}.npy", tmp / "images.npy")
    else:
        raw, final = open_rows(tmp, _RAW), create_rows(tmp, "images", len(good), (3, size, size), np.uint8)
        for i in range(0, len(good), 1024):
            final[i:i + 1024] = raw[good[i:i + 1024]]
        final.flush()
        del raw, final
        os.unlink(tmp / f"{_RAW}.npy")
    for name in ("keypoints", "visibility", "scale", "origin"):
        np.save(tmp / f"{name}.npy", getattr(decoded, name)[good])
    write_meta(tmp, int(len(good)), format=fmt, size=size, skipped=len(decoded.bad),
               refs=[records[i].ref or str(records[i].image) for i in good], splits=[records[i].split for i in good])


def _build(folder: Path, records: list[HandRecord], size: int, fmt: str, workers: int, max_bad: float,
           progress: Callable[[int], None] | None) -> None:
    """Decode every record into a new cache entry (renamed into place only when complete)."""
    with build_entry(folder, _columns(size)) as tmp:
        decoded = _decode_all(tmp, records, size, workers, progress)
        _check_skipped(tmp, folder, decoded, max_bad)
        _save(tmp, decoded, records, size, fmt)


def _open(folder: Path, size: int) -> Entry | None:
    entry = read_entry(folder, _columns(size))
    if entry is None or not {"refs", "splits", "skipped"} <= entry[1].keys():
        return None
    return entry


def load_dataset(path: str | Path, fmt: str = "auto", size: int = 224, cache_dir: str | Path | None = None,
                 max_bad: float = 0.01, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 on_format: Callable[[str, int], None] | None = None) -> LoadedDataset:
    """Read `path` in format `fmt` (auto-detected by default), decode/crop/resize every hand to `size`
    (cached), and return it. `progress(done, total)` reports decoding; `on_format(format, records)`
    says which format was chosen and how many hands it lists."""
    if not 0 <= max_bad < 1:
        raise DataError(f"max_bad: {max_bad} must be in [0, 1)")
    fmt, records = read_records(Path(path), fmt)
    if on_format is not None:
        on_format(fmt, len(records))
    folder = cache_root(cache_dir) / "datasets" / f"{fmt}-{size}-{_cache_key(records, size, fmt)}"
    entry = _open(folder, size)
    from_cache = entry is not None
    total = len(records)
    if entry is None:
        cb = None if progress is None else (lambda done: progress(done, total))
        _build(folder, records, size, fmt, workers or os.cpu_count() or 1, max_bad, cb)
        entry = _open(folder, size)
        if entry is None:
            raise DataError(f"{folder}: the dataset cache just written cannot be read back")
    elif progress is not None:
        progress(total, total)
    return _loaded(entry, fmt, folder, from_cache)


def _loaded(entry: Entry, fmt: str, folder: Path, from_cache: bool) -> LoadedDataset:
    arrays, meta = entry
    data = KeypointDataset(*(torch.from_numpy(arrays[k]) for k in ("images", "keypoints", "visibility", "scale")))
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
