"""Which model serves which role: ``models/roles.json``, its fallbacks, and the command line's default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.model_store import DEFAULT_MODEL_NAME, MODELS_DIR, ROLES_FILE, model_roles, resolve_model_dir


def test_roles_json_names_the_default_and_the_live_model(tmp_path: Path) -> None:
    (tmp_path / ROLES_FILE).write_text(json.dumps({"default": "big", "live": "small"}))
    roles = model_roles(tmp_path, usable=["big", "small"])
    assert (roles.default, roles.live, roles.problem) == ("big", "small", None)
    assert roles.of("live") == "small" and roles.roles_of("big") == ("default",) and roles.roles_of("other") == ()
    # resolve_model_dir reads the folder itself: it holds no model folder, so neither name is usable.
    assert resolve_model_dir(None, root=tmp_path, role="live") == tmp_path / DEFAULT_MODEL_NAME
    assert "names 'big' for the default role" in model_roles(tmp_path).problem
    with pytest.raises(ValueError, match="unknown model role 'webcam'; known: default, live"):
        roles.of("webcam")


def test_without_roles_the_default_model_serves_both_and_the_first_stands_in_for_it(tmp_path: Path) -> None:
    assert model_roles(tmp_path, usable=["a", DEFAULT_MODEL_NAME]) == model_roles(tmp_path, usable=[DEFAULT_MODEL_NAME])
    roles = model_roles(tmp_path, usable=["a", DEFAULT_MODEL_NAME])
    assert (roles.default, roles.live, roles.problem) == (DEFAULT_MODEL_NAME, DEFAULT_MODEL_NAME, None)
    assert model_roles(tmp_path, usable=["b", "a"]).roles_of("b") == ("default", "live")  # no DEFAULT_MODEL_NAME here
    # A file naming only the default: the live role follows it.
    (tmp_path / ROLES_FILE).write_text(json.dumps({"default": "a"}))
    assert model_roles(tmp_path, usable=["a", "b"]).live == "a"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"default": "gone", "live": "b"}', "names 'gone' for the default role, which is not a usable model"),
        ('{"default": "b", "live": 3}', "names 3 for the live role"),
        ("[1, 2]", "roles.json is unreadable (it is not a JSON object)"),
        ("{not json", "roles.json is unreadable"),
    ],
)
def test_a_broken_roles_file_falls_back_and_says_what_it_ignored(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / ROLES_FILE).write_text(text)
    roles = model_roles(tmp_path, usable=["a", "b"])
    assert problem in roles.problem
    assert roles.default in ("a", "b") and roles.live in ("a", "b", roles.default)


def test_the_shipped_roles_name_shipped_models(tmp_path: Path) -> None:
    shipped = json.loads((MODELS_DIR / ROLES_FILE).read_text())
    assert set(shipped) == {"default", "live"} and all((MODELS_DIR / name).is_dir() for name in shipped.values())
    roles = model_roles()
    assert roles.problem is None and (roles.default, roles.live) == (shipped["default"], shipped["live"])
    # The command line's default model is the default role's, from a copied folder too.
    copy = tmp_path / "models"
    shutil.copytree(MODELS_DIR, copy)
    assert resolve_model_dir(None, root=copy) == copy / shipped["default"]
