"""Tests of the procedural synthetic hand renderer (nas.data.synth) and its cache (nas.data.synthetic)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from nas.data import synth, synthetic
from nas.data.cache import default_cache_dir
from nas.data.synth import SynthConfig, render_batch
from nas.data.synthetic import synthetic_dataset
from nas.errors import ConfigError, DataError

TIPS = [4, 8, 12, 16, 20]


@pytest.fixture(scope="module")
def many() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few hundred small images for statistics."""
    return render_batch(300, 64, 123)


def _same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------------------- rendering
def test_shapes_and_dtypes() -> None:
    images, kps, vis = render_batch(6, 96, 0)
    assert images.shape == (6, 3, 96, 96) and images.dtype == np.uint8
    assert kps.shape == (6, 21, 2) and kps.dtype == np.float32
    assert vis.shape == (6, 21) and vis.dtype == np.uint8
    assert np.isfinite(kps).all()
    assert set(np.unique(vis)) <= {0, 1, 2}


def test_zero_count_gives_empty_arrays() -> None:
    images, kps, vis = render_batch(0, 64, 0)
    assert images.shape == (0, 3, 64, 64) and kps.shape == (0, 21, 2) and vis.shape == (0, 21)


def test_deterministic_and_seed_dependent() -> None:
    a = render_batch(4, 64, 7)
    assert _same(a, render_batch(4, 64, 7))
    b = render_batch(4, 64, 8)
    assert not np.array_equal(a[0], b[0])
    assert not np.array_equal(a[1], b[1])


def test_chunked_equals_whole() -> None:
    whole = render_batch(20, 128, 3)
    part = render_batch(5, 128, 3, start=10)
    assert _same(part, tuple(x[10:15] for x in whole))


def test_restores_cv2_threads() -> None:
    before = cv2.getNumThreads()
    render_batch(1, 32, 0)
    assert cv2.getNumThreads() == before


def test_visibility_matches_image_bounds(many) -> None:
    _, kps, vis = many
    inside = np.all((kps >= 0) & (kps < 64), axis=2)
    assert np.array_equal(inside, vis > 0)


def test_keypoints_mostly_inside_with_some_outside_and_occluded(many) -> None:
    _, _, vis = many
    share = [(vis == v).mean() for v in (0, 1, 2)]
    assert 0.002 < share[0] < 0.08, share
    assert 0.03 < share[1] < 0.45, share
    assert share[2] > 0.5, share


def test_hand_size_and_position(many) -> None:
    _, kps, _ = many
    side = (kps.max(axis=1) - kps.min(axis=1)).max(axis=1) / 64
    # Strongly foreshortened hands may come out a little smaller than 40 %.
    assert side.max() < 0.95 and side.min() > 0.2 and np.mean(side < 0.4) < 0.1
    centre = (kps.max(axis=1) + kps.min(axis=1)) / 2 / 64
    assert np.abs(np.median(centre, axis=0) - 0.5).max() < 0.05
    assert centre.std(axis=0).min() > 0.05  # shifted, not always centred


def test_both_handednesses() -> None:
    cfg = SynthConfig()
    left = [synth._project(np.random.default_rng(i), cfg, 64).left for i in range(200)]
    assert 0.3 < np.mean(left) < 0.7


def test_skin_is_drawn_at_visible_keypoints() -> None:
    # Without photometric changes or clutter every painted hand pixel is skin: red > blue.
    cfg = SynthConfig(photometric=False, clutter_max=0, occluder_prob=0.0, distractor_prob=0.0)
    images, kps, vis = render_batch(60, 64, 5, config=cfg)
    n, j = np.nonzero(vis == 2)
    ij = np.floor(kps[n, j]).astype(int)
    px = images[n, :, ij[:, 1], ij[:, 0]].astype(int)
    assert (px[:, 0] > px[:, 2]).mean() > 0.97
    # Background corners are often not red > blue, so the check above does discriminate.
    assert (images[:, 0, 3, 3].astype(int) > images[:, 2, 3, 3]).mean() < 0.8


def test_visible_fingertips_differ_from_background(many) -> None:
    images, kps, vis = many
    n, j = np.nonzero(vis[:, TIPS] == 2)
    j = np.asarray(TIPS)[j]
    ij = np.floor(kps[n, j]).astype(int)
    px = images[n, :, ij[:, 1], ij[:, 0]].astype(float)
    mean = images.reshape(len(images), 3, -1).mean(axis=2)[n]
    assert len(n) > 300
    assert (np.abs(px - mean).sum(axis=1) > 30).mean() > 0.9


