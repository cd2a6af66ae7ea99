"""The upload page takes a ZIP of photos too: read within the archive limits, fed to the multi-photo flow."""

from __future__ import annotations

import pytest

from app.limits import LimitError, Limits
from app.upload import expand_uploads
from core.errors import ArchiveError
from tests.app.test_pages import run_page, texts
from tests.app.test_your_photos import _jpeg
from tests.core.archives import HOSTILE, jpeg, make_zip
from tests.core.faces import face_scene


def test_expand_uploads_unpacks_zips_within_the_limits() -> None:
    limits = Limits(files_per_upload=2, archive_photos=3, photo_max_mb=1)
    zipped = make_zip([("trip/1.jpg", jpeg()), ("trip/notes.txt", b"x"), ("labels.csv", b"a,b\n"), ("trip/2.png", jpeg())])
    photos, skipped = expand_uploads([("a.jpg", jpeg()), ("trip.zip", zipped)], limits=limits)
    assert [name for name, _ in photos] == ["a.jpg", "trip.zip/trip/1.jpg", "trip.zip/trip/2.png"]
    assert [(m.name, m.reason) for m in skipped] == [("trip.zip/trip/notes.txt", "not an image"), ("trip.zip/labels.csv", "not a photo")]
    with pytest.raises(LimitError, match="these ZIPs hold 4 photos together; the limit here is 3"):
        expand_uploads([("one.zip", zipped), ("two.zip", zipped)], limits=limits)
    with pytest.raises(LimitError, match="3 files at once"):
        expand_uploads([("a.jpg", jpeg())] * 3, limits=limits)
    big = make_zip([("big.jpg", bytes(2 * 2**20))])
    with pytest.raises(LimitError, match="big.zip/big.jpg is 2.0 MB; the limit for a photo here is 1 MB"):
        expand_uploads([("big.zip", big)], limits=limits)
    with pytest.raises(ArchiveError, match="symbolic link"):
        expand_uploads([("evil.zip", HOSTILE["symlink"]()[0])], limits=limits)


def test_upload_page_analyses_the_photos_of_a_zip(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    zipped = make_zip([("party/face.jpg", _jpeg(face_scene())), ("party/empty.jpg", _jpeg(face_scene(faces=()))),
                       ("__MACOSX/party/._face.jpg", b"\0")])  # fmt: skip
    app.get("file_uploader")[0].set_value([("party.zip", zipped, "application/zip")]).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Skipped in the ZIP (1, not photos): party.zip/__MACOSX/party/._face.jpg" in texts(app.caption)
    photos = [s.value for s in app.subheader if s.value not in ("Summary", "Results")]
    assert photos[:2] == ["party.zip/party/face.jpg", "party.zip/party/empty.jpg"]
    charts = [chart for chart in app.get("plotly_chart") if chart.key != "upload_summary_emotions"]
    assert len(charts) == 1 and "No face found" in texts(app.warning)

    app.get("file_uploader")[0].set_value([("evil.zip", HOSTILE["climbing_path"]()[0], "application/zip")]).run()
    assert "climbs out" in texts(app.error) and not app.get("plotly_chart")
