"""Hostile and malformed uploads through the upload page's own path, ``app.upload.analyse_upload``.

A fixed corpus (``hostile.py``, built in memory) and property-based cases (Hypothesis: random
bytes, mutated real files, forged headers, valid images of any geometry and mode) each get either
a correct answer or a clear domain error, within a time and memory bound per file. The error text
checked here is the one the page shows (``Cannot read NAME: ERROR``, see ``test_privacy.py`` for the
page itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import InvalidImageError
from core.imageio import DEFAULT_MAX_PIXELS, load_image
from core.labels import EMOTIONS
from core.recognizer import EmotionRecognizer
from app.upload import UPLOAD_TYPES, UploadOutcome, analyse_upload
from tests.reliability import hostile
from tests.reliability.budget import TALLY, Usage, measure

# Bounds per file, on a slow 2-core CPU that is also training a model (typical files take < 0.5 s
# and < 60 MB): a base, plus an allowance per pixel the file declares, since a file within the
# 40-megapixel budget is decoded in full.
SECONDS_PER_FILE = 10.0
SECONDS_PER_MEGAPIXEL = 0.5
MB_PER_FILE = 256.0
BYTES_PER_PIXEL = 24


def seconds_bound(pixels: int = 0) -> float:
    return SECONDS_PER_FILE + SECONDS_PER_MEGAPIXEL * pixels / 1e6


def megabytes_bound(pixels: int = 0) -> float:
    return MB_PER_FILE + BYTES_PER_PIXEL * pixels / 2**20


# The only shapes an upload error may take (core.imageio's messages), all ending in what to do.
ERROR_FORMS = (
    re.compile(r"^the image is empty \(0 bytes\); choose a [A-Z, ]+ image file$"),
    re.compile(r"^the image is not a supported image \(or is corrupt\); supported formats: [A-Z, ]+$"),
    re.compile(
        r"^the image is truncated or corrupt \([^()]*(\([^()]*\))?[^()]*\); re-export or re-download the image$"
    ),
    re.compile(r"^the image is too large: .+; the limit is [\d.]+ megapixels\. Resize the image and try again$"),
    re.compile(r"^the image declares an empty image \(\d+x\d+ pixels\)$"),
)
# Python internals that must never reach a user.
INTERNALS = re.compile(r"Traceback|<_io\.|object at 0x|\b0x[0-9a-fA-F]{8,}|NoneType|cannot be interpreted|Error\(")

CATEGORIES = (
    "empty", "truncated", "random", "renamed", "bomb", "shape", "mode", "exif", "animated", "content",
    "structure", "name",
)  # fmt: skip
# Categories whose files decode; they also go through the slower MTCNN detector.
DECODABLE = ("shape", "mode", "exif", "animated", "content")
MTCNN_EXIF_CASES = ("orientation1.png", "orientation6.jpg", "orientation8.png", "exif-garbage.jpg")
Corpus = dict[str, list[hostile.Case]]

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL"),  # Pillow warns about the damage we feed it
    pytest.mark.timeout(300),  # a hang anywhere fails the test instead of stalling the run
]

QUICK = settings(
    deadline=None,
    derandomize=True,  # the same cases on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    by_category: Corpus = {}
    for case in hostile.build_corpus():
        by_category.setdefault(case.category, []).append(case)
    assert set(by_category) == set(CATEGORIES)
    return by_category


def upload(
    name: str, data: bytes, recognizer: EmotionRecognizer, *, detector: str = "haar", source: str
) -> tuple[UploadOutcome, Usage]:
    """One file through the upload path, timed and measured; anything but an outcome is a crash."""
    try:
        outcome, usage = measure(lambda: analyse_upload(name, data, recognizer, detector=detector))
    except BaseException:
        TALLY.record(source, name, Usage(0.0, 0.0, ""), error=False, crashed=True)
        raise
    TALLY.record(source, f"{name} ({detector})", usage, error=not outcome.ok)
    return outcome, usage


def error_problems(message: str) -> list[str]:
    """Why an error text would not be a clear message for the page (empty list: it is)."""
    problems = []
    if not any(form.match(message) for form in ERROR_FORMS):
        problems.append(f"unexpected wording: {message!r}")
    if INTERNALS.search(message) or "\n" in message or len(message) > 300:
        problems.append(f"internal or overlong text: {message!r}")
    return problems


def outcome_problems(
    outcome: UploadOutcome,
    usage: Usage,
    data: bytes,
    *,
    expect: str = hostile.EITHER,
    phrase: str | None = None,
    shape: tuple[int, int] | None = None,
    faces: int | Iterable[int] | None = None,
    seconds: float = seconds_bound(),
    megabytes: float = megabytes_bound(),
) -> list[str]:
    """Everything wrong with one upload's outcome (empty list: a correct answer or a clear error)."""
    problems = []
    if usage.seconds > seconds:
        problems.append(f"took {usage.seconds:.1f} s (bound {seconds} s)")
    if usage.peak_mb > megabytes:
        problems.append(f"peak memory {usage.peak_mb:.0f} MB (bound {megabytes} MB)")
    if outcome.error is not None:
        if expect == hostile.OK:
            problems.append(f"expected an image, got error {outcome.error!r}")
        if phrase and phrase not in outcome.error:
            problems.append(f"error {outcome.error!r} lacks {phrase!r}")
        problems += error_problems(outcome.error)
        # The page shows the decoder's own domain error, word for word.
        try:
            load_image(data)
            problems.append("load_image accepted a file that the upload path refused")
        except InvalidImageError as exc:
            if str(exc) != outcome.error:
                problems.append(f"page text {outcome.error!r} differs from the domain error {str(exc)!r}")
        return problems
    if expect == hostile.ERROR:
        problems.append(f"expected an error, got an image of shape {outcome.image_bgr.shape}")
    image = outcome.image_bgr
    if image is None or image.dtype != np.uint8 or image.shape[2:] != (3,) or not image.flags.c_contiguous:
        return problems + [f"not a BGR uint8 image: {None if image is None else (image.dtype, image.shape)}"]
    if shape is not None and image.shape[:2] != tuple(shape):
        problems.append(f"shape {image.shape[:2]}, expected {shape}")
    if outcome.annotated_bgr is None or outcome.annotated_bgr.shape != image.shape:
        problems.append("annotated copy missing or of another shape")
    allowed = {faces} if isinstance(faces, int) else set(faces) if faces is not None else None
    if allowed is not None and len(outcome.faces) not in allowed:
        problems.append(f"{len(outcome.faces)} faces, expected {sorted(allowed)}")
    height, width = image.shape[:2]
    for face in outcome.faces:
        x, y, w, h = face.box
        probs = [face.probabilities[name] for name in EMOTIONS]
        if not (0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height):
            problems.append(f"face box {face.box} outside the {width}x{height} image")
        if not (abs(sum(probs) - 1.0) < 1e-5 and min(probs) >= 0 and face.confidence == max(probs)):
            problems.append(f"bad probabilities {face.probabilities}")
        if face.emotion != EMOTIONS[int(np.argmax(probs))] or not 0.0 <= face.detection_score <= 1.0:
            problems.append(f"inconsistent face {face}")
    return problems


