"""FER2013 loaders on tiny synthetic datasets, and on the real file when it is present."""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import DatasetError
from core.labels import EMOTIONS
from training.data import load_fer2013, load_ferplus_targets, with_ferplus
from tests.real_data import REAL_FER2013, REAL_FERPLUS, SKIP_REASON


def _pixels(value: int) -> str:
    return " ".join([str(value)] * 2304)


def write_csv(path: Path, rows: list[tuple[str, ...]], *, header: str = "emotion,pixels,Usage", gz: bool = False) -> Path:
    text = header + "\n" + "".join(",".join(row) + "\n" for row in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def small_rows() -> list[tuple[str, str, str]]:
    rows = []
    for i in range(14):
        rows.append((str(i % 7), _pixels(i), "Training"))
    rows += [("3", _pixels(200), "PublicTest"), ("4", _pixels(201), "PrivateTest"), ("6", _pixels(202), "PrivateTest")]
    return rows


@pytest.mark.parametrize("gz", [False, True])
def test_csv_splits_labels_and_pixels(tmp_path: Path, gz: bool) -> None:
    path = write_csv(tmp_path / ("f.csv.gz" if gz else "f.csv"), small_rows(), gz=gz)
    data = load_fer2013(path)
    assert set(data.splits) == {"Training", "PublicTest", "PrivateTest"}
    train = data["Training"]
    assert train.x.shape == (14, 48, 48) and train.x.dtype == np.uint8
    assert train.class_counts().tolist() == [2] * 7
    assert int(train.x[5, 10, 10]) == 5
    assert data["PrivateTest"].y.tolist() == [4, 6]
    assert data["PrivateTest"].index.tolist() == [15, 16]
    assert len(data.sha256) == 64


def test_a_folder_holding_the_csv_is_read_as_the_csv(tmp_path: Path) -> None:
    # FER2013_PATH may name a folder such as data/ that holds fer2013.csv.gz (as CI's does).
    write_csv(tmp_path / "fer2013.csv.gz", small_rows(), gz=True)
    data = load_fer2013(tmp_path, cache_dir=tmp_path / "cache")
    assert data["PrivateTest"].y.tolist() == [4, 6] and len(data["Training"]) == 14
    (tmp_path / "train").mkdir()  # a folder layout wins: it is read as one (and here it is incomplete)
    with pytest.raises(DatasetError):
        load_fer2013(tmp_path)


def test_absent_classes_are_reported(tmp_path: Path) -> None:
    data = load_fer2013(write_csv(tmp_path / "f.csv", small_rows()))
    missing = data.missing_classes()
    assert "Training" not in missing
    assert missing["PublicTest"] == [e for e in EMOTIONS if e != "happy"]


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("1", "1 2 3", "Training")], "emotion,pixels,Usage", "expected 2304"),
        ([("9", _pixels(1), "Training")], "emotion,pixels,Usage", "unknown emotion label 9"),
        ([("x", _pixels(1), "Training")], "emotion,pixels,Usage", "not an integer label"),
        ([("1", _pixels(1), "Holdout")], "emotion,pixels,Usage",
         "row 1: Usage is not one of Training, PublicTest, PrivateTest"),
        ([("1", _pixels(1), "Training")], "label,pixels,Usage", "not a FER2013 CSV: no `emotion` column;"),
        ([("1", _pixels(300), "Training")], "emotion,pixels,Usage", "0..255"),
        ([("1", "a " * 2304, "Training")], "emotion,pixels,Usage",
         "a pixels field holds something that is not an integer"),
        ([("1", _pixels(1), "Training")], "pixels", "no `emotion`, `Usage` columns"),
        ([("1", _pixels(1))], "emotion,pixels,Usage", "row 1: 2 fields; the header names 3"),
    ],
)
def test_csv_errors_are_clear(tmp_path: Path, rows, header: str, message: str) -> None:
    path = write_csv(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_fer2013(path)


@pytest.mark.parametrize(
    "field",
    [" ".join(["7"] * 2304), " " + " ".join(["7"] * 2304) + " ", "  ".join(["007"] * 2304),
     "\t".join(["7"] * 2304), " ".join(["7"] * 2303), " ".join(["7"] * 2303 + ["x"]), " ".join(["7"] * 2304 + ["x"]),
     " ".join(["7"] * 2303 + ["٣"]), " ".join(["7"] * 2303 + ["+7"]), ""],
)  # fmt: skip
def test_the_fast_pixel_reader_reads_what_the_strict_one_does(field: str) -> None:
    from training.data import _parse_pixels  # noqa: PLC0415

    try:
        strict = np.array(field.split(), dtype=np.int64)
    except ValueError:
        with pytest.raises(ValueError):
            _parse_pixels(field)
    else:
        got = _parse_pixels(field)
        assert got.dtype == np.int64 and np.array_equal(got, strict)


@pytest.mark.parametrize("spacing", [" ", "\t"])
def test_a_huge_pixel_value_is_a_clear_error(tmp_path: Path, spacing: str) -> None:
    path = write_csv(tmp_path / "huge.csv", [("1", spacing.join(["1"] * 2303 + ["9" * 30]), "Training")])
    with pytest.raises(DatasetError, match="0..255"):
        load_fer2013(path)


def test_missing_path_explains_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="fer2013.csv"):
        load_fer2013(tmp_path / "nope.csv")


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        load_fer2013(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DatasetError, match="no rows"):
        load_fer2013(tmp_path / "head.csv")


