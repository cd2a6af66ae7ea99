"""False faces: the photo default's counts on material with known faces, without and with its face checks.

``python -m benchmarks.false_faces [--samples DIR] [--posed DIR] [--data PATH] [--pasted 400] [--scenes DIR ...]
[--json OUT]``

Material (each part runs where it is present): the real photos of ``--samples`` (counts from that
folder's README, :data:`SAMPLE_COUNTS`), one-face photos in the folders of ``--posed``, FER2013
PublicTest faces pasted into 640x480 scenes at 30-240 px (half on noise, half on scikit-image's
coffee, rocket, brick, grass and gravel), scikit-image's bundled images (:data:`SKIMAGE_COUNTS`),
made material with no human face (scikit-image's cat at several sizes and framings, drawn cat
and dog faces, masks, smileys, three-dot patterns, sockets, noise), and the photos and pictures
without people found under ``--scenes`` (:func:`scene_material`: rooms, streets, objects, a clock,
a fist, text, landscapes, patterns), the animal photos among them (:data:`ANIMAL_PHOTOS`) each
seen whole, mirrored and shrunk to 320 px. YuNet (the photo default's scales) runs at
``--min-score`` (0.6, the default threshold); per material the table gives the faces, those found,
and the false faces, with :data:`core.detection.NO_CHECKS` (before issue 25), with the default
:class:`core.detection.FaceChecks`, and with the checks and the face verifier
(:mod:`core.verifier`, issue 36). A face counts as found when a kept box's centre lies in its
pasted square (pasted) or, for photos counted by hand, up to the count (extras are false).
``--explore`` lists every box from 0.3 up with the rule that drops it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

SAMPLE_COUNTS: dict[str, int] = {
    "group_5_faces.jpg": 5, "one_face_smiling.jpg": 1, "one_face_speaker.jpg": 1, "one_face_gray_turned.jpg": 1,
    "posed_surprise.jpg": 1, "posed_disgust.jpg": 1, "posed_happy.jpg": 1, "posed_angry.jpg": 1,
    "no_face_drawing.jpg": 0, "no_face_photo.jpg": 0,
}  # fmt: skip
"""Faces a person counts in each photo of the samples folder (12 in all)."""

SKIMAGE_COUNTS: dict[str, int] = {
    "astronaut": 1, "camera": 1, "cat": 0, "coffee": 0, "rocket": 0, "coins": 0, "hubble_deep_field": 0,
    "immunohistochemistry": 0, "moon": 0, "page": 0, "text": 0, "clock": 0, "brick": 0, "grass": 0,
    "gravel": 0, "colorwheel": 0, "retina": 0, "logo": 0, "cell": 0, "checkerboard": 0,
}  # fmt: skip
"""scikit-image's bundled images (``skimage.data``) and the human faces in each."""

_PASTE_BACKGROUNDS = ("coffee", "rocket", "brick", "grass", "gravel")

SCENE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

WITH_PEOPLE: tuple[str, ...] = (
    "/basketball1.png", "/basketball2.png", "/messi5.jpg", "/fuzzy/input.png", "/text/scenetext01.jpg",
    "/wallpapers/Autumn/", "/wallpapers/SafeLanding/",
    *(f"/{side}{k:02d}.jpg" for side in ("left", "right") for k in range(1, 15)),
    "christTheRedeemer", "mountRushmore", "statueOfLiberty", "statueofLiberty", "lincolnMemorial", "victoriaMemorial",
    "wonders/colosseum.webp",
)  # fmt: skip
"""Path parts of the pictures under the scene folders that show people (a player, a drawn girl, the person
holding OpenCV's calibration boards, tiny figures) or a carved human face (statues; a carved head before the
Colosseum): left out of the material without people, as drawn faces are readable by design."""

ANIMAL_FOLDERS: tuple[str, ...] = ("/erase/resource/", "/explore_farm_animals/", "/explore_world_animals/")
"""Path parts of folders of animal photos: GCompris's (``benchmarks.qt_resources``), 57 photos of about 80 animals."""

COUNTED_PHOTOS: dict[str, int] = {"solvay_conference_1927.jpg": 29, "gauss.png": 1, "newton.png": 1}
"""Photos of ``--counted`` and their human faces: the 1927 Solvay conference's group photo and two painted
portraits, from the ``scrfd`` 0.3.0 source archive's ``images/`` (``docs/detection.md``)."""

