"""Hostile dataset paths: the error names what is wrong, never what the file holds.

A visitor (before issue 14) or a careless owner may type any server path. ``/proc/self/environ``
holds the process environment, where Community Cloud puts root-level secrets; the messages are
made in a child process started with a canary in its environment, so the canary really is in
that file (``/proc/self/environ`` shows the environment a process started with, not later changes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CANARY = "fer-canary-7d1f0c9a2b"
HOSTILE = (
    "/proc/self/environ",
    "../../../../proc/self/environ",
    "/etc/passwd",
    ".streamlit/secrets.toml",
    "/dev/zero",
)
LOADERS = ("load_fer2013", "load_fer2013_csv", "load_fer2013_npz", "load_ferplus_targets")

CHILD = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import training.data as data
from core.errors import DatasetError
out = {"environ_has_canary": os.environ["FER_CANARY_TOKEN"].encode() in open("/proc/self/environ", "rb").read()}
home = os.getcwd()
for loader in %(loaders)r:
    for path in %(paths)r:
        # From /tmp, four levels up is /, so the relative path does reach /proc/self/environ.
        os.chdir("/tmp" if path.startswith("../") else home)
        try:
            getattr(data, loader)(path)
            out[loader + " " + path] = None
        except DatasetError as exc:
            out[loader + " " + path] = str(exc)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    # The working directory has its own secrets file, holding the canary.
    work = tmp_path_factory.mktemp("cwd")
    (work / ".streamlit").mkdir()
    (work / ".streamlit" / "secrets.toml").write_text(f'[twilio]\nauth_token = "{CANARY}"\n')
    env = {**os.environ, "FER_CANARY_TOKEN": CANARY}
    child = CHILD % {"loaders": LOADERS, "paths": HOSTILE}
    run = subprocess.run(
        [sys.executable, "-c", child, str(REPO)], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_canary_is_really_in_the_environment_file(messages: dict[str, str | None]) -> None:
    assert messages["environ_has_canary"] is True


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("path", HOSTILE)
def test_messages_never_show_contents(messages: dict[str, str | None], loader: str, path: str) -> None:
    message = messages[f"{loader} {path}"]
    assert message is not None, "a hostile path must be refused"
    assert CANARY not in message
    for leak in ("root:", "/bin/", "PATH=", "HOME=", "auth_token", "[twilio]", "\x00"):
        assert leak not in message, message


@pytest.mark.parametrize("loader", LOADERS)
def test_environ_is_reported_by_what_is_wrong(messages: dict[str, str | None], loader: str) -> None:
    expected = {
        "load_fer2013": "not a FER2013 CSV: no `emotion`, `pixels`, `Usage` columns",
        "load_fer2013_csv": "not a FER2013 CSV: no `emotion`, `pixels`, `Usage` columns",
        "load_fer2013_npz": "is not a FER2013 array pack",
        "load_ferplus_targets": "is not a FER+ label file",
    }[loader]
    assert expected in messages[f"{loader} /proc/self/environ"]


@pytest.mark.parametrize("loader", LOADERS)
def test_devices_are_not_files(messages: dict[str, str | None], loader: str) -> None:
    assert messages[f"{loader} /dev/zero"] == (
        "/dev/zero is not a file: point to fer2013.csv(.gz) or to a folder with train/ and test/"
    )


def test_passwd_and_secrets_are_not_fer2013(messages: dict[str, str | None]) -> None:
    for path in ("/etc/passwd", ".streamlit/secrets.toml"):
        assert messages[f"load_fer2013 {path}"].startswith(f"{path} is not a FER2013 CSV: no `emotion`")


def test_in_process_canary_and_binary_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from core.errors import DatasetError
    from training.data import load_fer2013

    monkeypatch.setenv("FER_CANARY_TOKEN", CANARY)
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"\xff\xfe" + CANARY.encode() + b"\x00" * 10)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(f'emotion,pixels,Usage\n{CANARY},1,Training\n1,{CANARY},Training\n')
    for path in (binary, quoted, Path("/proc/self/environ"), Path("/etc/passwd")):
        with pytest.raises(DatasetError) as caught:
            load_fer2013(path)
        assert CANARY not in str(caught.value) and "root:" not in str(caught.value)
