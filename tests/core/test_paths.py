"""The app's disk cache folder: ``$FER_CACHE_DIR``, else the user's cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import CACHE_DIR_ENV, app_cache_dir


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert app_cache_dir() == tmp_path / "mine"
    assert not (tmp_path / "mine").exists(), "finding the folder creates nothing"


def test_the_users_cache_folder_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV)  # the test run sets it (tests/conftest.py)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert app_cache_dir() == tmp_path / "xdg" / "facial-emotion"
    monkeypatch.setenv(CACHE_DIR_ENV, "  ")
    assert app_cache_dir() == tmp_path / "xdg" / "facial-emotion", "a blank value is not a folder"

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in ("", "relative/cache"):  # the XDG spec ignores a relative XDG_CACHE_HOME
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert app_cache_dir() == tmp_path / "home" / ".cache" / "facial-emotion"


def test_no_home_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert app_cache_dir() is None


def test_datasets_are_cached_in_the_apps_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from core.paths import DATASET_CACHE, dataset_cache_dir  # noqa: PLC0415

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert dataset_cache_dir() == tmp_path / "mine" / DATASET_CACHE
