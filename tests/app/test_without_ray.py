"""Ray is for batch jobs only (``requirements-ray.txt``): the CLI and every page run where it cannot be imported."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from tests.app.conftest import REPO, app_test
from tests.core.faces import face_scene


class _BlockRay:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"ray is blocked for this test: {name}")


@pytest.fixture()
def no_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import ray`` fails, even when another test of this session loaded it."""
    for name in [n for n in sys.modules if n == "ray" or n.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    blocker = _BlockRay()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def test_the_block_holds(no_ray: None) -> None:
    with pytest.raises(ImportError, match="ray is blocked"):
        import ray  # noqa: F401, PLC0415


def test_predict_runs_without_ray(no_ray: None, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli import main  # noqa: PLC0415

    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), face_scene())
    assert main(["predict", str(photo), "--model", str(tiny_model_dir), "--format", "csv"]) == 0
    assert str(photo) in capsys.readouterr().out
    assert "ray" not in sys.modules


def test_every_page_runs_without_ray(no_ray: None, app_env) -> None:  # noqa: ANN001
    app = app_test()
    app.session_state["live_mode"] = "Snapshots"  # WebRTC needs a browser (tests/app/test_pages.py fakes it)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    pages = sorted(p for p in (REPO / "pages").glob("*.py") if p.name != "home.py")
    assert len(pages) >= 6
    for page in pages:
        app.switch_page(str(page)).run()
        assert not app.exception, (page.name, [e.value for e in app.exception])
    assert "ray" not in sys.modules
