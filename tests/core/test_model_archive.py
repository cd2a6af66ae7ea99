"""A model folder as one ZIP: export, import (an untrusted upload) and delete (core.model_store)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ModelLoadError
from core.model_store import (
    EVALUATION_FILE,
    MAX_ARCHIVE_MEMBERS,
    METADATA_FILE,
    delete_model_dir,
    export_model_archive,
    import_model_archive,
    list_models,
    read_model_info,
)
from tests.core.archives import make_zip

Members = list[tuple[str | zipfile.ZipInfo, bytes]]


@pytest.fixture()
def model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model with an evaluation report, named ``tiny``."""
    out = tmp_path / "source" / "tiny"
    shutil.copytree(tiny_model_dir, out)
    (out / EVALUATION_FILE).write_text(json.dumps({"accuracy": 0.25}), encoding="utf-8")
    return out


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    out = tmp_path / "models"
    out.mkdir()
    return out


def metadata_of(model: Path) -> dict:
    return json.loads((model / METADATA_FILE).read_text(encoding="utf-8"))


def members_of(data: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def replaced(data: bytes, file_name: str, content: bytes | None) -> bytes:
    """The archive with ``tiny/file_name``'s bytes replaced (or removed, for ``None``)."""
    out = [(name, body) for name, body in members_of(data) if name != f"tiny/{file_name}"]
    return make_zip(out + ([(f"tiny/{file_name}", content)] if content is not None else []))


def with_metadata(data: bytes, **changes: object) -> bytes:
    metadata = json.loads(dict(members_of(data))[f"tiny/{METADATA_FILE}"])
    metadata.update(changes)
    return replaced(data, METADATA_FILE, json.dumps(metadata).encode())


def encrypted(data: bytes) -> bytes:
    """Every member flagged as password-protected (bit 0 of its flags, in both headers), as ZipCrypto sets it."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        while at >= 0:
            struct.pack_into("<H", out, at + offset, struct.unpack_from("<H", out, at + offset)[0] | 0x1)
            at = out.find(signature, at + 4)
    return bytes(out)


def declaring(data: bytes, size: int) -> bytes:
    """Every member's uncompressed size, in its local and central headers, rewritten to ``size``."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(signature)
        while at >= 0:
            struct.pack_into("<I", out, at + offset, size)
            at = out.find(signature, at + 4)
    return bytes(out)


def symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("tiny/evaluation.json")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


# --- export ------------------------------------------------------------------------------------------


def test_export_holds_exactly_the_model_files_in_a_fixed_order(model_dir: Path) -> None:
    metadata = metadata_of(model_dir)
    (model_dir / ".hidden").write_text("x")
    (model_dir / "model-0ld0ld00.keras").write_bytes(b"a stale model no metadata names")
    (model_dir / "notes.txt").write_text("x")
    (model_dir / "sub").mkdir()
    data = export_model_archive(model_dir)
    expected = [METADATA_FILE, metadata["model_file"]]
    expected += [metadata["tflite_file"]] if "tflite_file" in metadata else []
    expected += [EVALUATION_FILE]
    members = members_of(data)
    assert [name for name, _ in members] == [f"tiny/{name}" for name in expected]
    for name, body in members:
        assert body == (model_dir / name.split("/", 1)[1]).read_bytes()
    assert export_model_archive(model_dir) == data  # same model, same bytes


def test_export_names_the_tflite_file_when_metadata_does(model_dir: Path) -> None:
    metadata = metadata_of(model_dir)
    if "tflite_file" not in metadata:
        pytest.skip(f"the tiny model was saved without a .tflite file: {metadata.get('tflite_error')}")
    names = [name for name, _ in members_of(export_model_archive(model_dir))]
    assert f"tiny/{metadata['tflite_file']}" in names


def test_export_without_evaluation(model_dir: Path) -> None:
    (model_dir / EVALUATION_FILE).unlink()
    names = [name for name, _ in members_of(export_model_archive(model_dir))]
    assert f"tiny/{EVALUATION_FILE}" not in names
    assert names[0] == f"tiny/{METADATA_FILE}"


def test_export_refuses_an_unusable_model(model_dir: Path) -> None:
    (model_dir / metadata_of(model_dir)["model_file"]).unlink()
    with pytest.raises(ModelLoadError, match="cannot be exported.*missing"):
        export_model_archive(model_dir)
    with pytest.raises(ModelLoadError, match="cannot be exported"):
        export_model_archive(model_dir.parent / "nothing-here")


# --- import ------------------------------------------------------------------------------------------


def test_round_trip_gives_the_same_servable_model(model_dir: Path, root: Path) -> None:
    published = import_model_archive(export_model_archive(model_dir), root)
    assert published == root / "tiny"
    info = read_model_info(published)
    assert info.ok, info.error
    assert metadata_of(published) == metadata_of(model_dir)
    original = metadata_of(model_dir)
    for file_name in (original["model_file"], original.get("tflite_file"), EVALUATION_FILE):
        if file_name:
            assert (published / file_name).read_bytes() == (model_dir / file_name).read_bytes()
    assert sorted(p.name for p in published.iterdir()) == sorted(p.name for p in model_dir.iterdir())
    assert [p.name for p in root.iterdir()] == ["tiny"]  # no staging folder left
    assert [m.name for m in list_models(root)] == ["tiny"]


def test_import_under_another_name_rewrites_only_the_name(model_dir: Path, root: Path) -> None:
    published = import_model_archive(export_model_archive(model_dir), root, name="mine-2.v1")
    assert published == root / "mine-2.v1"
    assert read_model_info(published).ok
    imported, original = metadata_of(published), metadata_of(model_dir)
    assert imported.pop("name") == "mine-2.v1"
    assert original.pop("name") == "tiny"
    assert imported == original


def test_an_existing_servable_model_is_never_replaced(model_dir: Path, root: Path) -> None:
    data = export_model_archive(model_dir)
    first = import_model_archive(data, root)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    with pytest.raises(ModelLoadError, match="a model named 'tiny' already exists: rename .* or delete"):
        import_model_archive(data, root)
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert [p.name for p in root.iterdir()] == ["tiny"]
    assert import_model_archive(data, root, name="tiny2") == root / "tiny2"  # renamed, it is welcome


def test_a_broken_folder_does_not_hold_the_name(model_dir: Path, root: Path) -> None:
    (root / "tiny").mkdir()
    (root / "tiny" / "leftover.txt").write_text("a run killed half way")
    published = import_model_archive(export_model_archive(model_dir), root)
    assert read_model_info(published).ok
    assert not (published / "leftover.txt").exists()


def test_a_file_in_the_way_holds_the_name(model_dir: Path, root: Path) -> None:
    (root / "roles.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a valid model name"):
        import_model_archive(export_model_archive(model_dir), root, name="roles.json")
    (root / "plain").write_text("x")
    with pytest.raises(ModelLoadError, match="taken by something that is not a model"):
        import_model_archive(export_model_archive(model_dir), root, name="plain")
    assert sorted(p.name for p in root.iterdir()) == ["plain", "roles.json"]
    assert (root / "roles.json").read_text() == "{}"


REFUSALS: dict[str, tuple[Callable[[bytes], bytes], dict, str]] = {
    # kind: (archive from the good one, import_model_archive keywords, phrase of the error)
    "not_a_zip": (lambda data: b"just some bytes, not a zip", {}, "not a readable ZIP"),
    "truncated": (lambda data: data[: len(data) // 2], {}, "not a readable ZIP|damaged"),
    "over_max_mb": (lambda data: data, {"max_mb": 0}, "at most 0 MB"),
    "climbing": (lambda data: make_zip([*members_of(data), ("../evil.txt", b"x")]), {}, "climbs out"),
    "climbing_inside": (lambda data: make_zip([("tiny/../../evil.txt", b"x"), *members_of(data)]), {}, "climbs out"),
    "absolute": (lambda data: make_zip([*members_of(data), (zipfile.ZipInfo("/etc/evil"), b"x")]), {}, "absolute"),
    "windows_absolute": (lambda data: make_zip([(zipfile.ZipInfo("C:\\evil"), b"x")]), {}, "absolute"),
    "symlink": (
        lambda data: make_zip([*members_of(replaced(data, EVALUATION_FILE, None)), (symlink_member(), b"/")]),
        {},
        "link",
    ),
    "encrypted": (encrypted, {}, "encrypted"),
    "too_many_members": (
        lambda data: make_zip([(f"tiny/x{i}.json", b"{}") for i in range(MAX_ARCHIVE_MEMBERS + 1)]), {}, "at most 10"
    ),
    "bomb": (lambda data: replaced(data, EVALUATION_FILE, bytes(8 * 2**20)), {"max_mb": 1}, "zip bomb"),
    "bomb_lying_header": (
        lambda data: declaring(make_zip([(f"tiny/{METADATA_FILE}", bytes(8 * 2**20))]), 1000), {}, "damaged"
    ),
    "no_metadata": (lambda data: replaced(data, METADATA_FILE, None), {}, "no metadata.json"),
    "metadata_not_json": (lambda data: replaced(data, METADATA_FILE, b"{not json"), {}, "unreadable"),
    "no_keras_file": (
        lambda data: make_zip([(n, b) for n, b in members_of(data) if not n.endswith(".keras")]), {}, "lacks 'model-"
    ),
    "model_file_climbs": (lambda data: with_metadata(data, model_file="../x.keras"), {}, "no valid model_file"),
    "stray_member": (lambda data: make_zip([*members_of(data), ("tiny/notes.txt", b"x")]), {}, "not part of a model"),
    "hidden_member": (lambda data: make_zip([*members_of(data), ("tiny/.DS_Store", b"x")]), {}, "not part of a model"),
    "subfolder": (lambda data: make_zip([*members_of(data), ("tiny/sub/x.json", b"{}")]), {}, "without subfolders"),
    "file_at_the_top": (lambda data: make_zip([*members_of(data), ("loose.json", b"{}")]), {}, "without subfolders"),
    "two_folders": (lambda data: make_zip([*members_of(data), ("other/x.json", b"{}")]), {}, "more than one folder"),
    "duplicate": (lambda data: make_zip([*members_of(data), (f"tiny/{EVALUATION_FILE}", b"{}")]), {}, "twice"),
    "keras_checksum": (lambda data: with_metadata(data, model_sha256="0" * 64), {}, "does not match the checksum"),
    "labels": (lambda data: with_metadata(data, labels=["a", "b"]), {}, "not usable: labels"),
    "bad_folder_name": (
        lambda data: make_zip([(n.replace("tiny/", "bad name!/", 1), b) for n, b in members_of(data)]),
        {},
        "not a valid model name",
    ),
    "bad_name": (lambda data: data, {"name": "../evil"}, "not a valid model name"),
    "hidden_name": (lambda data: data, {"name": ".hidden"}, "not a valid model name"),
    "long_name": (lambda data: data, {"name": "a" * 49}, "not a valid model name"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the "duplicate" archive is built on purpose
@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_hostile_or_broken_archives_are_refused_and_leave_nothing(
    kind: str, model_dir: Path, root: Path, tmp_path: Path
) -> None:
    build, keywords, phrase = REFUSALS[kind]
    data = build(export_model_archive(model_dir))
    with pytest.raises(ModelLoadError, match=phrase) as caught:
        import_model_archive(data, root, **keywords)
    message = str(caught.value)
    assert str(tmp_path) not in message and "/tmp" not in message  # nothing of this machine's paths
    assert ":" in message  # every refusal says what to do after the colon
    assert list(root.iterdir()) == []  # no model, no hidden staging folder
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_tflite_checksum_is_checked(model_dir: Path, root: Path) -> None:
    if "tflite_file" not in metadata_of(model_dir):
        pytest.skip("the tiny model was saved without a .tflite file")
    data = with_metadata(export_model_archive(model_dir), tflite_sha256="0" * 64)
    with pytest.raises(ModelLoadError, match=r"\.tflite does not match the checksum"):
        import_model_archive(data, root)
    assert list(root.iterdir()) == []


def test_tflite_file_named_but_missing_is_refused(model_dir: Path, root: Path) -> None:
    data = with_metadata(export_model_archive(model_dir), tflite_file="model-12345678.tflite")
    with pytest.raises(ModelLoadError, match="lacks 'model-12345678.tflite'"):
        import_model_archive(data, root)
    assert list(root.iterdir()) == []


def test_bomb_bound_counts_what_unpacks(model_dir: Path, root: Path) -> None:
    """The whole real archive fits the default bound but not a bound below its unpacked size."""
    data = export_model_archive(model_dir)
    assert sum(len(body) for _, body in members_of(data)) < 2 * 2**20
    with pytest.raises(ModelLoadError, match="zip bomb"):
        import_model_archive(replaced(data, EVALUATION_FILE, bytes(3 * 2**20)), root, max_unpacked_mb=2)
    assert list(root.iterdir()) == []
    assert import_model_archive(data, root, max_unpacked_mb=2) == root / "tiny"


def test_the_models_folder_is_created(model_dir: Path, tmp_path: Path) -> None:
    published = import_model_archive(export_model_archive(model_dir), tmp_path / "new" / "models")
    assert read_model_info(published).ok


# --- delete ------------------------------------------------------------------------------------------


def test_delete_removes_the_folder(model_dir: Path, root: Path) -> None:
    published = import_model_archive(export_model_archive(model_dir), root)
    (root / "roles.json").write_text("{}")
    delete_model_dir(published, models_root=root)
    assert not published.exists()
    assert [p.name for p in root.iterdir()] == ["roles.json"]  # no hidden .deleting- folder left


def test_delete_removes_a_broken_folder_too(root: Path) -> None:
    (root / "broken").mkdir()
    (root / "broken" / "half.keras").write_bytes(b"x")
    delete_model_dir(root / "broken", models_root=root)
    assert list(root.iterdir()) == []


def test_delete_refuses_what_is_not_a_model_folder_of_the_root(model_dir: Path, root: Path, tmp_path: Path) -> None:
    published = import_model_archive(export_model_archive(model_dir), root)
    (root / "link").symlink_to(published, target_is_directory=True)
    (root / ".hidden").mkdir()
    (root / "roles.json").write_text("{}")
    (published / "sub").mkdir()
    refused = {
        "outside": model_dir,
        "symlink": root / "link",
        "hidden": root / ".hidden",
        "the_root": root,
        "nested": published / "sub",
        "climbing": root / "tiny" / ".." / ".." / "source" / "tiny",
        "a_file": root / "roles.json",
        "missing": root / "nothing",
    }
    for kind, path in refused.items():
        with pytest.raises(ModelLoadError, match="not deleted") as caught:
            delete_model_dir(path, models_root=root)
        assert str(tmp_path) not in str(caught.value), kind
    assert read_model_info(model_dir).ok
    assert read_model_info(published).ok
    assert os.path.islink(root / "link") and (root / ".hidden").is_dir() and (root / "roles.json").is_file()
    assert sorted(p.name for p in root.iterdir()) == [".hidden", "link", "roles.json", "tiny"]
