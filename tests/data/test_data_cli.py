"""Every dataset format end to end: fixtures built here from real synthetic hands, loaded through
the shared crop/resize path, and searched with `handkp-search study --data DIR` in a subprocess."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TINY_SPACE, cli

from nas.data.loader import CROP_PAD, load_dataset

N = 16  # hands per fixture
SRC = 96  # rendered side
CANVAS = 160  # COCO/Panoptic scenes: the hand crop pasted into a larger image
OFFSETS = [(7 + 3 * i, 40 - 2 * i) for i in range(N)]


def _bgr(img_chw: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img_chw.transpose(1, 2, 0)), cv2.COLOR_RGB2BGR)


def _scene(img_chw: np.ndarray, offset) -> np.ndarray:
    canvas = np.full((CANVAS, CANVAS, 3), 70, np.uint8)
    ox, oy = offset
    canvas[oy:oy + SRC, ox:ox + SRC] = _bgr(img_chw)
    return canvas


@pytest.fixture(scope="module")
def hands(synth_cache):
    from nas.data.synthetic import synthetic_dataset

    return synthetic_dataset(N, SRC, seed=21, cache_dir=synth_cache)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, hands):
    images, kps, vis = hands
    root = tmp_path_factory.mktemp("formats")
    out = {}
    # csv: the synth exporter's layout
    from nas.data.formats.csv_format import write_csv

    d = root / "csv"
    (d / "images").mkdir(parents=True)
    for i in range(N):
        cv2.imwrite(str(d / "images" / f"{i:04d}.png"), _bgr(images[i]))
    write_csv(d / "labels.csv", [f"images/{i:04d}.png" for i in range(N)], kps, vis)
    out["csv"] = d
    # freihand: K = identity and z = 1, so uv = (x, y)
    d = root / "freihand"
    (d / "training" / "rgb").mkdir(parents=True)
    for i in range(N):
        cv2.imwrite(str(d / "training" / "rgb" / f"{i:08d}.jpg"), _bgr(images[i]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    (d / "training_K.json").write_text(json.dumps([np.eye(3).tolist()] * N))
    (d / "training_xyz.json").write_text(json.dumps([[[float(x), float(y), 1.0] for x, y in k] for k in kps]))
    out["freihand"] = d
    # coco: plain COCO keypoints, 21 per annotation, hands pasted into larger scenes, box = the crop
    d = root / "coco"
    (d / "images").mkdir(parents=True)
    doc = {"images": [], "annotations": [],
           "categories": [{"id": 1, "name": "hand", "keypoints": [f"k{k}" for k in range(21)]}]}
    for i in range(N):
        cv2.imwrite(str(d / "images" / f"{i:04d}.png"), _scene(images[i], OFFSETS[i]))
        doc["images"].append({"id": i, "file_name": f"{i:04d}.png", "width": CANVAS, "height": CANVAS})
        ox, oy = OFFSETS[i]
        flat = [v for (x, y), s in zip(kps[i], vis[i]) for v in (float(x + ox), float(y + oy), int(s))]
        doc["annotations"].append({"id": 100 + i, "image_id": i, "category_id": 1, "keypoints": flat,
                                   "num_keypoints": int((vis[i] > 0).sum()), "bbox": [ox, oy, SRC, SRC]})
    (d / "hand_keypoints.json").write_text(json.dumps(doc))
    out["coco"] = d
    # panoptic: hand_labels/manual_{train,test}/NAME.jpg + NAME.json, no box (from keypoints)
    d = root / "panoptic"
    for i in range(N):
        part = d / "hand_labels" / ("manual_test" if i >= N - 3 else "manual_train")
        part.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(part / f"h{i:03d}.jpg"), _scene(images[i], OFFSETS[i]), [cv2.IMWRITE_JPEG_QUALITY, 95])
        ox, oy = OFFSETS[i]
        pts = [[float(x + ox), float(y + oy), 1 if s == 2 else 0] for (x, y), s in zip(kps[i], vis[i])]
        (part / f"h{i:03d}.json").write_text(json.dumps({"hand_pts": pts, "is_left": i % 2}))
    out["panoptic"] = d
    return out


def _expected(fmt: str, i: int, kps: np.ndarray, vis: np.ndarray, size: int) -> np.ndarray:
    """Where hand i's keypoints must land in a size x size input."""
    if fmt in ("csv", "freihand"):  # hand crops: the whole image, scaled
        return kps[i] * size / SRC
    ox, oy = OFFSETS[i]
    pts = kps[i] + [ox, oy]
    if fmt == "coco":  # the box, padded and squared
        x, y, w, h = ox, oy, SRC, SRC
    else:  # panoptic labels every point; the box is their bounds
        lo, hi = pts.min(0), pts.max(0)
        x, y, w, h = lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)
    side = max(w, h) * CROP_PAD
    x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
    return (pts - [x0, y0]) * size / side