ANIMAL_PHOTOS: dict[str, int] = {
    "friends_by_Aitzol_Berasategi.jpg": 2, "chicky_512.png": 1, "baboon.jpg": 1, "squirrel_cls.jpg": 1,
    "hfs/data/000.jpg": 1, "Kleiber_by_Lukas_Baubkus.jpg": 1, "quokka.jpg": 1,
}  # fmt: skip
"""Photos under the scene folders that show animal faces (path endings), and how many: two dogs, a dog, a
mandrill, a squirrel, a robin, a nuthatch, a quokka."""


class Item(NamedTuple):
    """One image of the material: its group, name, pixels, and faces (count, and squares where known)."""

    material: str
    name: str
    image: np.ndarray
    faces: int
    squares: tuple[tuple[int, int, int], ...] | None = None


def skimage_bgr(name: str) -> np.ndarray:
    """A ``skimage.data`` image as BGR ``uint8`` (gray, boolean and RGBA ones converted)."""
    import skimage.data  # noqa: PLC0415 - a development dependency

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)


def on_canvas(image: np.ndarray, *, width: int = 640, height: int = 480, level: int = 128) -> np.ndarray:
    """``image`` centred on a flat gray canvas at least ``width`` x ``height`` (20 px of border)."""
    h, w = image.shape[:2]
    canvas = np.full((max(height, h + 40), max(width, w + 40), 3), level, np.uint8)
    top, left = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[top : top + h, left : left + w] = image
    return canvas