def test_pixel_centre_convention() -> None:
    # A disc centred at continuous (10.5, 20.5) is centred on pixel column 10, row 20.
    img = np.zeros((40, 40), np.uint8)
    c = np.array([[10.5, 20.5]])
    synth._Caps(c, c, np.array([4.0]), np.array([4.0])).draw(img, 0, 255)
    ys, xs = np.nonzero(img)
    w = img[ys, xs].astype(float)
    assert abs((w * (xs + 0.5)).sum() / w.sum() - 10.5) < 0.05
    assert abs((w * (ys + 0.5)).sum() / w.sum() - 20.5) < 0.05


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        SynthConfig(scale_range=(0.9, 0.4))
    with pytest.raises(ConfigError):
        SynthConfig(occluder_prob=1.5)


@pytest.mark.parametrize("count,size", [(-1, 64), (1.5, 64), (True, 64), (2, 8), (2, 5000), (2, "64"), (2, 64.0)])
def test_bad_arguments_raise_config_error(count, size) -> None:
    with pytest.raises(ConfigError):
        render_batch(count, size, 0)


def test_bad_dataset_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        synthetic_dataset(0, 64, cache_dir=tmp_path)
    with pytest.raises(ConfigError):
        synthetic_dataset(4, 64, cache_dir=tmp_path, workers=0)
    with pytest.raises(ConfigError):
        render_batch(2, 64, 0, start=-1)
    with pytest.raises(ConfigError):
        render_batch(2, 64, -1)


# ---------------------------------------------------------------------------- cache
def test_cache_roundtrip_without_rerender(tmp_path: Path, monkeypatch) -> None:
    first = synthetic_dataset(30, 48, seed=2, cache_dir=tmp_path, workers=1)
    assert _same(first, render_batch(30, 48, 2))
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1 and entries[0].is_dir() and entries[0].name.startswith("synth-")

    def boom(*args, **kwargs):
        raise AssertionError("rendered although cached")

    monkeypatch.setattr(synthetic, "_render_all", boom)
    seen: list[int] = []
    again = synthetic_dataset(30, 48, seed=2, cache_dir=tmp_path, workers=1, progress=seen.append)
    assert _same(first, again)
    assert seen == [30]


def test_cache_key_separates_arguments(tmp_path: Path) -> None:
    synthetic_dataset(3, 32, seed=0, cache_dir=tmp_path, workers=1)
    synthetic_dataset(3, 32, seed=1, cache_dir=tmp_path, workers=1)
    synthetic_dataset(4, 32, seed=0, cache_dir=tmp_path, workers=1)
    synthetic_dataset(3, 40, seed=0, cache_dir=tmp_path, workers=1)
    synthetic_dataset(3, 32, seed=0, cache_dir=tmp_path, workers=1, config=SynthConfig(clutter_max=2))
    assert len(list(tmp_path.glob("synth-*"))) == 5
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape", "no_meta"])
def test_corrupt_cache_is_rerendered(tmp_path: Path, monkeypatch, damage: str) -> None:
    good = tuple(np.array(a) for a in synthetic_dataset(12, 32, seed=4, cache_dir=tmp_path, workers=1))
    (path,) = tmp_path.glob("synth-*")
    images = path / "images.npy"
    if damage == "truncate":
        data = images.read_bytes()
        images.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        images.write_bytes(b"not an npy file")
    elif damage == "wrong_shape":
        for name, part in zip(("images", "keypoints", "visibility"), good):
            np.save(path / f"{name}.npy", part[:5])
    else:
        (path / "meta.json").unlink()
    calls = []
    real = synthetic._render_all
    monkeypatch.setattr(synthetic, "_render_all", lambda *a: calls.append(1) or real(*a))
    again = synthetic_dataset(12, 32, seed=4, cache_dir=tmp_path, workers=1)
    assert calls == [1]
    assert _same(good, again)
    assert synthetic._read(path, 12, 32) is not None  # repaired on disk
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the damaged entry is gone, no temp left


def test_an_interrupted_render_leaves_nothing_a_later_run_trusts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK", 8)

    def interrupt(done: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthetic_dataset(24, 32, seed=6, cache_dir=tmp_path, workers=1, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    seen: list[int] = []
    again = synthetic_dataset(24, 32, seed=6, cache_dir=tmp_path, workers=1, progress=seen.append)
    assert seen == [8, 16, 24]  # rendered afresh
    assert _same(again, render_batch(24, 32, 6))


def test_workers_match_in_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK", 16)  # 3 chunks over 2 worker processes
    seen: list[int] = []
    pooled = synthetic_dataset(40, 32, seed=9, cache_dir=tmp_path / "a", workers=2, progress=seen.append)
    single = synthetic_dataset(40, 32, seed=9, cache_dir=tmp_path / "b", workers=1)
    assert _same(pooled, single)
    assert sorted(seen) == seen and seen[-1] == 40 and len(seen) == 3


def test_unwritable_cache_dir_raises_data_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="file"):
        synthetic_dataset(2, 32, cache_dir=blocker / "sub", workers=1)


def test_default_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDKP_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("HANDKP_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "handkp-search"
