"""The command lines the README and ``docs/`` show, and how a tested command covers a documented one.

A command is read from a ```bash block (or an inline code span that starts with ``python``) and
normalised to its program (``core predict``, ``training.train``...) and the set of ``--options``
it uses; values, paths, comments, ``...``, ``[optional]`` brackets and ``> redirects`` are left out.
A documented command is covered when a command of :data:`TESTED` has the same program and at least
its options: the tested one may add what makes it tiny (``--arch tiny``, ``--epochs 1``, ``--quiet``).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[2]

SETUP_COMMANDS: tuple[str, ...] = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
    ".venv/bin/streamlit run Home.py --server.address localhost",
    "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt && .venv/bin/python -m pytest",
)
"""The README's two set-up commands (the app, the tests): shown verbatim and not run by these tests."""

TESTED: dict[str, str] = {
    # core: photos
    "predict json": "python -m core predict {photo} {folder} --format json --model {model} --quiet",
    "predict csv annotate": (
        "python -m core predict {folder} --format csv --detector mtcnn --annotate {out} --model {model} --quiet"
    ),
    "predict crops": "python -m core predict {crops} --crops --model {model} --quiet",
    "predict small faces": "python -m core predict {photo} --small-faces --tta tencrop --model {model} --quiet",
    "predict show dropped": "python -m core predict {photo} --show-dropped --model {model} --quiet",
    "predict min score": "python -m core predict {photo} --min-score 0.3 --model {model} --quiet",
    "predict no verify": "python -m core predict {photo} --no-verify --model {model} --quiet",
    "predict explain": (
        "python -m core predict {folder} --explain {why} --explain-emotion fear --model {model} --quiet"
    ),
    "predict groups": "python -m core predict {photo} --groups default --model {model} --quiet",
    "predict groups csv": (
        "python -m core predict {photo} --format csv --model {model} --quiet"
        " --groups happy=happy,other=angry+disgust+fear+sad+surprise+neutral"
    ),
    # core: videos
    "video csv": "python -m core video {clip} --format csv --model {model} --quiet",
    "video annotate": (
        "python -m core video {clip} --fps 5 --smooth 0.5 --annotate {annotated} --model {model} --quiet"
    ),
    "video groups": "python -m core video {clip} --smooth --groups default --format csv --model {model} --quiet",
    "video min score": "python -m core video {clip} --min-score 0.3 --format csv --model {model} --quiet",
    # training: one tiny run (every recipe at once, the tiny model as its teacher), resumed with a warm
    # restart, evaluated three ways, averaged, combined with its teacher, exported
    "train": (
        "python -m training.train --data {csv} --arch tiny --epochs 2 --out {run} --snapshots --batch-size 16"
        " --no-augment --precision auto --mixup 0.2 --teacher {teacher} --distill-weight 0.5 --distill-temperature 2"
    ),
    "train resume": (
        "python -m training.train --data {csv} --arch tiny --epochs 3 --out {run} --resume --restart-lr 1e-3"
        " --batch-size 16"
    ),
    "evaluate choose": "python -m training.evaluate --data {csv} --model {run} --choose-tta",
    "evaluate choose cheap": "python -m training.evaluate --data {csv} --model {run} --choose-tta --tta-modes none flip",
    "evaluate uncertainty": "python -m training.evaluate --data {csv} --model {run} --choose-uncertainty",
    "evaluate split": "python -m training.evaluate --data {csv} --model {run} --split PrivateTest --tta flip",
    "evaluate ferplus": "python -m training.evaluate --data {csv} --model {run} --ferplus {ferplus}",
    "average": "python -m training.average --data {csv} --run {run} --epochs 1 2 --out {swa}",
    "ensemble": (
        "python -m training.ensemble --data {csv} --members {run} {teacher} --out {ensemble} --select greedy"
    ),
    "members": "python -m training.members {ensemble} --out {out}",
    "export": "python -m training.export {run}",
    # training: compact checkpoints, the recipes of issue 22, the serving framing's errors
    "checkpoint compact": "python -m training.checkpoint compact {run} --out {compact} --snapshots 1",
    "train resume from": (
        "python -m training.train --data {csv} --arch tiny --epochs 3 --out {continued} --resume-from {compact}"
        " --batch-size 16"
    ),
    "train serve recipes": (
        "python -m training.train --data {csv} --arch tiny --epochs 1 --out {run} --batch-size 16"
        " --serve-jitter --photometric 0.2 --equalize"
    ),
    "train init": (
        "python -m training.train --data {csv} --arch tiny --epochs 1 --lr 2e-4 --init {run} --out {tuned}"
        " --batch-size 16 --snapshots --serve-jitter --photometric 0.2"
    ),
    "train webcam jitter": (
        "python -m training.train --data {csv} --arch tiny --epochs 1 --out {run} --batch-size 16"
        " --serve-jitter webcam"
    ),
    "train ferplus blend": (
        "python -m training.train --data {csv} --arch tiny --epochs 1 --out {run} --batch-size 16"
        " --ferplus {ferplus} --ferplus-blend 0.5"
    ),
    "jitter photo": "python -m training.jitter --data {csv} --faces 40 --out {out}",
    "jitter webcam": "python -m training.jitter --data {csv} --faces 40 --path webcam --out {out}",
    # training: your own labelled photos
    "photos": "python -m training.photos --photos {photos} --model {model}",
    "photos zip json": "python -m training.photos --photos {zip} --model {model} --styles original --json",
    "photos crops two models": "python -m training.photos --photos {crops} --model fast {model} --crops",
    "photos min group": "python -m training.photos --photos {photos} --model {model} --styles original --min-group 50",
    "photos record": "python -m training.photos --photos {photos} --model {own} --styles original --record",
    "adapt": (
        r"python -m training.adapt --photos {photos} --out {out} --base {model} --person-from '^(\d{{4}})'"
        " --epochs 1 --holdout-people 0.34"
    ),
    "adapt replay": (
        r"python -m training.adapt --photos {photos} --out {out} --base {model} --person-from '^(\d{{4}})'"
        " --epochs 1 --replay 20 --data {csv}"
    ),
    "adapt cv": (
        r"python -m training.adapt --photos {photos} --base {model} --person-from '^(\d{{4}})' --cv 2 --epochs 1"
        " --replay 20 --data {csv} --train-people 2 --freeze 0.5 --distill 0.5 --lr 3e-4"
    ),
    "adapt everyone": (
        r"python -m training.adapt --photos {photos} --out {out} --base {model} --person-from '^(\d{{4}})'"
        " --epochs 1 --replay 20 --data {csv} --holdout-people 0"
    ),
    # batch: the archive job on a local Ray (a child process: it starts and stops its own Ray)
    "batch": "python -m batch {photo} {clip} --out {out} --model {model} --workers 1 --quiet",
    "batch resume": "python -m batch {photo} {clip} --out {out} --model {model} --workers 1 --quiet --resume",
    # benchmarks: false faces on tiny material
    "false faces": (
        "python -m benchmarks.false_faces --samples {samples} --posed {posed} --data {csv} --pasted 2 --limit 2"
        " --json {out}"
    ),
    "false faces explore": "python -m benchmarks.false_faces --pasted 0 --limit 1 --explore --json {out}",
    "false faces scenes": (
        "python -m benchmarks.false_faces --samples {samples} --posed {posed} --data {csv} --pasted 2 --limit 2"
        " --counted {counted} --scenes {scenes} --json {out}"
    ),
    "qt resources": "python -m benchmarks.qt_resources {out} {rcc}",
    # training: the face verifier's network, converted from the mtcnn wheel
    "face verifier": "python -m training.face_verifier --out {out}",
    # benchmarks: a quick run on the tiny model (tests/benchmarks/test_quick_run.py runs it)
    "benchmarks quick": (
        "python -m benchmarks.run --quick --only classify frame saliency --no-fer --no-candidates --detectors haar"
        " --models {model} --out {out}"
    ),
}
"""Every command the documentation tests run, by name; ``{...}`` are the tiny inputs a test fills in."""