def draw_animal(size: int, kind: str = "dog") -> np.ndarray:
    """A drawn ``"cat"`` (pointed ears, green slit eyes) or ``"dog"`` (floppy ears, black nose, muzzle) face, BGR."""
    if kind not in ("cat", "dog"):
        raise ValueError(f"kind must be 'cat' or 'dog', got {kind!r}")
    img = np.full((2 * size, 2 * size, 3), 60, np.uint8)
    c = size
    fur = (90, 120, 150) if kind == "cat" else (60, 90, 140)
    for s in (-1, 1):
        if kind == "cat":
            ear = np.array([[c + s * int(0.15 * size), c - int(0.3 * size)], [c + s * int(0.45 * size), c - int(0.75 * size)],
                            [c + s * int(0.45 * size), c - int(0.15 * size)]])  # fmt: skip
            cv2.fillPoly(img, [ear], fur)
        else:
            cv2.ellipse(img, (c + s * int(0.5 * size), c), (int(0.15 * size), int(0.4 * size)), s * 15, 0, 360, (30, 50, 90), -1)
    cv2.ellipse(img, (c, c), (int(0.5 * size), int(0.45 * size)), 0, 0, 360, fur, -1)
    for s in (-1, 1):
        eye = (c + s * int(0.2 * size), c - int(0.08 * size))
        cv2.ellipse(img, eye, (int(0.09 * size), int(0.07 * size)), 0, 0, 360, (60, 170, 120) if kind == "cat" else (20, 30, 50), -1)
        cv2.ellipse(img, eye, (int(0.02 * size), int(0.06 * size)), 0, 0, 360, (10, 10, 10), -1)
    nose = np.array([[c - int(0.06 * size), c + int(0.1 * size)], [c + int(0.06 * size), c + int(0.1 * size)], [c, c + int(0.17 * size)]])
    cv2.fillPoly(img, [nose], (110, 110, 200) if kind == "cat" else (20, 20, 20))
    if kind == "dog":
        cv2.ellipse(img, (c, c + int(0.22 * size)), (int(0.2 * size), int(0.12 * size)), 0, 0, 360, (120, 150, 200), -1)
        cv2.ellipse(img, (c, c + int(0.13 * size)), (int(0.07 * size), int(0.05 * size)), 0, 0, 360, (10, 10, 10), -1)
    cv2.line(img, (c, c + int(0.17 * size)), (c, c + int(0.25 * size)), (40, 40, 40), max(1, size // 60))
    for s in (-1, 1):
        for k in (-1, 0, 1):
            cv2.line(img, (c + s * int(0.1 * size), c + int(0.2 * size)),
                     (c + s * int(0.55 * size), c + int((0.18 + 0.07 * k) * size)), (230, 230, 230), max(1, size // 80))  # fmt: skip
    return cv2.GaussianBlur(img, (0, 0), size * 0.01 + 0.5)


def draw_mask(size: int) -> np.ndarray:
    """A white theatre mask: an oval with slit eyes and a slit mouth, no nose."""
    img = np.full((2 * size, 2 * size, 3), 90, np.uint8)
    cv2.ellipse(img, (size, size), (int(0.4 * size), int(0.55 * size)), 0, 0, 360, (230, 230, 235), -1)
    for s in (-1, 1):
        cv2.ellipse(img, (size + s * int(0.17 * size), size - int(0.1 * size)), (int(0.1 * size), int(0.05 * size)), -s * 10, 0, 360, (10, 10, 10), -1)
    cv2.ellipse(img, (size, size + int(0.28 * size)), (int(0.12 * size), int(0.03 * size)), 0, 0, 360, (10, 10, 10), -1)
    return img


def draw_pattern(size: int, kind: str) -> np.ndarray:
    """Face-like patterns: ``"smiley"`` (a yellow emoji), ``"dots"`` (three blobs), ``"socket"`` (a wall socket)."""
    c = size
    if kind == "smiley":
        img = np.full((2 * size, 2 * size, 3), 255, np.uint8)
        cv2.circle(img, (c, c), int(0.8 * size), (0, 220, 255), -1)
        for s in (-1, 1):
            cv2.ellipse(img, (c + s * int(0.28 * size), c - int(0.25 * size)), (int(0.08 * size), int(0.15 * size)), 0, 0, 360, (30, 30, 30), -1)
        cv2.ellipse(img, (c, c + int(0.1 * size)), (int(0.45 * size), int(0.35 * size)), 0, 20, 160, (30, 30, 30), max(2, size // 15))
    elif kind == "dots":
        img = np.full((2 * size, 2 * size, 3), 150, np.uint8)
        for x, y in ((0.7, 0.8), (1.3, 0.8), (1.0, 1.35)):
            cv2.circle(img, (int(x * size), int(y * size)), int(0.15 * size), (20, 20, 20), -1)
    elif kind == "socket":
        img = np.full((2 * size, 2 * size, 3), 200, np.uint8)
        cv2.rectangle(img, (c - int(0.6 * size), c - int(0.6 * size)), (c + int(0.6 * size), c + int(0.6 * size)), (235, 235, 235), -1)
        for s in (-1, 1):
            x = c + s * int(0.25 * size)
            cv2.rectangle(img, (x - int(0.04 * size), c - int(0.25 * size)), (x + int(0.04 * size), c + int(0.05 * size)), (20, 20, 20), -1)
        cv2.circle(img, (c, c + int(0.3 * size)), int(0.08 * size), (20, 20, 20), -1)
    else:
        raise ValueError(f"kind must be one of smiley, dots, socket; got {kind!r}")
    return img


def made_material(*, seed: int = 7) -> Iterator[Item]:
    """Images with no human face: the cat at several sizes and framings, drawings, masks, patterns, noise."""
    rng = np.random.default_rng(seed)
    cat = skimage_bgr("chelsea")
    for factor in (1, 1.5, 2, 2.5, 3):
        big = cv2.resize(cat, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        yield Item("animals", f"cat x{factor}", big, 0)
        yield Item("animals", f"cat x{factor} on a canvas", on_canvas(big), 0)
    head = cat[20:280, 60:330]
    for side in (60, 100, 160, 240, 360, 480):
        shrunk = cv2.resize(head, (side, side * 260 // 270), interpolation=cv2.INTER_AREA if side < 270 else cv2.INTER_CUBIC)
        yield Item("animals", f"cat's head {side} px", on_canvas(shrunk), 0)
    for kind in ("cat", "dog"):
        for size in (30, 50, 80, 120, 180):
            yield Item("drawings", f"drawn {kind} {size}", on_canvas(draw_animal(size, kind)), 0)
    for size in (40, 80, 150):
        yield Item("masks", f"mask {size}", on_canvas(draw_mask(size)), 0)
        for kind in ("smiley", "dots", "socket"):
            yield Item("patterns", f"{kind} {size}", on_canvas(draw_pattern(size, kind)), 0)
    for k in range(3):
        yield Item("patterns", f"noise {k}", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), 0)
        yield Item("patterns", f"blurred noise {k}", cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 4 + 4 * k), 0)


def scene_pictures(roots: Sequence[Path]) -> Iterator[Path]:
    """Pictures under ``roots``, sorted; of a KDE wallpaper's sizes (``contents/images/``) only the largest file."""
    for root in roots:
        folders: dict[Path, list[Path]] = {}
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in SCENE_SUFFIXES and path.is_file() and path.parent.name != "contents":
                folders.setdefault(path.parent, []).append(path)
        for folder, paths in folders.items():
            if folder.name == "images" and folder.parent.name == "contents":
                paths = [max(paths, key=lambda p: p.stat().st_size)]
            yield from paths


def scene_material(roots: Sequence[Path]) -> Iterator[Item]:
    """Pictures without people under ``roots`` (0 faces each), then the animal photos (:data:`ANIMAL_PHOTOS`,
    :data:`ANIMAL_FOLDERS`).

    Made for Debian's ``opencv-doc`` (``examples/``), ``plasma-workspace-wallpapers``, ``ukui-wallpapers``,
    ``lomiri-wallpapers`` and ``gnome-backgrounds``, GCompris's photos (``gcompris-qt-data``, unpacked by
    ``benchmarks.qt_resources``) and two pictures from PyPI wheels (imgaug 0.4.0's ``quokka.jpg``, pygame
    2.6.1's ``examples/data/fist.png``); ``docs/detection.md`` says how to get them.
    Pictures showing people (:data:`WITH_PEOPLE`) are left out. Each animal photo is seen whole,
    mirrored, and shrunk to a long side of 320 px. GCompris's pictures (a path with ``/gcompris/``)
    are materials of their own: "GCompris photos without people", "GCompris animal photos".
    """
    animals = []
    for path in scene_pictures(roots):
        where = path.as_posix()
        if any(part in where for part in WITH_PEOPLE):
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        source = "GCompris " if "/gcompris/" in where else ""
        if any(where.endswith(name) for name in ANIMAL_PHOTOS) or any(part in where for part in ANIMAL_FOLDERS):
            animals.append((source, path, image))
        else:
            yield Item("GCompris photos without people" if source else "scenes without people", where, image, 0)
    for source, path, image in animals:
        factor = 320 / max(image.shape[:2])
        small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        for view, picture in (("whole", image), ("mirrored", np.ascontiguousarray(image[:, ::-1])), ("320 px", small)):
            yield Item(f"{source}animal photos", f"{path.name} {view}", picture, 0)


def pasted_material(data: Path, *, count: int, seed: int = 25) -> Iterator[Item]:
    """``count`` FER2013 PublicTest faces, each pasted at 30-240 px (log-uniform) into a 640x480 scene."""
    from benchmarks.frames import iter_fer_rows  # noqa: PLC0415

    backgrounds = [cv2.resize(skimage_bgr(name), (640, 480), interpolation=cv2.INTER_AREA) for name in _PASTE_BACKGROUNDS]
    rng = np.random.default_rng(seed)
    for i, (face, _label) in zip(range(count), iter_fer_rows(data, usage="PublicTest")):
        side = int(round(math.exp(rng.uniform(math.log(30), math.log(240)))))
        if i % 2 == 0:
            gray = np.clip(rng.normal(int(rng.integers(40, 216)), 10.0, (480, 640)), 0, 255).astype(np.uint8)
            scene = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        else:
            scene = backgrounds[int(rng.integers(0, len(backgrounds)))].copy()
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        scene[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)[:, :, None]
        yield Item("FER2013 pasted", f"PublicTest {i}, {side} px", scene, 1, ((x, y, side),))


def counted_photos(folder: Path | None, counts: dict[str, int], material: str) -> Iterator[Item]:
    """The photos of ``counts`` found in ``folder``, with their face counts."""
    if folder is None or not folder.is_dir():
        return
    for name, count in counts.items():
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is not None:
            yield Item(material, name, image, count)


def material(
    *,
    samples: Path | None,
    posed: Path | None,
    data: Path | None,
    pasted: int,
    scenes: Sequence[Path] = (),
    counted: Path | None = None,
) -> Iterator[Item]:
    """Every part of the material that is present, in the table's order."""
    yield from counted_photos(samples, SAMPLE_COUNTS, "sample photos")
    yield from counted_photos(counted, COUNTED_PHOTOS, "group photo and portraits")
    if posed is not None and posed.is_dir():
        for path in sorted(p for p in posed.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                yield Item("posed one-face photos", str(path.relative_to(posed)), image, 1)
    if data is not None and data.is_file() and pasted:
        yield from pasted_material(data, count=pasted)
    for name, count in SKIMAGE_COUNTS.items():
        yield Item("scikit-image", name, skimage_bgr(name), count)
    yield from made_material()
    yield from scene_material([root for root in scenes if root.is_dir()])


def score(item: Item, boxes: Sequence[tuple[int, int, int, int]]) -> tuple[int, int]:
    """``(faces found, false faces)`` of the kept ``boxes`` on one item."""
    if item.squares is None:
        return min(item.faces, len(boxes)), max(0, len(boxes) - item.faces)
    hit = [False] * len(item.squares)
    false = 0
    for x, y, w, h in boxes:
        cx, cy = x + w / 2, y + h / 2
        inside = [i for i, (sx, sy, side) in enumerate(item.squares) if sx <= cx <= sx + side and sy <= cy <= sy + side and not hit[i]]
        if inside:
            hit[inside[0]] = True
        else:
            false += 1
    return sum(hit), false


def measure(items: Iterator[Item], *, min_score: float, explore: bool = False) -> dict[str, Any]:
    """Per material: images, faces, and faces found / false faces with no checks, the checks, and the verifier too."""
    from core.pipeline import still_detector  # noqa: PLC0415
    from core.verifier import RULE, FaceVerifier, VerifiedDetector  # noqa: PLC0415

    verified = VerifiedDetector(still_detector(min_score=min_score), FaceVerifier())
    onet_only = FaceVerifier(presence_threshold=None)
    low = VerifiedDetector(still_detector(min_score=0.3), FaceVerifier())
    table: dict[str, dict[str, Any]] = {}
    boxes: list[dict[str, Any]] = []
    stages = ("before", "after", "onet", "verified")
    for item in items:
        report = verified.examine(item.image)
        by_verifier = [d.detection for d in report.dropped if d.rule == RULE]
        checked = sorted([*report.faces, *by_verifier], key=lambda d: (d.box[0], d.box[1]))
        kept = {
            "before": [d.box for d in report.faces] + [d.detection.box for d in report.dropped],
            "after": [d.box for d in checked],
            "onet": [d.box for d in onet_only.split(item.image, checked)[0]],
            "verified": [d.box for d in report.faces],
        }
        row = table.setdefault(item.material, {
            "images": 0, "faces": 0, **{f"{what}_{stage}": 0 for stage in stages for what in ("found", "false")},
            "dropped": {},
        })  # fmt: skip
        row["images"] += 1
        row["faces"] += item.faces
        for stage in stages:
            found, false = score(item, kept[stage])
            row[f"found_{stage}"] += found
            row[f"false_{stage}"] += false
        for drop in report.dropped:
            row["dropped"][drop.rule] = row["dropped"].get(drop.rule, 0) + 1
        if explore:
            wide = low.examine(item.image)
            for detection, rule in [(d, None) for d in wide.faces] + [(d.detection, d.rule) for d in wide.dropped]:
                if detection.score < 0.9:
                    boxes.append({"material": item.material, "image": item.name, "box": list(detection.box),
                                  "score": round(detection.score, 3), "dropped_by": rule})  # fmt: skip
    return {"min_score": min_score, "materials": table, "low_boxes": boxes}


def format_rows(result: dict[str, Any]) -> str:
    """The before/after table as Markdown: faces found / false faces at each stage."""
    lines = [
        "| material | images | faces | no checks | checks | checks + O-Net | checks + verifier (O-Net, face mesh) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["materials"].items():
        stages = " | ".join(f"{r[f'found_{stage}']} / {r[f'false_{stage}']}" for stage in ("before", "after", "onet", "verified"))
        lines.append(f"| {name} | {r['images']} | {r['faces']} | {stages} |")
    return "\n".join(lines)


def _at_most(items: Iterator[Item], limit: int | None) -> Iterator[Item]:
    """The first ``limit`` items of each material (all when ``None``)."""
    seen: dict[str, int] = {}
    for item in items:
        seen[item.material] = seen.get(item.material, 0) + 1
        if limit is None or seen[item.material] <= limit:
            yield item


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table (and with ``--json`` write every number)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.false_faces", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=Path, help="the real sample photos' folder (counts: SAMPLE_COUNTS)")
    parser.add_argument("--posed", type=Path, help="a folder of one-face photos (in subfolders)")
    parser.add_argument("--counted", type=Path, help="the scrfd 0.3.0 source archive's images/ (counts: COUNTED_PHOTOS)")
    parser.add_argument("--data", type=Path, default=os.environ.get("FER2013_PATH"), help="fer2013.csv(.gz) for the pasted faces")
    parser.add_argument("--pasted", type=int, default=400, help="FER2013 PublicTest faces to paste (0: none)")
    parser.add_argument("--min-score", type=float, default=None, help="YuNet score threshold (default: the photo default's)")
    parser.add_argument(
        "--scenes", type=Path, nargs="*", default=[], metavar="DIR",
        help="folders of pictures without people (and animal photos; see scene_material)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many images of each material (a quick look)")
    parser.add_argument("--explore", action="store_true", help="also list every box scored 0.3-0.9 (with --json)")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args(argv)
    if args.pasted < 0:
        parser.error(f"--pasted must be >= 0, got {args.pasted}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    from core.detection import YUNET_MIN_SCORE  # noqa: PLC0415

    min_score = YUNET_MIN_SCORE if args.min_score is None else args.min_score
    items = material(
        samples=args.samples, posed=args.posed, data=args.data, pasted=args.pasted, scenes=args.scenes, counted=args.counted
    )
    result = measure(_at_most(items, args.limit), min_score=min_score, explore=args.explore)
    print(format_rows(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
