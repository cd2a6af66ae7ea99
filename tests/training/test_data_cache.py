"""The FER2013 parse cache (``load_fer2013(..., cache_dir=...)``) on tiny synthetic files.

A cached load must equal a fresh parse, must not parse the file again (in this process or a new
one), must notice a changed file, and must never make a load fail: a damaged entry is rebuilt and
a folder that cannot be written means parsing as without a cache.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import training.data as data_module
from core.errors import DatasetError
from core.labels import NUM_CLASSES
from tests.training.test_data import small_rows, write_csv
from training.data import CACHE_META, FERData, blend_ferplus, load_fer2013, load_fer2013_cached, with_ferplus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def csv_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "fer2013.csv.gz", small_rows(), gz=True)


@pytest.fixture()
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every CSV parse, recorded (the parser still runs)."""
    seen: list[Path] = []
    real = data_module.load_fer2013_csv

    def counting(path, **kwargs):  # noqa: ANN001, ANN202
        seen.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(data_module, "load_fer2013_csv", counting)
    return seen


def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path, **kwargs):  # noqa: ANN001, ANN202
        raise AssertionError(f"{path} was parsed again; the cache should have answered")

    monkeypatch.setattr(data_module, "load_fer2013_csv", refuse)


def entries(cache: Path) -> list[Path]:
    return sorted(child for child in cache.iterdir()) if cache.is_dir() else []


def assert_same(got: FERData, expected: FERData) -> None:
    assert list(got.splits) == list(expected.splits)
    for name, split in expected.splits.items():
        for array in ("x", "y", "index"):
            mine, theirs = getattr(got[name], array), getattr(split, array)
            assert mine.dtype == theirs.dtype and mine.shape == theirs.shape and np.array_equal(mine, theirs), array
    assert (got.layout, got.sha256, got.notes) == (expected.layout, expected.sha256, expected.notes)


def test_the_first_load_writes_the_cache_and_the_second_reads_it(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[Path]
) -> None:
    cache = tmp_path / "cache"
    first = load_fer2013(csv_file, cache_dir=cache)
    assert parses == [csv_file]
    (entry,) = entries(cache)
    assert entry.name.startswith("fer2013.csv.gz-") and (entry / CACHE_META).is_file()
    assert sorted(p.name for p in entry.glob("*.npy")) == sorted(
        f"{split}.{array}.npy" for split in ("Training", "PublicTest", "PrivateTest") for array in ("x", "y", "index")
    )
    assert_same(first, load_fer2013(csv_file))

    forbid_parsing(monkeypatch)
    second = load_fer2013(csv_file, cache_dir=cache)
    assert_same(second, first)
    assert second.source == str(csv_file) and second.layout == "csv" and len(second.sha256) == 64
    train = second["Training"]
    assert train.x.dtype == np.uint8 and train.x.shape == (14, 48, 48) and type(train.x) is np.ndarray
    assert not train.x.flags.writeable and not train.y.flags.writeable
    # What training and the pages do with the arrays works on the memory-mapped ones.
    batch = train.x[..., None].astype("float32") / 255.0
    assert batch.shape == (14, 48, 48, 1) and batch.flags.writeable
    assert train.class_counts().tolist() == [2] * NUM_CLASSES
    assert int(train.x[5, 10, 10]) == 5 and second["PrivateTest"].index.tolist() == [15, 16]
    with pytest.raises(ValueError, match="read-only"):
        train.x[0, 0, 0] = 1


