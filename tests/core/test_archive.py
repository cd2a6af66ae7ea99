"""core.archive: photos read from hand-made ZIPs in memory; every hostile kind refused with its reason."""

from __future__ import annotations

import zipfile

import pytest

from core.archive import is_zip, read_photo_archive
from core.errors import ArchiveError
from core.labels import parse_emotion
from tests.core.archives import HOSTILE, LIMITS, jpeg, make_zip


def test_photos_are_kept_in_order_and_the_rest_skipped_and_listed() -> None:
    photo = jpeg(width=100, height=50)
    data = make_zip([
        ("set/", b""),  # a folder entry: not listed
        ("set/happy/1.jpg", photo),
        ("set/sad/2.JPG", photo),
        ("set/labels.csv", b"path,label\nhappy/1.jpg,happy\n"),
        ("set/notes.txt", b"hello"),
        ("set/.DS_Store", b"\0\0"),
        ("__MACOSX/set/happy/._1.jpg", b"\0"),
        ("./set/./fear/3.png", photo),
    ])  # fmt: skip
    archive = read_photo_archive(data, name="uploads/faces.zip", **LIMITS)
    assert [p.name for p in archive.photos] == ["set/happy/1.jpg", "set/sad/2.JPG", "set/fear/3.png"]
    assert all(p.data == photo for p in archive.photos)
    assert [(t.name, t.data[:9]) for t in archive.texts] == [("set/labels.csv", b"path,labe")]
    assert {(s.name, s.reason) for s in archive.skipped} == {
        ("set/notes.txt", "not an image"),
        ("set/.DS_Store", "system or hidden file"),
        ("__MACOSX/set/happy/._1.jpg", "macOS metadata"),
    }
    assert archive.megapixels == pytest.approx(3 * 100 * 50 / 1e6)


def test_stored_and_empty_archives_read() -> None:
    assert read_photo_archive(make_zip([], compression=zipfile.ZIP_STORED), **LIMITS).photos == ()
    stored = make_zip([("a.jpg", jpeg())], compression=zipfile.ZIP_STORED)
    assert is_zip(stored) and not is_zip(jpeg())
    assert len(read_photo_archive(stored, **LIMITS).photos) == 1


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_hostile_archive_gets_its_own_clear_error(kind: str) -> None:
    data, phrase = HOSTILE[kind]()
    with pytest.raises(ArchiveError, match=phrase) as caught:
        read_photo_archive(data, name="uploads/evil.zip", **LIMITS)
    message = str(caught.value)
    assert message.startswith(("'evil.zip'", "the photos of 'evil.zip'")) or " in 'evil.zip' " in message
    assert "uploads/" not in message  # the upload's own folders are never echoed
    assert message.rstrip().endswith(".")  # and it ends with what to do


def test_the_archive_itself_and_its_members_are_capped() -> None:
    big = make_zip([("a.jpg", jpeg())], compression=zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="the limit for an archive here is 0.0001 MB"):
        read_photo_archive(big, max_photos=5, max_mb=0.0001, max_megapixels=5)
    with pytest.raises(ArchiveError, match="holds 3 files and folders; at most 2"):
        read_photo_archive(make_zip([("a/", b""), ("a/b.jpg", jpeg()), ("c.txt", b"")]), max_photos=5, max_mb=1,
                           max_megapixels=5, max_members=2)  # fmt: skip


@pytest.mark.parametrize(
    ("word", "emotion"),
    [("Happiness", "happy"), ("anger", "angry"), ("02-Scared", "fear"), ("surprised", "surprise"), ("CALM", "neutral"),
     ("disgusted", "disgust"), ("sadness", "sad"), ("no emotion", "neutral"), ("contempt", None), ("photos", None)],
)  # fmt: skip
def test_emotion_synonyms(word: str, emotion: str | None) -> None:
    assert parse_emotion(word) == emotion
