"""Dataset format readers and auto-detection, on tiny fixtures built here (no training, no models)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from nas.data.formats import FORMATS, detect_format, read_records
from nas.data.formats.coco import read_coco
from nas.data.formats.freihand import read_freihand
from nas.data.formats.panoptic import read_panoptic
from nas.data.records import HandRecord
from nas.errors import ConfigError, DataError

# ---------------------------------------------------------------- helpers


def write_image(path: Path, size: int = 64, colour: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), colour, np.uint8))
    return path


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        json.dump(obj, f)
    return path


def error_of(func, *args, exc=DataError) -> str:
    """The message of the error `func(*args)` raises; it must be one line."""
    with pytest.raises(exc) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def check_record(record: HandRecord) -> None:
    assert record.keypoints.shape == (21, 2) and record.keypoints.dtype == np.float64
    assert record.visibility.shape == (21,) and record.visibility.dtype == np.uint8


# ---------------------------------------------------------------- FreiHAND

K = [[100.0, 0.0, 112.0], [0.0, 100.0, 112.0], [0.0, 0.0, 1.0]]


def freihand_xyz(n: int) -> list:
    """Annotation i: point k at (0.1 i + 0.01 k, -0.01 k, 0.5) metres."""
    return [[[0.1 * i + 0.01 * k, -0.01 * k, 0.5] for k in range(21)] for i in range(n)]


def freihand_uv(i: int) -> np.ndarray:
    k = np.arange(21)
    return np.stack([100 * (0.1 * i + 0.01 * k) / 0.5 + 112, 100 * (-0.01 * k) / 0.5 + 112], axis=1)


def make_freihand(root: Path, n: int = 3, image_ids=None) -> Path:
    write_json(root / "training_K.json", [K] * n)
    write_json(root / "training_xyz.json", freihand_xyz(n))
    rgb = root / "training" / "rgb"
    rgb.mkdir(parents=True, exist_ok=True)
    for i in range(n) if image_ids is None else image_ids:
        write_image(rgb / f"{i:08d}.jpg", 32)
    return root


def test_freihand_keypoints_and_fields(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3)
    (root / "training" / "rgb" / "notes.txt").write_text("ignored")
    records = read_freihand(root)
    assert len(records) == 3
    for i, record in enumerate(records):
        check_record(record)
        np.testing.assert_allclose(record.keypoints, freihand_uv(i), atol=1e-9)
        assert (record.visibility == 2).all()
        assert record.crop is False and record.box is None and record.split is None
        assert record.image == root / "training" / "rgb" / f"{i:08d}.jpg"
    assert records[2].ref == "training/rgb/00000002.jpg (annotation 2)"


def test_freihand_four_versions_use_id_mod_n(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3, image_ids=range(12))
    records = read_freihand(root)
    assert [r.image.name for r in records] == [f"{i:08d}.jpg" for i in range(12)]
    for i, record in enumerate(records):
        np.testing.assert_allclose(record.keypoints, freihand_uv(i % 3), atol=1e-9)
    assert records[10].ref == "training/rgb/00000010.jpg (annotation 1)"
    # two versions (2N images) is fine too
    assert len(read_freihand(make_freihand(tmp_path / "two", n=3, image_ids=range(6)))) == 6


@pytest.mark.parametrize("missing", ["training_K.json", "training_xyz.json", "training/rgb"])
def test_freihand_missing_parts(tmp_path, missing):
    root = make_freihand(tmp_path / "frei")
    target = root / missing
    if target.is_dir():
        for p in target.iterdir():
            p.unlink()
        target.rmdir()
    else:
        target.unlink()
    assert missing.split("/")[-1] in error_of(read_freihand, root)


def test_freihand_bad_json(tmp_path):
    root = make_freihand(tmp_path / "frei")
    (root / "training_xyz.json").write_text("[[1, 2,")
    message = error_of(read_freihand, root)
    assert "training_xyz.json" in message and "JSON" in message


def test_freihand_count_mismatch(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3)
    write_json(root / "training_K.json", [K] * 2)
    assert "training_K.json has 2 entries but training_xyz.json has 3" in error_of(read_freihand, root)


def test_freihand_bad_entries(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3)
    write_json(root / "training_K.json", [K, [[1, 0], [0, 1]], K])
    assert "training_K.json[1]" in error_of(read_freihand, root)
    write_json(root / "training_K.json", [K] * 3)
    xyz = freihand_xyz(3)
    xyz[2] = xyz[2][:20]
    write_json(root / "training_xyz.json", xyz)
    assert "training_xyz.json[2]" in error_of(read_freihand, root)
    xyz = freihand_xyz(3)
    xyz[1][4][0] = "a"
    write_json(root / "training_xyz.json", xyz)
    assert "training_xyz.json[1]" in error_of(read_freihand, root)


def test_freihand_point_behind_camera(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3)
    xyz = freihand_xyz(3)
    xyz[1][7][2] = -0.2
    write_json(root / "training_xyz.json", xyz)
    message = error_of(read_freihand, root)
    assert "training_xyz.json[1]" in message and "keypoint 7" in message


def test_freihand_image_counts(tmp_path):
    root = make_freihand(tmp_path / "frei", n=3, image_ids=range(4))
    message = error_of(read_freihand, root)
    assert "4 images" in message and "3 annotations" in message
    root = make_freihand(tmp_path / "far", n=3, image_ids=[0, 1, 12])
    message = error_of(read_freihand, root)
    assert "00000012.jpg" in message and "12" in message
    root = make_freihand(tmp_path / "none", n=3, image_ids=[])
    assert "rgb" in error_of(read_freihand, root)


# ---------------------------------------------------------------- COCO

def hand_points(offset: float, v) -> list[float]:
    """21 x [x, y, v] flattened; point k at (offset + k, offset + 2 k)."""
    vs = v if isinstance(v, list) else [v] * 21
    flat = []
    for k in range(21):
        flat += [offset + k, offset + 2 * k, vs[k]]
    return flat


def expected_points(offset: float) -> np.ndarray:
    k = np.arange(21, dtype=np.float64)
    return np.stack([offset + k, offset + 2 * k], axis=1)


def wholebody_doc() -> dict:
    right_v = [0.0] * 3 + [0.37] * 9 + [1.0] * 9  # WholeBody hand scores: v > 0 is labelled
    return {
        "images": [{"id": 139, "file_name": "000000000139.jpg"}, {"id": 140, "file_name": "000000000140.jpg"}],
        "annotations": [
            {
                "id": 5, "image_id": 139, "keypoints": [0.0] * 51,
                "lefthand_valid": True, "lefthand_kpts": hand_points(10, 2), "lefthand_box": [10, 20, 30, 40],
                "righthand_valid": False, "righthand_kpts": [0.0] * 63, "righthand_box": [0, 0, 0, 0],
            },
            {
                "id": 6, "image_id": 140,
                "lefthand_valid": True, "lefthand_kpts": hand_points(20, 1), "lefthand_box": [1, 2, 3, 4],
                "righthand_valid": True, "righthand_kpts": hand_points(30, right_v), "righthand_box": [5, 6, 0, 8],
            },
            {"id": 7, "image_id": 140, "lefthand_valid": False, "righthand_valid": False},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": ["k"] * 17}],
    }


def make_wholebody(root: Path) -> Path:
    """COCO layout: annotations/coco_wholebody_val_v1.0.json, images in val2017/."""
    write_image(root / "val2017" / "000000000139.jpg")
    write_image(root / "val2017" / "000000000140.jpg")
    write_image(root / "train2017" / "000000000139.jpg", colour=10)  # must not be picked
    return write_json(root / "annotations" / "coco_wholebody_val_v1.0.json", wholebody_doc())


def test_coco_wholebody(tmp_path):
    json_path = make_wholebody(tmp_path / "coco")
    records = read_coco(json_path)
    assert [r.ref for r in records] == [
        "coco_wholebody_val_v1.0.json annotation 5 (left hand)",
        "coco_wholebody_val_v1.0.json annotation 6 (left hand)",
        "coco_wholebody_val_v1.0.json annotation 6 (right hand)",
    ]
    for r in records:
        check_record(r)
        assert r.crop is True and r.split == "val"
    assert records[0].image == tmp_path / "coco" / "val2017" / "000000000139.jpg"
    assert records[1].image == tmp_path / "coco" / "val2017" / "000000000140.jpg"
    np.testing.assert_array_equal(records[0].keypoints, expected_points(10))
    np.testing.assert_array_equal(records[2].keypoints, expected_points(30))
    assert (records[0].visibility == 2).all() and (records[1].visibility == 2).all()
    np.testing.assert_array_equal(records[2].visibility, [0] * 3 + [2] * 18)
    assert records[0].box == (10.0, 20.0, 30.0, 40.0)
    assert records[1].box == (1.0, 2.0, 3.0, 4.0)
    assert records[2].box is None  # w == 0
    # the folder holding the json works too (annotations/ is searched when the folder has no json)
    assert [r.ref for r in read_coco(tmp_path / "coco")] == [r.ref for r in records]


def plain_doc(file_name: str = "hand1.jpg") -> dict:
    v = [2] * 10 + [1] * 6 + [0] * 5
    return {
        "images": [{"id": 1, "file_name": file_name}],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1, "keypoints": hand_points(3.5, v), "bbox": [1, 2, 3, 4],
             "num_keypoints": 16},
            {"id": 8, "image_id": 1, "category_id": 1, "keypoints": [0] * 63, "bbox": [0, 0, 0, 0],
             "num_keypoints": 0},
            {"id": 9, "image_id": 1, "category_id": 1, "keypoints": hand_points(0.5, 2), "bbox": [0, 0, -1, 5]},
        ],
        "categories": [{"id": 1, "name": "hand", "keypoints": [f"k{i}" for i in range(21)]}],
    }


def test_coco_plain_keypoints(tmp_path):
    write_image(tmp_path / "hands" / "images" / "hand1.jpg")
    json_path = write_json(tmp_path / "hands" / "coco.json", plain_doc())
    records = read_coco(json_path)
    assert [r.ref for r in records] == ["coco.json annotation 7", "coco.json annotation 9"]  # 8: nothing labelled
    first = records[0]
    check_record(first)
    np.testing.assert_array_equal(first.keypoints, expected_points(3.5))
    np.testing.assert_array_equal(first.visibility, [2] * 10 + [1] * 6 + [0] * 5)
    assert first.box == (1.0, 2.0, 3.0, 4.0) and records[1].box is None
    assert first.crop is True and first.split is None
    assert first.image == tmp_path / "hands" / "images" / "hand1.jpg"


@pytest.mark.parametrize(("name", "split"), [("hands_train.json", "train"), ("hand_val.json", "val"),
                                             ("my_test_set.json", "test"), ("hands.json", None)])
def test_coco_split_from_name_and_image_beside_json(tmp_path, name, split):
    write_image(tmp_path / "hand1.jpg")
    records = read_coco(write_json(tmp_path / name, plain_doc()))
    assert {r.split for r in records} == {split}
    assert records[0].image == tmp_path / "hand1.jpg"


def test_coco_folder_with_several_files(tmp_path):
    write_image(tmp_path / "hand1.jpg")
    write_json(tmp_path / "a_train.json", plain_doc())
    write_json(tmp_path / "b_val.json", plain_doc())
    records = read_coco(tmp_path)
    expected = [("a_train.json", "train")] * 2 + [("b_val.json", "val")] * 2
    assert [(r.ref.split()[0], r.split) for r in records] == expected
    assert "no *.json" in error_of(read_coco, write_image(tmp_path / "empty" / "x.jpg").parent)


def test_coco_errors(tmp_path):
    write_image(tmp_path / "hand1.jpg")
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [')
    assert "broken.json" in error_of(read_coco, bad)

    for key in ("annotations", "images"):
        doc = plain_doc()
        del doc[key]
        message = error_of(read_coco, write_json(tmp_path / f"no_{key}.json", doc))
        assert f"no_{key}.json" in message and key in message

    doc = plain_doc()
    doc["annotations"][1]["image_id"] = 99
    message = error_of(read_coco, write_json(tmp_path / "orphan.json", doc))
    assert "orphan.json annotation 8" in message and "99" in message

    doc = wholebody_doc()
    for ann in doc["annotations"]:
        ann["lefthand_valid"] = ann["righthand_valid"] = False
    assert "coco_wb.json: no valid hand annotation" in error_of(read_coco, write_json(tmp_path / "coco_wb.json", doc))

    doc = plain_doc()
    doc["annotations"] = [doc["annotations"][0] | {"keypoints": [0, 0, 0] * 17}]
    assert "short.json annotation 7: 17 keypoints, expected 21" in error_of(
        read_coco, write_json(tmp_path / "short.json", doc))
    doc = plain_doc()
    doc["categories"][0]["keypoints"] = ["k"] * 17
    assert "person.json annotation 7: 17 keypoints, expected 21" in error_of(
        read_coco, write_json(tmp_path / "person.json", doc))

    doc = plain_doc()
    doc["annotations"][0]["keypoints"][5] = "x"
    assert "nonnum.json annotation 7" in error_of(read_coco, write_json(tmp_path / "nonnum.json", doc))


def test_coco_missing_image_is_an_error(tmp_path):
    json_path = make_wholebody(tmp_path / "coco")
    (tmp_path / "coco" / "val2017" / "000000000139.jpg").unlink()
    message = error_of(read_coco, json_path)
    assert "coco_wholebody_val_v1.0.json annotation 5 (left hand)" in message
    assert "image 000000000139.jpg not found" in message and "val2017" in message


# ---------------------------------------------------------------- CMU Panoptic

def panoptic_points(offset: float, v) -> list:
    vs = v if isinstance(v, list) else [v] * 21
    return [[offset + k, offset + 2 * k, vs[k]] for k in range(21)]


def make_panoptic(root: Path) -> Path:
    labels = root / "hand_labels"
    v = [1] * 15 + [0] * 6
    for folder, name, offset, is_left in [("manual_train", "000015774_01_l", 5.0, 1),
                                          ("manual_train", "000015774_01_r", 6.0, 0),
                                          ("manual_test", "Berry_roof_story.flv_000053_l", 7.0, 1)]:
        write_json(labels / folder / f"{name}.json", {"hand_pts": panoptic_points(offset, v), "is_left": is_left})
        write_image(labels / folder / f"{name}.jpg")
    return root


def test_panoptic(tmp_path):
    root = make_panoptic(tmp_path / "pan")
    records = read_panoptic(root)
    assert [r.ref for r in records] == [
        "manual_test/Berry_roof_story.flv_000053_l.json (left hand)",
        "manual_train/000015774_01_l.json (left hand)",
        "manual_train/000015774_01_r.json (right hand)",
    ]
    assert [r.split for r in records] == ["test", "train", "train"]
    for r in records:
        check_record(r)
        assert r.crop is True and r.box is None
        np.testing.assert_array_equal(r.visibility, [2] * 15 + [1] * 6)
    np.testing.assert_array_equal(records[1].keypoints, expected_points(5.0))
    assert records[1].image == root / "hand_labels" / "manual_train" / "000015774_01_l.jpg"
    # hand_labels itself, or one manual_* folder
    assert [r.ref for r in read_panoptic(root / "hand_labels")] == [r.ref for r in records]
    assert [r.split for r in read_panoptic(root / "hand_labels" / "manual_test")] == ["test"]


def test_panoptic_errors(tmp_path):
    folder = make_panoptic(tmp_path / "pan") / "hand_labels" / "manual_train"
    target = folder / "000015774_01_r.json"

    def fails_naming_file(content) -> str:
        if isinstance(content, str):
            target.write_text(content)
        else:
            write_json(target, content)
        message = error_of(read_panoptic, folder)
        assert "000015774_01_r.json" in message
        return message

    fails_naming_file("{not json")
    assert "hand_pts" in fails_naming_file({"is_left": 0})
    assert "20 keypoints" in fails_naming_file({"hand_pts": panoptic_points(1.0, 1)[:20], "is_left": 0})
    bad = panoptic_points(1.0, 1)
    bad[3][1] = "y"
    fails_naming_file({"hand_pts": bad, "is_left": 0})
    assert "keypoint 4" in fails_naming_file({"hand_pts": panoptic_points(1.0, [1] * 4 + [2] + [1] * 16)})

    write_json(target, {"hand_pts": panoptic_points(1.0, 1), "is_left": 0})
    (folder / "000015774_01_r.jpg").unlink()
    assert "000015774_01_r.jpg" in error_of(read_panoptic, folder)

    empty = tmp_path / "other" / "manual_train"
    write_image(empty / "lonely.jpg")
    assert "manual_train" in error_of(read_panoptic, empty)
    write_image(tmp_path / "nothing" / "photo.jpg")
    assert "hand_labels" in error_of(read_panoptic, tmp_path / "nothing")


# ---------------------------------------------------------------- detection and dispatch

def test_detect_each_format(tmp_path):
    assert detect_format(make_freihand(tmp_path / "frei")) == "freihand"
    pan = make_panoptic(tmp_path / "pan")
    assert detect_format(pan) == "panoptic"
    assert detect_format(pan / "hand_labels") == "panoptic"
    assert detect_format(pan / "hand_labels" / "manual_test") == "panoptic"
    coco = make_wholebody(tmp_path / "coco")
    assert detect_format(coco) == "coco"
    assert detect_format(tmp_path / "coco") == "coco"  # via annotations/ and the name hint
    plain = tmp_path / "plain"
    write_json(plain / "labels.json", plain_doc())  # no name hint: loaded and checked for "annotations"
    assert detect_format(plain) == "coco"
    csv_dir = tmp_path / "csvset"
    csv_dir.mkdir()
    (csv_dir / "labels.csv").write_text("image,x0,y0\na.jpg,1,2\n")
    assert detect_format(csv_dir) == "csv"
    assert detect_format(csv_dir / "labels.csv") == "csv"
    assert set(FORMATS) == {"csv", "freihand", "coco", "panoptic"}


def test_detect_rejects(tmp_path):
    assert "no such file or folder" in error_of(detect_format, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "empty folder" in error_of(detect_format, tmp_path / "empty")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.csv").write_text("name,x\n")
    write_json(other / "config.json", {"lr": 0.1})
    message = error_of(detect_format, other)
    assert "unrecognised dataset format" in message and str(other) in message
    (tmp_path / "x.txt").write_text("hi")
    assert "unrecognised" in error_of(detect_format, tmp_path / "x.txt")


def test_read_records_dispatch(tmp_path):
    root = make_freihand(tmp_path / "frei")
    fmt, records = read_records(root, "auto")
    assert fmt == "freihand" and len(records) == 3
    fmt, records = read_records(make_panoptic(tmp_path / "pan"), "panoptic")
    assert fmt == "panoptic" and len(records) == 3
    assert read_records(make_wholebody(tmp_path / "coco"), "coco")[0] == "coco"

    from nas.data.formats.csv_format import csv_columns

    write_image(tmp_path / "c" / "a.png")
    table = tmp_path / "c" / "t.csv"
    table.write_text(",".join(csv_columns(False)) + "\na.png," + ",".join(["3"] * 42) + "\n")
    fmt, records = read_records(table, "auto")
    assert fmt == "csv" and len(records) == 1 and records[0].image == tmp_path / "c" / "a.png"
    assert read_records(tmp_path / "c", "auto")[0] == "csv"

    message = error_of(read_records, root, "xyz", exc=ConfigError)
    assert message == "format: 'xyz' is not one of auto, csv, freihand, coco, panoptic"
    assert "no such file or folder" in error_of(read_records, tmp_path / "nope", "coco")


def test_registry_drives_detection_and_reading(tmp_path, monkeypatch):
    from nas.data import formats

    assert formats.FORMAT_CHOICES == ("auto", *FORMATS)
    # a tell-tale layout wins over a file-type guess: FreiHAND with a stray image CSV beside it
    root = make_freihand(tmp_path / "frei")
    (root / "extra.csv").write_text("image,x0,y0\n")
    assert detect_format(root) == "freihand"
    # a registered format is detected, read and accepted by name, ahead of the generic ones
    fake = HandRecord(tmp_path / "a.png", np.zeros((21, 2)), np.full(21, 2, np.uint8))
    monkeypatch.setitem(formats.REGISTRY, "mine", formats.DatasetFormat(
        read=lambda path: [fake], detect=lambda path: (path / "MINE").exists(), priority=2))
    (root / "MINE").write_text("")
    assert read_records(root, "auto") == ("mine", [fake])
    assert read_records(tmp_path / "frei", "freihand")[0] == "freihand"
