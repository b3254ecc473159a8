"""Decoding, cropping, caching and splitting real-format datasets (fixtures made here)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from nas.data.formats.csv_format import read_csv, write_csv
from nas.data.loader import decode_record, load_dataset, split_indices
from nas.data.records import HandRecord
from nas.errors import DataError


@pytest.fixture()
def csv_set(tmp_path, synth_cache):
    """40 synthetic hands at 96 px written as a CSV dataset by `write_synthetic_csv`."""
    from nas.data.export import write_synthetic_csv
    from nas.data.synthetic import synthetic_dataset

    os.environ.setdefault("HANDKP_CACHE", str(synth_cache))
    write_synthetic_csv(tmp_path / "set", 40, 96, seed=7)
    return tmp_path / "set", synthetic_dataset(40, 96, 7, cache_dir=synth_cache)


def test_synthetic_to_csv_to_load_round_trip(csv_set, tmp_path):
    folder, (images, keypoints, visibility) = csv_set
    loaded = load_dataset(folder, "auto", 64, cache_dir=tmp_path / "cache", workers=2)
    assert loaded.format == "csv" and len(loaded.data) == 40 and loaded.skipped == 0
    kp = loaded.data.keypoints.numpy()
    # same keypoints after the 96 -> 64 resize (within 0.5 px; the CSV keeps 3 decimals)
    assert np.abs(kp - keypoints * 64 / 96).max() < 0.5
    inside = np.all((keypoints * 64 / 96 >= 0) & (keypoints * 64 / 96 < 64), axis=2)
    assert np.array_equal(loaded.data.visibility.numpy(), np.where(inside, visibility, 0))
    # and the same pictures: close to a plain area resize of the originals
    ref = np.stack([cv2.resize(im.transpose(1, 2, 0), (64, 64), interpolation=cv2.INTER_LINEAR) for im in images])
    diff = np.abs(loaded.data.images.numpy().transpose(0, 2, 3, 1).astype(int) - ref.astype(int)).mean()
    assert diff < 6, diff
    assert np.allclose(loaded.scale, 64 / 96) and loaded.data.scale is not None


def test_cache_is_reused_and_rebuilt_when_a_file_changes(csv_set, tmp_path):
    folder, _ = csv_set
    cache = tmp_path / "cache"
    first = load_dataset(folder, "csv", 64, cache_dir=cache, workers=1)
    assert not first.from_cache
    second = load_dataset(folder, "csv", 64, cache_dir=cache, workers=1)
    assert second.from_cache and second.cache == first.cache
    assert np.array_equal(second.data.images.numpy(), first.data.images.numpy())
    # another input size is another cache entry
    assert not load_dataset(folder, "csv", 48, cache_dir=cache, workers=1).from_cache
    # change one image: the key changes, the cache is rebuilt with the new pixels
    img_path = folder / "images" / "000003.png"
    cv2.imwrite(str(img_path), np.zeros((96, 96, 3), np.uint8))
    st = img_path.stat()
    os.utime(img_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = load_dataset(folder, "csv", 64, cache_dir=cache, workers=1)
    assert not third.from_cache and third.cache != first.cache
    assert third.data.images[3].max() == 0


def test_an_interrupted_build_leaves_no_cache_a_later_run_trusts(csv_set, tmp_path):
    folder, _ = csv_set
    cache = tmp_path / "cache"

    def boom(done, total):
        if done >= 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dataset(folder, "csv", 64, cache_dir=cache, workers=1, progress=boom)
    assert not any(p.name.startswith("csv-") for p in (cache / "datasets").iterdir())  # only nothing or temp gone
    assert not load_dataset(folder, "csv", 64, cache_dir=cache, workers=1).from_cache


def test_corrupt_images_are_skipped_logged_and_limited(csv_set, tmp_path):
    folder, _ = csv_set
    (folder / "images" / "000005.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"1 of 40 images could not be read \(2\.5%, more than the allowed 1%\)"):
        load_dataset(folder, "csv", 64, cache_dir=tmp_path / "c1", workers=1)
    loaded = load_dataset(folder, "csv", 64, cache_dir=tmp_path / "c2", workers=1, max_bad=0.05)
    assert len(loaded.data) == 39 and loaded.skipped == 1
    log = (loaded.cache / "skipped.log").read_text()
    assert "000005.png" in log and "not a readable image" in log
    assert all("000005.png" not in r for r in loaded.refs)


def test_crop_puts_keypoints_on_the_right_pixels(tmp_path):
    """A 400x300 scene with bright dots at the keypoints: after the crop/resize each dot is at its
    transformed keypoint."""
    rng = np.random.default_rng(0)
    kp = np.column_stack([rng.uniform(150, 250, 21), rng.uniform(100, 180, 21)])
    img = np.zeros((300, 400, 3), np.uint8)
    path = tmp_path / "scene.png"
    for probe in (0, 7, 20):
        img[:] = 0
        x, y = kp[probe]
        # cv2 draws in index coordinates (pixel centre at j); ours put the centre at j + 0.5
        cv2.circle(img, (round((x - 0.5) * 16), round((y - 0.5) * 16)), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
        cv2.imwrite(str(path), img)
        for box in ((140.0, 90.0, 120.0, 100.0), None):
            rec = HandRecord(path, kp, np.full(21, 2, np.uint8), box=box, crop=True)
            out = decode_record(rec, 64)
            assert not isinstance(out, str)
            im, kps, vis, scale, x0, y0 = out
            # intensity-weighted centre of the dot, in continuous coordinates (pixel j covers [j, j+1))
            g = im[0].astype(float)
            ys, xs = np.mgrid[0:64, 0:64]
            cx, cy = (g * (xs + 0.5)).sum() / g.sum(), (g * (ys + 0.5)).sum() / g.sum()
            assert abs(cx - kps[probe, 0]) < 0.2 and abs(cy - kps[probe, 1]) < 0.2, (probe, box, cx, cy, kps[probe])
            assert np.allclose(kps, (kp - [x0, y0]) * scale, atol=1e-3)


def test_keypoints_outside_the_crop_get_visibility_0_and_keep_their_coordinates(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.full((200, 200, 3), 90, np.uint8))
    kp = np.tile([100.0, 100.0], (21, 1))
    kp[4] = [190.0, 5.0]  # far outside the box
    rec = HandRecord(path, kp, np.full(21, 2, np.uint8), box=(80, 80, 40, 40), crop=True)
    _, kps, vis, scale, x0, y0 = decode_record(rec, 32)
    assert vis[4] == 0 and vis[0] == 2
    assert kps[4, 0] == pytest.approx((190 - x0) * scale, abs=1e-3) and kps[4, 0] > 32  # not clipped


def test_csv_errors_name_the_row(tmp_path):
    from nas.data.formats.csv_format import csv_columns

    (tmp_path / "img.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    good = ["img.png"] + ["1.0"] * 42

    def write(rows, header=None):
        f = tmp_path / "labels.csv"
        f.write_text("\n".join([",".join(header or csv_columns(False))] + [",".join(r) for r in rows]) + "\n")
        return f

    cases = [
        ([good, good[:-1]], "labels.csv: row 3: 42 columns, expected 43"),
        ([good, good[:5] + ["nan"] + good[6:]], "labels.csv: row 3: column x2: 'nan' is not a finite number"),
        ([good[:3] + ["abc"] + good[4:]], "row 2: column x1: 'abc' is not a number"),
        ([["missing.png"] + good[1:]], "row 2: image missing.png not found"),
    ]
    for rows, needle in cases:
        with pytest.raises(DataError) as e:
            read_csv(write(rows))
        assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError, match="header must be"):
        read_csv(write([good], header=["image", "x0", "y0"]))
    assert len(read_csv(write([good, good]))) == 2


def test_split_is_deterministic_and_respects_the_dataset_split():
    a = split_indices([None] * 100, seed=3)
    b = split_indices([None] * 100, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (80, 10, 10)
    assert len(set(np.concatenate(list(a.values())))) == 100
    defined = ["train"] * 30 + ["test"] * 5
    s = split_indices(defined, seed=0)
    assert set(s["test"]) == set(range(30, 35))  # the dataset's own test split is kept
    assert len(s["val"]) > 0 and set(s["val"]) <= set(range(30))


def test_write_csv_round_trip(tmp_path):
    kp = np.arange(42, dtype=float).reshape(1, 21, 2)
    (tmp_path / "x.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    write_csv(tmp_path / "l.csv", ["x.png"], kp, np.full((1, 21), 1))
    rec = read_csv(tmp_path / "l.csv")[0]
    assert np.allclose(rec.keypoints, kp[0]) and (rec.visibility == 1).all()
    assert Path(rec.image) == tmp_path / "x.png"


def test_worker_processes_decode_the_same_as_one(csv_set, tmp_path, monkeypatch):
    """Several chunks over two worker processes, one image unreadable: the same cache as in-process."""
    from nas.data import loader

    folder, _ = csv_set
    (folder / "images" / "000009.png").write_bytes(b"broken")
    monkeypatch.setattr(loader, "_CHUNK", 8)
    seen: list[int] = []
    pooled = load_dataset(folder, "csv", 48, cache_dir=tmp_path / "a", workers=2, max_bad=0.05,
                          progress=lambda done, total: seen.append(done))
    single = load_dataset(folder, "csv", 48, cache_dir=tmp_path / "b", workers=1, max_bad=0.05)
    assert len(pooled.data) == 39 and pooled.skipped == 1 and pooled.refs == single.refs
    for name in ("images", "keypoints", "visibility", "scale"):
        assert np.array_equal(getattr(pooled.data, name).numpy(), getattr(single.data, name).numpy()), name
    assert seen == sorted(seen) and seen[-1] == 40 and len(seen) == 5