def assert_no_problems(found: dict[str, list[str]]) -> None:
    bad = {case: problems for case, problems in found.items() if problems}
    assert not bad, "\n".join(f"{case}: {'; '.join(problems)}" for case, problems in bad.items())


# --- the fixed corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_corpus_gets_a_correct_answer_or_a_clear_error(
    category: str, corpus: Corpus, shared_recognizer: EmotionRecognizer
) -> None:
    found = {}
    for case in corpus[category]:
        outcome, usage = upload(case.name, case.data, shared_recognizer, source="corpus")
        found[case.id] = outcome_problems(
            outcome, usage, case.data, expect=case.expect, phrase=case.phrase, shape=case.shape, faces=case.faces
        )
    assert_no_problems(found)


@pytest.mark.parametrize("category", DECODABLE)
def test_corpus_through_mtcnn(category: str, corpus: Corpus, shared_recognizer: EmotionRecognizer) -> None:
    found = {}
    for case in corpus[category]:
        if category == "exif" and case.name not in MTCNN_EXIF_CASES:
            continue  # the other orientations add nothing the detector sees
        outcome, usage = upload(case.name, case.data, shared_recognizer, detector="mtcnn", source="corpus-mtcnn")
        faces: int | range | None = case.faces
        if case.name.startswith("thirty-faces"):
            faces = range(15, 31)  # MTCNN finds about 20 of the 30 drawn (cartoon) faces
        if case.name == "bilevel.png":
            faces = None
        found[case.id] = outcome_problems(outcome, usage, case.data, expect=case.expect, shape=case.shape, faces=faces)
    assert_no_problems(found)


def test_exif_orientations_restore_the_upright_pixels() -> None:
    upright = hostile.photo_rgb()[:, :, ::-1]
    for orientation in range(1, 9):
        stored = hostile.stored_for_orientation(Image.fromarray(hostile.photo_rgb()), orientation)
        data = hostile.encode(stored, "PNG", exif=hostile._exif(orientation))
        assert np.array_equal(load_image(data), upright), f"orientation {orientation}"


def test_a_file_at_the_pixel_budget_stays_within_its_time_and_memory(shared_recognizer: EmotionRecognizer) -> None:
    side = int(DEFAULT_MAX_PIXELS**0.5) - 1  # just under the budget: decoded in full
    data = hostile.encode(Image.new("RGBA", (side, side), (10, 200, 30, 128)), "PNG")
    outcome, usage = measure(lambda: analyse_upload("budget.png", data, shared_recognizer, detector="haar"))
    TALLY.notes.append(
        f"at the pixel budget ({side}x{side} RGBA PNG, {len(data) // 1024} KB): "
        f"{usage.seconds:.1f} s, {usage.peak_mb:.0f} MB peak {usage.method}"
    )
    assert outcome.ok and outcome.image_bgr.shape == (side, side, 3)
    assert usage.seconds <= seconds_bound(side * side) and usage.peak_mb <= megabytes_bound(side * side), usage