CHILD_PROCESS = ("benchmarks.run", "benchmarks.false_faces", "batch")
"""Modules :func:`cli` runs in a child process: the benchmark pins its process to one core, the
false-faces benchmark prints as it goes, and the batch job starts and stops its own Ray."""

INSTALL = re.compile(r"^(?:\S*/)?pip3? install (?:-q )?-r (requirements[\w-]*\.txt)\b")
"""A line that installs one of the project's requirements files: set-up, not a command to run."""


class Command(NamedTuple):
    """A command line, normalised: where it was shown, its text, its program and its options."""

    where: str
    text: str
    program: str
    options: frozenset[str]


FENCE = re.compile(r"^```(\w*)\s*$")
INLINE = re.compile(r"`((?:\.venv/bin/)?python3? -m [^`]+)`")
PYTHON = re.compile(r"^(?:\S*/)?python3?$")


def normalise(text: str, *, where: str = "") -> list[Command]:
    """The commands of one shell line (``&&`` separates several): program and option names.

    Raises:
        ValueError: a command that does not run ``python -m MODULE`` or the app (``ray job submit ... --
            python -m MODULE`` counts as its entrypoint).
    """
    tokens = shlex.split(text, comments=True)
    commands, current = [], []
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    out = []
    for words in filter(None, commands):
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # VAR=value before the program
            words = words[1:]
        if words[:3] == ["ray", "job", "submit"] and "--" in words:  # the job's entrypoint is what runs
            words = words[words.index("--") + 1 :]
        if len(words) >= 3 and PYTHON.match(words[0]) and words[1] == "-m":
            program, rest = words[2], words[3:]
        else:
            raise ValueError(f"{where}: {text!r} does not run `python -m MODULE`: no documentation test can run it")
        options, skip = set(), False
        for word in rest:
            word = word.strip("[]")
            if skip:
                skip = False
            elif word in (">", ">>", "2>", "<"):
                skip = True  # the redirect's file
            elif word.startswith("--"):
                options.add(word.split("=", 1)[0])
        if program == "core":  # the command's own name is part of the program: `core predict`
            positional = [w for w in rest if not w.startswith("-")]
            program = f"core {positional[0]}" if positional else "core"
        out.append(Command(where, text.strip(), program, frozenset(options)))
    return out