def _folder_dataset(root: Path, per_class: int = 10) -> None:
    for split in ("train", "test"):
        for label, name in enumerate(EMOTIONS):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(per_class if split == "train" else 2):
                cv2.imwrite(str(folder / f"im{k}.png"), np.full((48, 48), label * 30 + k, np.uint8))


def test_folder_layout_carves_a_seeded_stratified_validation(tmp_path: Path) -> None:
    _folder_dataset(tmp_path)
    data = load_fer2013(tmp_path)
    assert data.layout == "folder"
    assert data["PublicTest"].class_counts().tolist() == [1] * 7
    assert data["Training"].class_counts().tolist() == [9] * 7
    assert data["PrivateTest"].class_counts().tolist() == [2] * 7
    assert any("seed" in note for note in data.notes)
    again = load_fer2013(tmp_path)
    assert np.array_equal(again["PublicTest"].x, data["PublicTest"].x)
    # Labels follow the folder names.
    assert all(int(img[0, 0]) // 30 == label for img, label in zip(data["Training"].x, data["Training"].y))


def test_folder_layout_rejects_unknown_class_folder(tmp_path: Path) -> None:
    (tmp_path / "train" / "contempt").mkdir(parents=True)
    with pytest.raises(DatasetError, match="unknown class folder"):
        load_fer2013(tmp_path)


def test_ferplus_majority_votes_and_dropped_rows(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "f.csv", small_rows())
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
    lines = []
    for i, usage in enumerate(["Training"] * 14 + ["PublicTest", "PrivateTest", "PrivateTest"]):
        if i == 0:
            lines.append(f"{usage},,0,0,0,0,0,0,0,0,0,10")  # not a face: dropped
        elif i == 1:
            lines.append(f"{usage},fer{i}.png,1,7,0,0,0,0,0,0,2,0")  # happy by majority
        else:
            lines.append(f"{usage},fer{i}.png,0,0,0,0,8,0,2,0,0,0")  # angry
    (tmp_path / "ferplus.csv").write_text(header + "\n".join(lines) + "\n")
    hard, soft, keep = load_ferplus_targets(tmp_path / "ferplus.csv")
    assert not keep[0] and keep[1]
    assert EMOTIONS[hard[1]] == "happy" and EMOTIONS[hard[2]] == "angry"
    assert soft[2, EMOTIONS.index("fear")] == pytest.approx(0.2)
    relabelled = with_ferplus(load_fer2013(csv), tmp_path / "ferplus.csv")
    assert len(relabelled["Training"]) == 13
    assert relabelled["PrivateTest"].y.tolist() == [4, 6]  # never relabelled


@pytest.mark.skipif(REAL_FER2013 is None, reason=SKIP_REASON)
def test_real_fer2013_matches_its_readme() -> None:
    data = load_fer2013(REAL_FER2013, with_checksum=False)
    assert data["Training"].class_counts().tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert data["PublicTest"].class_counts().tolist() == [467, 56, 496, 895, 653, 415, 607]
    assert data["PrivateTest"].class_counts().tolist() == [491, 55, 528, 879, 594, 416, 626]
    if REAL_FERPLUS is not None:
        _, _, keep = load_ferplus_targets(REAL_FERPLUS)
        assert len(keep) == 35887 and (~keep).sum() >= 173
