"""Hostile ZIPs through the app's own archive path (``app.limits.read_archive``) at the app's default limits.

Each gets its own clear error (a domain error naming the kind of attack and what to do) and nothing
else, within a time and memory bound: zip bombs by declared and by real size and by overlapping
entries, paths that climb out or are absolute, symlinks, nested archives, tens of thousands of
tiny members, encryption, too many photos or megapixels, an archive over the size limit.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.limits import LimitError, Limits, read_archive
from core.errors import ArchiveError
from tests.core import archives
from tests.reliability.budget import TALLY, measure

SECONDS_PER_ARCHIVE = 10.0
MB_PER_ARCHIVE = 256.0
LIMITS = Limits()

# The fixed corpus, scaled past the defaults where a kind is about a count or a size.
AT_APP_LIMITS: dict[str, Callable[[], tuple[bytes, str]]] = {
    **archives.HOSTILE,
    "bomb_overlapping": lambda: archives.overlapping_bomb(copies=LIMITS.archive_max_mb + 10),
    "many_tiny_files": lambda: archives.many_tiny_files(count=20_000),
    "too_many_photos": lambda: archives.too_many_photos(count=LIMITS.archive_photos + 1),
    "too_many_megapixels": lambda: archives.too_many_megapixels(width=8000, height=7000, count=2),
    "over_the_size_limit": lambda: (bytes((LIMITS.archive_max_mb + 1) * 2**20), "the limit for a ZIP of photos"),
}
_WORST: dict[str, float] = {"seconds": 0.0, "mb": 0.0}


@pytest.mark.parametrize("kind", sorted(AT_APP_LIMITS))
def test_hostile_archive_gets_a_clear_error_within_bounds(kind: str) -> None:
    data, phrase = AT_APP_LIMITS[kind]()

    def read() -> Exception | None:
        try:
            read_archive("upload.zip", data, limits=LIMITS)
        except (ArchiveError, LimitError) as exc:
            return exc
        return None

    error, usage = measure(read)
    assert error is not None, f"{kind} was read"
    assert phrase in str(error) and "upload.zip" in str(error), str(error)
    assert usage.seconds < SECONDS_PER_ARCHIVE and usage.peak_mb < MB_PER_ARCHIVE, (kind, usage)
    _WORST["seconds"], _WORST["mb"] = max(_WORST["seconds"], usage.seconds), max(_WORST["mb"], usage.peak_mb)
    if kind == sorted(AT_APP_LIMITS)[-1]:
        TALLY.notes.append(
            f"hostile archives: {len(AT_APP_LIMITS)} kinds, each refused with its own error; worst "
            f"{_WORST['seconds']:.2f} s, {_WORST['mb']:.0f} MB peak"
        )


def test_an_ordinary_archive_at_the_limits_is_read() -> None:
    """Control: the limits refuse hostile archives, not large honest ones."""
    photo = archives.jpeg(width=640, height=480)
    count = LIMITS.archive_photos
    data = archives.make_zip([(f"{['happy', 'sad', 'fear'][i % 3]}/{i}.jpg", photo) for i in range(count)])
    archive, usage = measure(lambda: read_archive("ok.zip", data, limits=LIMITS))
    assert len(archive.photos) == count and archive.megapixels == pytest.approx(count * 640 * 480 / 1e6)
    assert usage.seconds < SECONDS_PER_ARCHIVE
