"""What a batch job reads and plans, without Ray: INPUT expansion, manifests, units, pool size, rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.inputs import IMAGE, VIDEO, BatchError, Item, expand_inputs, plan_units
from batch.job import check_reachable, pool_size
from batch.output import Output
from batch.rows import COLUMNS, error_row, schema, to_table
from core.reports import CSV_COLUMNS


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    for name in ("a/1.jpg", "a/2.PNG", "a/sub/3.webp", "a/clip.mp4", "a/notes.txt", "a/.hidden.jpg", "b/4.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_folders_globs_files_and_missing_paths(files: Path) -> None:
    items = expand_inputs([str(files / "a"), str(files / "b" / "*.jpg"), str(files / "gone.jpg"), str(files / "empty")])
    names = [(Path(i.path).relative_to(files).as_posix(), i.kind, i.error is not None) for i in items]
    assert names == [
        ("a/1.jpg", IMAGE, False), ("a/2.PNG", IMAGE, False), ("a/clip.mp4", VIDEO, False), ("a/sub/3.webp", IMAGE, False),
        ("b/4.jpg", IMAGE, False), ("gone.jpg", IMAGE, True), ("empty", IMAGE, True),
    ]  # fmt: skip
    assert items[-2].error == f"image file not found: {files / 'gone.jpg'}"
    assert "no images or videos in folder" in items[-1].error
    (nothing,) = expand_inputs([str(files / "b" / "*.png")])
    assert nothing.error == f"no file matches {files / 'b' / '*.png'}"


def test_manifests_csv_and_parquet_take_paths_relative_to_themselves(files: Path) -> None:
    (files / "list.csv").write_text("path,label\na/1.jpg,x\n" + f"{files / 'b' / '4.jpg'},y\nmissing.jpg,z\n")
    pq.write_table(pa.table({"path": ["a/clip.mp4", None]}), files / "list.parquet")
    items = expand_inputs([str(files / "list.csv"), str(files / "list.parquet")])
    assert [(i.path, i.error is None) for i in items] == [
        (str(files / "a/1.jpg"), True), (str(files / "b/4.jpg"), True), (str(files / "missing.jpg"), False),
        (str(files / "a/clip.mp4"), True),
    ]  # fmt: skip
    (files / "bad.csv").write_text("file\nx.jpg\n")
    with pytest.raises(BatchError, match=r"has no 'path' column \(columns: file\)"):
        expand_inputs([str(files / "bad.csv")])


def test_uris_go_through_pyarrow_filesystems(files: Path) -> None:
    items = expand_inputs([f"file://{files / 'a'}", f"file://{files / 'nope.jpg'}"])
    assert [i.path for i in items[:4]] == [f"file://{files / 'a' / n}" for n in ("1.jpg", "2.PNG", "clip.mp4", "sub/3.webp")]
    assert items[-1].error == f"image file not found: file://{files / 'nope.jpg'}"
    with pytest.raises(BatchError, match="cannot open nosuchscheme://x"):
        expand_inputs(["nosuchscheme://x/y.jpg"])


def test_units_group_images_and_give_each_video_its_own() -> None:
    items = [Item(f"{i}.jpg", IMAGE) for i in range(5)] + [Item("v.mp4", VIDEO), Item("w.mp4", VIDEO, "gone"), Item("z.jpg", IMAGE)]
    units = plan_units(items, images_per_unit=2)
    assert [(u.unit, u.kind, [i.path for i in u.items]) for u in units] == [
        (0, IMAGE, ["0.jpg", "1.jpg"]), (1, IMAGE, ["2.jpg", "3.jpg"]), (2, IMAGE, ["4.jpg"]), (3, VIDEO, ["v.mp4"]),
        (4, IMAGE, ["w.mp4", "z.jpg"]),
    ]  # fmt: skip
    assert units[4].to_row() == {"unit": 4, "kind": IMAGE, "paths": ["w.mp4", "z.jpg"], "errors": ["gone", ""]}


def test_pool_size_uses_every_cpu_and_never_more() -> None:
    assert pool_size(2.0, requested=None, units=100) == 2
    assert pool_size(16.0, requested=None, units=3) == 3
    assert pool_size(2.0, requested=1, units=100) == 1
    assert pool_size(0.5, requested=None, units=5) == 1
    with pytest.raises(BatchError, match="--workers 3 is more than the cluster's 2 CPU"):
        pool_size(2.0, requested=3, units=100)


def test_an_address_nobody_listens_at_is_refused_quickly() -> None:
    with pytest.raises(BatchError, match="cannot reach the Ray cluster at ray://127.0.0.1:1"):
        check_reachable("ray://127.0.0.1:1", timeout_s=2)
    check_reachable("auto")  # left to Ray


def test_one_schema_the_predict_columns_plus_the_video_ones(tmp_path: Path) -> None:
    assert COLUMNS[: len(CSV_COLUMNS) - 1] == CSV_COLUMNS[:-1] and COLUMNS[-1] == "error"
    assert {"time_s", "frame", "smoothed_emotion"} <= set(COLUMNS)
    out = Output(str(tmp_path / "out"))
    out.check_writable()
    out.write_table("part-000000-0000.parquet", to_table([error_row("x.jpg", "broken")]))
    table = out.read_columns(["path", "face", "error"])
    assert table.to_pylist() == [{"path": "x.jpg", "face": None, "error": "broken"}]
    assert pq.read_schema(tmp_path / "out" / "part-000000-0000.parquet").equals(schema())
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["part-000000-0000.parquet"]
