"""``--quiet``: what LiteRT and TensorFlow print from C++ is silenced, and Python's own messages are not."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from core.quiet import TF_LOG_LEVEL, native_stderr_silenced
from tests.core.faces import face_scene

REPO = Path(__file__).resolve().parents[2]
NATIVE_CHATTER = ("XNNPACK", "oneDNN", "cpu_feature_guard", "absl::InitializeLog", "rebuild TensorFlow")


def run(code_or_args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != TF_LOG_LEVEL}
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )  # fmt: skip


def test_native_writes_vanish_and_python_writes_stay() -> None:
    code = (
        "import os, sys\n"
        "from core.quiet import native_stderr_silenced\n"
        "print('before', file=sys.stderr)\n"
        "with native_stderr_silenced():\n"
        "    os.write(2, b'native chatter\\n')\n"  # what C++ does: straight to descriptor 2
        "    print('python says', file=sys.stderr)\n"
        "    print('level', os.environ['TF_CPP_MIN_LOG_LEVEL'])\n"
        "os.write(2, b'after\\n')\n"
        "print('level after', os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
    )
    done = run(["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stderr == "before\npython says\nafter\n"
    assert done.stdout == "level 3\nlevel after None\n"


def test_a_raising_block_restores_everything_and_off_is_a_no_op() -> None:
    code = (
        "import os, sys\n"
        "from core.quiet import native_stderr_silenced\n"
        "stream = sys.stderr\n"
        "try:\n"
        "    with native_stderr_silenced():\n"
        "        raise KeyError('inside')\n"
        "except KeyError:\n"
        "    pass\n"
        "assert sys.stderr is stream\n"
        "os.write(2, b'restored\\n')\n"
        "with native_stderr_silenced(False):\n"
        "    os.write(2, b'not silenced\\n')\n"
    )
    done = run(["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stderr == "restored\nnot silenced\n"


def test_a_captured_stderr_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    monkeypatch.setenv(TF_LOG_LEVEL, "1")
    before = os.fstat(2)
    with native_stderr_silenced():
        print("kept", file=sys.stderr)
        assert sys.stderr is captured and os.environ[TF_LOG_LEVEL] == "1"  # a level already set is kept
    after = os.fstat(2)
    assert captured.getvalue() == "kept\n" and (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)


def test_predict_quiet_prints_no_native_lines(tiny_model_dir: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), face_scene(faces=((200, 100),)))
    base = ["-m", "core", "predict", str(photo), "--model", str(tiny_model_dir), "--format", "json"]
    # Without --quiet LiteRT announces its delegate: the check below would otherwise prove nothing.
    loud = run(base)
    assert loud.returncode == 0, loud.stderr
    assert "XNNPACK" in loud.stderr
    # MTCNN imports TensorFlow, which has start-up lines of its own.
    quiet = run([*base, "--detector", "mtcnn", "--quiet"])
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(word in line for word in NATIVE_CHATTER)]
    assert quiet.stdout.lstrip().startswith("[")  # the results still come out
    # An error the command reports itself still reaches stderr.
    missing = run([*base[:-4], "--model", str(tmp_path / "no-model"), "--quiet"])
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