def test_a_new_process_reads_the_cache_without_parsing(csv_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = load_fer2013(csv_file, cache_dir=cache)
    code = (
        "import sys, numpy as np, training.data as d\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('parsed again')\n"
        "d.load_fer2013_csv = refuse\n"
        "data = d.load_fer2013(sys.argv[1], cache_dir=sys.argv[2])\n"
        "print(data.layout, len(data['Training']), int(data['Training'].x.sum()), data.sha256)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(csv_file), str(cache)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["csv", "14", str(int(expected["Training"].x.sum())), expected.sha256]


def test_a_changed_file_is_parsed_again_and_its_old_entry_removed(
    csv_file: Path, tmp_path: Path, parses: list[Path]
) -> None:
    cache = tmp_path / "cache"
    load_fer2013(csv_file, cache_dir=cache)
    (old_entry,) = entries(cache)

    # Another size: one more PrivateTest row.
    write_csv(csv_file, [*small_rows(), ("0", " ".join(["9"] * 2304), "PrivateTest")], gz=True)
    grown = load_fer2013(csv_file, cache_dir=cache)
    assert len(parses) == 2 and grown["PrivateTest"].y.tolist() == [4, 6, 0]
    (new_entry,) = entries(cache)
    assert new_entry != old_entry

    # The same size, another modification time: the content may have changed, so it is parsed again.
    stat = csv_file.stat()
    os.utime(csv_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert_same(load_fer2013(csv_file, cache_dir=cache), grown)
    assert len(parses) == 3 and len(entries(cache)) == 1
    load_fer2013(csv_file, cache_dir=cache)
    assert len(parses) == 3


def _truncate_x(entry: Path) -> None:
    path = entry / "Training.x.npy"
    path.write_bytes(path.read_bytes()[:1000])


def _bad_labels(entry: Path) -> None:
    np.save(entry / "Training.y.npy", np.full(14, 99, dtype=np.int64))


def _wrong_dtype(entry: Path) -> None:
    np.save(entry / "PublicTest.x.npy", np.zeros((1, 48, 48), dtype=np.float32))


def _garbage_meta(entry: Path) -> None:
    (entry / CACHE_META).write_text("{not json")


def _meta_of_another_format(entry: Path) -> None:
    meta = json.loads((entry / CACHE_META).read_text())
    meta["key"]["format"] = -1
    (entry / CACHE_META).write_text(json.dumps(meta))


def _missing_array(entry: Path) -> None:
    (entry / "PrivateTest.index.npy").unlink()


def _missing_meta(entry: Path) -> None:
    (entry / CACHE_META).unlink()


def _pickled_object(entry: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (entry / "Training.y.npy").write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "damage",
    [_truncate_x, _bad_labels, _wrong_dtype, _garbage_meta, _meta_of_another_format, _missing_array, _missing_meta,
     _pickled_object],
)  # fmt: skip
def test_a_damaged_entry_is_rebuilt_not_an_error(
    csv_file: Path, tmp_path: Path, parses: list[Path], damage  # noqa: ANN001
) -> None:
    cache = tmp_path / "cache"
    load_fer2013(csv_file, cache_dir=cache)  # dropped at once: a file truncated under a live mapping is a SIGBUS
    expected = load_fer2013(csv_file)
    (entry,) = entries(cache)
    damage(entry)
    assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert len(parses) == 3, "the damaged entry was not used"
    assert entries(cache) == [entry] and (entry / CACHE_META).is_file()
    assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert len(parses) == 3, "the rebuilt entry is used"


def test_a_write_killed_half_way_leaves_no_entry(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[Path]
) -> None:
    cache = tmp_path / "cache"
    real_save = data_module._save_array
    saved: list[Path] = []

    def disk_full_on_the_fourth(path: Path, array: np.ndarray) -> None:
        saved.append(path)
        if len(saved) == 4:
            raise OSError(28, "No space left on device")
        real_save(path, array)

    monkeypatch.setattr(data_module, "_save_array", disk_full_on_the_fourth)
    expected = load_fer2013(csv_file)
    assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert entries(cache) == [], "neither a half-written entry nor its temporary folder is left"

    monkeypatch.setattr(data_module, "_save_array", real_save)
    # A temporary folder a killed process left behind is never read.
    (cache / ".fer2013.csv.gz-left-behind.tmp").mkdir()
    (cache / ".fer2013.csv.gz-left-behind.tmp" / CACHE_META).write_text("{}")
    assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert len(parses) == 3
    assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert len(parses) == 3


def test_an_unwritable_cache_folder_means_parsing_without_it(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[Path]
) -> None:
    expected = load_fer2013(csv_file)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    for cache in (in_the_way, in_the_way / "cache"):
        assert_same(load_fer2013(csv_file, cache_dir=cache), expected)
    assert in_the_way.read_text() == "not a folder"

    def read_only(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(data_module.tempfile, "mkdtemp", read_only)
    assert_same(load_fer2013(csv_file, cache_dir=tmp_path / "read-only"), expected)
    assert len(parses) == 4  # every load parsed


def test_errors_in_the_file_are_the_same_with_a_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="no dataset at"):
        load_fer2013(tmp_path / "nope.csv", cache_dir=cache)
    bad = write_csv(tmp_path / "bad.csv", [("9", " ".join(["1"] * 2304), "Training")])
    with pytest.raises(DatasetError, match="unknown emotion label 9"):
        load_fer2013_cached(bad, cache)
    assert entries(cache) == []


def test_ferplus_works_on_a_cached_load(csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
    usages = ["Training"] * 14 + ["PublicTest"] * 3
    lines = [f"{usage},fer{i}.png,0,0,0,0,8,0,2,0,0,0" for i, usage in enumerate(usages)]
    (tmp_path / "ferplus.csv").write_text(header + "\n".join(lines) + "\n")
    load_fer2013(csv_file, cache_dir=tmp_path / "cache")
    forbid_parsing(monkeypatch)
    cached = load_fer2013(csv_file, cache_dir=tmp_path / "cache")
    relabelled = with_ferplus(cached, tmp_path / "ferplus.csv")
    assert relabelled.layout == "csv" and relabelled["Training"].y.tolist() == [0] * 14
    blended = blend_ferplus(cached, tmp_path / "ferplus.csv", weight=0.5)
    assert blended["Training"].soft.shape == (14, NUM_CLASSES)
    assert np.array_equal(blended["Training"].x, cached["Training"].x)


def test_the_array_pack_is_cached_and_a_folder_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    pack = tmp_path / "fer2013-trainval.npz"
    np.savez(pack, x=rng.integers(0, 256, (9, 48, 48), dtype=np.uint8), y=np.arange(9) % 7, usage=np.arange(9) % 2)
    cache = tmp_path / "cache"
    expected = load_fer2013(pack)
    assert_same(load_fer2013(pack, cache_dir=cache), expected)
    monkeypatch.setattr(data_module, "load_fer2013_npz", lambda path: pytest.fail("the pack was read again"))
    cached = load_fer2013(pack, cache_dir=cache)
    assert_same(cached, expected)
    assert cached.layout == "npz"

    folder = tmp_path / "folder-layout"
    (folder / "train" / "happy").mkdir(parents=True)
    monkeypatch.setattr(data_module, "load_fer2013_folder", lambda path: "read afresh")
    assert load_fer2013(folder, cache_dir=cache) == "read afresh"
    assert len(entries(cache)) == 1