# --- generated cases --------------------------------------------------------------------------

EXTENSIONS = (*UPLOAD_TYPES, "gif")
SEEDS = hostile.seed_images()


@settings(QUICK, max_examples=60)
@given(data=st.binary(max_size=4096), ext=st.sampled_from(EXTENSIONS))
def test_random_bytes(data: bytes, ext: str, shared_recognizer: EmotionRecognizer) -> None:
    outcome, usage = upload(f"random.{ext}", data, shared_recognizer, source="hypothesis")
    assert_no_problems({f"{len(data)} bytes": outcome_problems(outcome, usage, data)})


@settings(QUICK, max_examples=100)
@given(
    seed=st.integers(0, len(SEEDS) - 1),
    edits=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=12),
    cut=st.none() | st.integers(0, 2**20),
)
def test_mutated_real_files(
    seed: int, edits: list[tuple[int, int]], cut: int | None, shared_recognizer: EmotionRecognizer
) -> None:
    ext, original = SEEDS[seed]
    data = bytearray(original)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    outcome, usage = upload(f"mutated.{ext}", bytes(data), shared_recognizer, source="hypothesis")
    assert_no_problems({f"seed {seed} ({ext})": outcome_problems(outcome, usage, bytes(data))})


HEADER_FORGERS = {
    "png": hostile.png_header_bomb, "gif": hostile.gif_header_bomb, "bmp": hostile.bmp_header_bomb,
    "jpg": hostile.jpeg_header_bomb, "tiff": hostile.tiff_header_bomb, "webp": hostile.webp_header_bomb,
}  # fmt: skip
SIDE_LIMITS = {"gif": 65_535, "jpg": 65_535, "webp": 16_384}


@settings(QUICK, max_examples=50)
@given(ext=st.sampled_from(sorted(HEADER_FORGERS)), width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_forged_headers(ext: str, width: int, height: int, shared_recognizer: EmotionRecognizer) -> None:
    limit = SIDE_LIMITS.get(ext, 2**31 - 1)
    width, height = 1 + width % limit, 1 + height % limit
    data = HEADER_FORGERS[ext](width, height)
    outcome, usage = upload(f"forged.{ext}", data, shared_recognizer, source="hypothesis")
    too_big = width * height > DEFAULT_MAX_PIXELS
    problems = outcome_problems(
        outcome, usage, data,
        expect=hostile.ERROR if too_big else hostile.EITHER,
        phrase=hostile.TOO_LARGE if too_big else None,
        shape=(height, width),
        seconds=seconds_bound(0 if too_big else width * height),
        megabytes=megabytes_bound(0 if too_big else width * height),
    )  # fmt: skip
    assert_no_problems({f"{ext} {width}x{height}": problems})


ENCODABLE = {
    "JPEG": ("L", "RGB", "CMYK"), "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "WEBP": ("RGB", "RGBA"), "BMP": ("1", "L", "P", "RGB"), "GIF": ("L", "P"),
    "TIFF": ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"),
}  # fmt: skip
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")


@st.composite
def valid_images(draw: st.DrawFn) -> tuple[str, bytes, tuple[int, int]]:
    fmt = draw(st.sampled_from(sorted(ENCODABLE)))
    mode = draw(st.sampled_from(ENCODABLE[fmt]))
    width, height = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    pixels = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if mode == "I;16":
        image = Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 257)
    elif mode in ("I", "F"):
        image = Image.fromarray(pixels[:, :, 0].astype(np.int32 if mode == "I" else np.float32), mode)
    else:
        image = image.convert(mode)
    orientation = draw(st.integers(1, 8)) if fmt in EXIF_FORMATS and draw(st.booleans()) else None
    params: dict[str, object] = {}
    if orientation is not None:
        image = hostile.stored_for_orientation(image, orientation)
        params["exif"] = hostile._exif(orientation)
    if fmt == "WEBP" and draw(st.booleans()):
        params["lossless"] = True
    return fmt.lower(), hostile.encode(image, fmt, **params), (height, width)


@settings(QUICK, max_examples=40)
@given(sample=valid_images())
def test_valid_images_of_any_geometry_and_mode(
    sample: tuple[str, bytes, tuple[int, int]], shared_recognizer: EmotionRecognizer
) -> None:
    ext, data, shape = sample
    outcome, usage = upload(f"valid.{ext}", data, shared_recognizer, source="hypothesis")
    problems = outcome_problems(outcome, usage, data, expect=hostile.OK, shape=shape)
    assert_no_problems({f"{ext} {shape}": problems})