def shown_commands(markdown: str, *, where: str) -> list[Command]:
    """The commands of a Markdown text: every line of its ```bash blocks, and inline ``python -m`` spans."""
    found: list[Command] = []
    in_block: str | None = None
    pending = ""
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line.strip())
        if fence:
            in_block = None if in_block is not None else fence.group(1)
            continue
        place = f"{where}:{number}"
        if in_block in ("bash", "sh", "shell", "console"):
            pending += line.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            if pending.strip() and pending.strip() not in SETUP_COMMANDS and not INSTALL.match(pending.strip()):
                found += normalise(pending, where=place)
            pending = ""
        elif in_block is None:
            found += [c for span in INLINE.findall(line) for c in normalise(span, where=place)]
    return found


def documentation_files(root: Path = REPO) -> list[Path]:
    """README.md and every Markdown page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def uncovered(documented: list[Command], tested: list[Command]) -> list[Command]:
    """The documented commands no tested command covers (same program, at least the same options)."""
    return [
        doc for doc in documented
        if not any(t.program == doc.program and doc.options <= t.options for t in tested)
    ]  # fmt: skip


def commands_run_by_tests() -> list[Command]:
    """:data:`TESTED`, normalised."""
    return [c for name, text in TESTED.items() for c in normalise(text, where=name)]


def cli(name: str, capsys: Any, **values: object) -> tuple[int, str]:
    """Run the command ``TESTED[name]`` with ``values`` filled in; its exit status and stdout.

    ``python -m core`` and ``training.*`` run in this process (their ``main``), the benchmark in a
    child process, since it pins its process to one core. A status other than 0 fails the test.
    """
    argv = shlex.split(TESTED[name].format(**{k: str(v) for k, v in values.items()}))
    module, args = argv[2], argv[3:]
    assert argv[:2] == ["python", "-m"], argv
    if module in CHILD_PROCESS:
        done = subprocess.run(
            [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )  # fmt: skip
        assert done.returncode == 0, f"{name}: exit status {done.returncode}\n{done.stderr[-3000:]}"
        return done.returncode, done.stdout
    main = importlib.import_module("core.cli" if module == "core" else module).main
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, f"{name}: exit status {code}\n{err[-3000:]}"
    return code, out