@pytest.mark.parametrize("fmt", ["csv", "freihand", "coco", "panoptic"])
def test_each_format_lands_keypoints_on_the_right_pixels(datasets, hands, fmt, tmp_path):
    images, kps, vis = hands
    loaded = load_dataset(datasets[fmt], "auto", 64, cache_dir=tmp_path, workers=1)
    assert loaded.format == fmt and len(loaded.data) == N
    order = range(N)
    if fmt == "panoptic":  # manual_test is read before manual_train: find each hand by its file name
        import re

        order = [int(re.search(r"h(\d{3})", ref)[1]) for ref in loaded.refs]
        assert sorted(order) == list(range(N))
    for row, i in enumerate(order):
        want = _expected(fmt, i, kps, vis, 64)
        got = loaded.data.keypoints[row].numpy()
        labelled = vis[i] > 0
        assert np.abs(got[labelled] - want[labelled]).max() < 0.01, (fmt, i)
        inside = np.all((want >= 0) & (want < 64), axis=1)
        assert not np.any(loaded.data.visibility[row].numpy()[~inside])  # outside -> visibility 0
    # the pixels follow the keypoints: the hand picture, resized the same way, matches the input
    i = list(order)[0]
    if fmt in ("csv", "freihand"):
        ref = cv2.resize(images[i].transpose(1, 2, 0), (64, 64), interpolation=cv2.INTER_AREA)
        diff = np.abs(loaded.data.images[0].numpy().transpose(1, 2, 0).astype(int) - ref.astype(int)).mean()
        assert diff < 8, diff
    if fmt == "panoptic":
        assert loaded.splits.count("test") == 3


def run(args, env, cwd, timeout=900):
    return subprocess.run(cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("fmt", ["csv", "freihand", "coco", "panoptic"])
def test_data_info_detects_each_format(datasets, fmt, tmp_path, cli_env):
    r = run(["data", "info", str(datasets[fmt]), "--size", "64", "--cache-dir", str(tmp_path / "c")], cli_env,
            tmp_path)
    assert r.returncode == 0 and f"dataset format: {fmt} ({N} hands listed)" in r.stdout, r.stderr


def test_study_runs_on_a_dataset(datasets, tmp_path, cli_env):
    """The study reads a dataset through the same loader as `data info` (above, every format): one format
    end to end is enough here (each study subprocess costs ~20 s of the suite's 10 minutes)."""
    fmt = "coco"
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE)
    r = run(["study", "--space", "tiny.yaml", "--data", str(datasets[fmt]), "--trials", "1", "--device", "cpu",
             "--storage", f"sqlite:///{tmp_path / 's.db'}", "--study-name", fmt], cli_env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"dataset format: {fmt} ({N} hands listed)" in r.stdout
    import optuna

    study = optuna.load_study(study_name=fmt, storage=f"sqlite:///{tmp_path / 's.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]  # the other baseline stays enqueued
    assert len(done) == 1 and np.isfinite(done[0].user_attrs["px_error"])


def _one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_bad_datasets_give_one_line_and_exit_2(datasets, tmp_path, cli_env):
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE)
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("hello")
    bad_csv = tmp_path / "badcsv"
    bad_csv.mkdir()
    src = (datasets["csv"] / "labels.csv").read_text().splitlines()
    (bad_csv / "labels.csv").write_text("\n".join([src[0], src[1].rsplit(",", 1)[0]]) + "\n")
    missing_img = tmp_path / "missingimg"
    missing_img.mkdir()
    (missing_img / "labels.csv").write_text("\n".join(src[:2]) + "\n")
    frei = tmp_path / "frei"
    frei.mkdir()
    (frei / "training_xyz.json").write_text("[[1, 2")
    (frei / "training_K.json").write_text("[]")
    (frei / "training" / "rgb").mkdir(parents=True)
    cases = [
        (tmp_path / "nowhere", "nowhere: no such file or folder"),
        (empty, "empty: empty folder"),
        (junk, "junk: unrecognised dataset format"),
        (bad_csv, "labels.csv: row 2: 63 columns, expected 64"),
        (missing_img, "labels.csv: row 2: image images/0000.png not found"),
        (frei, "training_xyz.json: not valid JSON"),
    ]
    for path, needle in cases:
        r = run(["study", "--space", "tiny.yaml", "--data", str(path), "--trials", "1", "--device", "cpu",
                 "--storage", f"sqlite:///{tmp_path / 's.db'}", "--study-name", "bad"], cli_env, tmp_path)
        assert needle in _one_error_line(r), (needle, r.stderr)
    # a corrupt image beyond the allowed share fails, naming the log; a larger --max-bad lets it through
    corrupt = tmp_path / "corrupt"
    import shutil

    shutil.copytree(datasets["csv"], corrupt)
    (corrupt / "images" / "0003.png").write_bytes(b"garbage")
    args = ["data", "info", str(corrupt), "--size", "32", "--cache-dir", str(tmp_path / "cache")]
    line = _one_error_line(run(args, cli_env, tmp_path))
    assert "1 of 16 images could not be read" in line and "skipped.log" in line
    r = run([*args, "--max-bad", "0.1"], cli_env, tmp_path)
    assert r.returncode == 0 and "15 hands" in r.stdout and "1 unreadable image(s) skipped" in r.stdout


def test_data_synth_writes_a_loadable_csv_example(tmp_path, cli_env):
    r = run(["data", "synth", "--out", "ex", "--count", "6", "--size", "64"], cli_env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "ex" / "images").glob("*.png"))) == 6
    r = run(["data", "info", "ex", "--size", "64", "--cache-dir", str(tmp_path / "c")], cli_env, tmp_path)
    assert r.returncode == 0 and "dataset format: csv (6 hands listed)" in r.stdout, r.stderr
    assert Path(tmp_path / "ex" / "labels.csv").read_text().startswith("image,x0,y0,")
