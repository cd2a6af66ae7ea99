"""Fine-tune a shipped model on your own labelled photos, split by person, into a new model folder.

    python -m training.adapt --photos DIR_OR_ZIP --out models/NAME [--base MODEL] [--epochs 15]
        [--lr 1e-4] [--holdout-people 0.25] [--person-from REGEX] [--seed 0] [--json]

The photos are read as :mod:`training.photos` reads them (emotion folders, emotion words in file
names, or ``labels.csv`` with an optional ``person`` column) and each photo's largest face is found
and framed exactly as the photo default serves it (:func:`training.photos.evaluate_photos` with the
base model): the model learns from the very crops it will be shown. Photos with no face are listed
and not used; labels outside the 7 emotions are left out with the reason.

Photos are split by person, never by photo (``GroupShuffleSplit``): the held-out people are never
seen in training, so their accuracy says how the model does on new people. The person comes from
``labels.csv``'s ``person`` column or from the file name (``--person-from '^(\\d{4})'``: the first
group of the regex, else its whole match). Without person ids the split is by photo and the
held-out figures are optimistic (the same person's other photos were learnt). The held-out people
also choose the epoch kept, which makes the "after" figure somewhat optimistic in any case.

Training: AdamW at a low learning rate, cross-entropy with label smoothing 0.1, each crop mirrored
at random; batch-normalisation statistics stay those of the base model (a few hundred photos would
only make them noisy). Held-out accuracy is measured with flip TTA (a crop and its mirror averaged)
after every epoch, and the best epoch's weights are kept.

The new model folder (``core.model_store`` format, with its LiteRT ``.tflite``) is written beside
``--out`` under a hidden name and renamed into place once complete, so a failed or interrupted run
leaves nothing at ``--out``. Its ``metadata.json`` keeps what describes the base model (labels,
input size, test-time augmentation, uncertainty rule, terms of use) and adds ``adapted``: the base,
the photos, people and classes trained on, and the held-out accuracy, recall and confusion matrices
before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from core.errors import FERError
from core.labels import EMOTIONS, FER2013_TERMS, NUM_CLASSES
from training.photos import LabelledPhoto, PhotoSet, load_photo_set

MIN_PEOPLE = 4
MIN_PHOTOS = 20
DEFAULT_EPOCHS = 15
DEFAULT_LR = 1e-4
DEFAULT_HOLDOUT = 0.25
DEFAULT_BATCH_SIZE = 32
LABEL_SMOOTHING = 0.1
WEIGHT_DECAY = 1e-4

# Metadata of the base that describes the model itself (not how it was trained), carried over.
# ``tta``, ``uncertainty`` and ``calibration`` were measured on the base model: see ``adapted.inherited``.
CARRIED_KEYS: tuple[str, ...] = (
    "architecture", "labels", "input_size", "channels", "parameters", "tta", "uncertainty", "calibration",
)  # fmt: skip
MEASURED_ON_BASE: tuple[str, ...] = ("tta", "uncertainty", "calibration")


class AdaptError(FERError, ValueError):
    """The photos cannot make an adapted model (too few, no person matched, ``--out`` exists...)."""


@dataclass(frozen=True)
class Split:
    """Indices into the usable photos: training and held out, how the split was made, and by whom."""

    train: np.ndarray
    held_out: np.ndarray
    by: str  # "person" or "photo"
    people: tuple[str, ...]  # one per photo ("" when split by photo)


# -- person ids -----------------------------------------------------------------------------------


def person_from_name(name: str, pattern: re.Pattern[str]) -> str | None:
    """The person a file name gives by ``pattern`` (searched in the base name): its first group when
    it has one, else the whole match; ``None`` when it does not match (or the group is empty)."""
    match = pattern.search(PurePosixPath(name).name)
    if match is None:
        return None
    found = match.group(1) if pattern.groups else match.group(0)
    return found or None


def compile_person_pattern(text: str) -> re.Pattern[str]:
    """``--person-from`` as a regex.

    Raises:
        AdaptError: not a valid regular expression.
    """
    try:
        return re.compile(text)
    except re.error as exc:
        raise AdaptError(f"--person-from '{text}' is not a valid regular expression: {exc}") from None


def with_persons(photo_set: PhotoSet, person_from: str | None) -> tuple[PhotoSet, list[dict[str, str]]]:
    """The photo set with each photo's person from ``person_from`` (else from ``labels.csv``), and the
    photos left out for having none while others have one (``{"file", "reason"}``).

    Raises:
        AdaptError: ``person_from`` matches no file name.
    """
    photos = list(photo_set.photos)
    if person_from is not None:
        pattern = compile_person_pattern(person_from)
        named = [(p, person_from_name(p.name, pattern)) for p in photos]
        if photos and not any(person for _, person in named):
            examples = ", ".join(PurePosixPath(p.name).name for p in photos[:3])
            raise AdaptError(
                f"--person-from '{person_from}' matches none of the {len(photos)} file names (for example {examples}); "
                "it is searched in each file's name, its first group (or whole match) naming the person"
            )
        photos = [LabelledPhoto(p.name, p.label, p.group, p.source, person) for p, person in named]
        reason = f"its file name does not match --person-from '{person_from}'"
    else:
        reason = "no person in labels.csv while other photos have one"
    if not any(p.person for p in photos):
        return PhotoSet(tuple(photos), photo_set.left_out, photo_set.unknown_folders, photo_set.has_groups), []
    left = [{"file": p.name, "reason": reason} for p in photos if not p.person]
    kept = tuple(p for p in photos if p.person)
    return PhotoSet(kept, photo_set.left_out, photo_set.unknown_folders, photo_set.has_groups, True), left


# -- the split ------------------------------------------------------------------------------------


def split_photos(people: Sequence[str | None], *, holdout: float = DEFAULT_HOLDOUT, seed: int = 0) -> Split:
    """Split photos into training and held-out sides by person (every photo of a person on one side).

    Args:
        people: each usable photo's person; all ``None``: split by photo.
        holdout: the fraction of people (or photos) held out.

    Raises:
        AdaptError: fewer than :data:`MIN_PHOTOS` photos, or fewer than :data:`MIN_PEOPLE` people.
    """
    from sklearn.model_selection import GroupShuffleSplit  # noqa: PLC0415

    if not 0 < holdout < 1:
        raise AdaptError(f"--holdout-people must be a fraction between 0 and 1, not {holdout}")
    n = len(people)
    if n < MIN_PHOTOS:
        raise AdaptError(f"only {n} photos with a face; at least {MIN_PHOTOS} are needed to adapt and to measure it")
    by_person = any(p is not None for p in people)
    if by_person:
        if any(p is None for p in people):
            raise AdaptError("some photos have a person and some do not")
        distinct = sorted(set(people))  # type: ignore[type-var]
        if len(distinct) < MIN_PEOPLE:
            raise AdaptError(
                f"only {len(distinct)} {'person' if len(distinct) == 1 else 'people'} in {n} photos "
                f"({', '.join(distinct)}); at least {MIN_PEOPLE} people are needed "
                "so that some can be held out to measure the adapted model on people it never saw"
            )
        groups = np.array([distinct.index(p) for p in people])
    else:
        groups = np.arange(n)
    splitter = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
    train, held_out = next(splitter.split(np.zeros(n), groups=groups))
    if not len(train) or not len(held_out):
        raise AdaptError(f"--holdout-people {holdout} leaves one side of the split empty")
    return Split(
        np.sort(train), np.sort(held_out), "person" if by_person else "photo",
        tuple(str(p) for p in people) if by_person else ("",) * n,
    )  # fmt: skip


# -- scores ---------------------------------------------------------------------------------------


def flip_tta_probabilities(model: Any, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The model's probabilities for ``(N, 48, 48, 1)`` crops, each averaged with its mirror's."""
    if not len(x):
        return np.zeros((0, NUM_CLASSES), np.float32)
    both = np.concatenate([x, x[:, :, ::-1]])
    probs = np.asarray(model.predict(both, batch_size=batch_size, verbose=0), dtype=np.float64)
    return (probs[: len(x)] + probs[len(x) :]) / 2


def scores(y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, recall per class (``None`` for a class with no photo) and the 7x7 confusion matrix
    (rows: true emotion, columns: predicted) of predictions against labels."""
    predicted = np.argmax(probs, axis=1) if len(probs) else np.zeros(0, int)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), int)
    np.add.at(confusion, (y_true, predicted), 1)
    support = confusion.sum(axis=1)
    recall = {e: (float(confusion[i, i] / support[i]) if support[i] else None) for i, e in enumerate(EMOTIONS)}
    return {
        "accuracy": float(np.mean(predicted == y_true)) if len(y_true) else None,
        "recall": recall,
        "confusion": confusion.tolist(),
    }


# -- fine-tuning ----------------------------------------------------------------------------------


def _all_layers(layer: Any) -> list[Any]:
    out = [layer]
    for inner in getattr(layer, "layers", []) or []:
        out.extend(_all_layers(inner))
    return out


def freeze_batchnorm(model: Any) -> int:
    """Make every batch-normalisation layer (nested models too) non-trainable: Keras 3 then runs them
    in inference mode, keeping the base model's statistics. Returns how many were frozen."""
    import keras  # noqa: PLC0415

    frozen = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            frozen += 1
    return frozen


def freeze_early_layers(model: Any, fraction: float) -> int:
    """Leave the first ``fraction`` of the layers that have weights (input side first) as they are;
    in a model made of member networks (an ensemble), the first ``fraction`` of each member's.
    Returns how many layers were frozen."""
    if fraction <= 0:
        return 0
    members = [layer for layer in model.layers if getattr(layer, "layers", None)]
    if members:
        return sum(freeze_early_layers(member, fraction) for member in members)
    weighted = [layer for layer in model.layers if layer.weights]
    count = int(round(len(weighted) * fraction))
    for layer in weighted[:count]:
        layer.trainable = False
    return count


def prior_weights(y_photos: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """A weight per class that makes the photos' classes weigh as ``prior`` says (shares summing to 1,
    e.g. FER2013 Training's), their total weight unchanged: ``prior[c] * N / count[c]``.

    Photos usually hold their classes in other shares than the faces a model meets: a posed set
    with as many disgusted faces as neutral ones teaches a model to see disgust where FER2013 (and
    life) has a neutral face. A class without photos gets weight 0 (there is nothing to weigh).
    """
    counts = np.bincount(np.asarray(y_photos, dtype=int), minlength=NUM_CLASSES).astype(np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    present = counts > 0
    share = prior * present / max(float((prior * present).sum()), 1e-12)
    return np.divide(share * counts.sum(), counts, out=np.zeros(NUM_CLASSES), where=present)


def fine_tune(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_held: np.ndarray,
    y_held: np.ndarray,
    *,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    replay: tuple[np.ndarray, np.ndarray] | None = None,
    replay_per_epoch: int = 0,
    freeze: float = 0.0,
    distill: float = 0.0,
    should_stop: Callable[[], bool] | None = None,
    class_weights: np.ndarray | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Train ``model`` in place on the crops, keeping the weights of the epoch best on the held-out ones.

    ``replay`` (FER2013 Training faces ``(N, 48, 48, 1)`` and their labels): ``replay_per_epoch`` of
    them, drawn anew each epoch, are trained on beside the crops, so the model keeps what it knew.
    ``freeze``: the fraction of the layers with weights, from the input on, left as they are.
    ``distill``: the weight of the base model's own probabilities in each target (the rest is the
    label): the model is pulled towards what it answered before, on the photos and the replayed faces.
    ``should_stop``: asked after each epoch; ``True`` ends training there (the best epoch so far is kept).
    ``class_weights``: a weight per class for the photos' loss (:func:`prior_weights`); replayed faces weigh 1.

    Returns:
        The best epoch (1-based) and the history: ``{"epoch", "loss", "train_accuracy",
        "held_out_accuracy", "seconds"}`` per epoch.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    if not 0 <= freeze < 1:
        raise AdaptError(f"--freeze must be a fraction from 0 up to (not including) 1, not {freeze}")
    if not 0 <= distill < 1:
        raise AdaptError(f"--distill must be a weight from 0 up to (not including) 1, not {distill}")
    teacher = None
    if distill > 0:
        teacher = keras.models.clone_model(model)
        teacher.set_weights(model.get_weights())
    freeze_batchnorm(model)
    freeze_early_layers(model, freeze)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=WEIGHT_DECAY),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
        metrics=["accuracy"],
    )
    targets = np.eye(NUM_CLASSES, dtype=np.float32)[y_train]
    best_epoch, best_accuracy, best_weights, history = 0, -1.0, None, []
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        flip = rng.random(len(x_train)) < 0.5
        x = np.where(flip[:, None, None, None], x_train[:, :, ::-1], x_train)
        y = targets
        weights = class_weights[y_train].astype(np.float32) if class_weights is not None else np.ones(len(y_train), np.float32)
        if replay is not None and replay_per_epoch > 0:
            chosen = rng.choice(len(replay[1]), size=min(replay_per_epoch, len(replay[1])), replace=False)
            old_x = np.asarray(replay[0][chosen], dtype=np.float32)
            old_flip = rng.random(len(chosen)) < 0.5
            x = np.concatenate([x, np.where(old_flip[:, None, None, None], old_x[:, :, ::-1], old_x)])
            y = np.concatenate([targets, np.eye(NUM_CLASSES, dtype=np.float32)[replay[1][chosen]]])
            weights = np.concatenate([weights, np.ones(len(chosen), np.float32)])
        if teacher is not None:
            y = (1 - distill) * y + distill * np.asarray(teacher.predict(x, batch_size=256, verbose=0), np.float32)
        logs = model.fit(x, y, sample_weight=weights, batch_size=batch_size, epochs=1, shuffle=True, verbose=0).history
        held = scores(y_held, flip_tta_probabilities(model, x_held))["accuracy"] if len(x_held) else None
        row = {
            "epoch": epoch, "loss": float(logs["loss"][-1]), "train_accuracy": float(logs["accuracy"][-1]),
            "held_out_accuracy": held, "seconds": round(time.monotonic() - started, 2),
        }  # fmt: skip
        if held is None:  # no one held out: the last epoch is kept
            best_epoch = epoch
        elif held > best_accuracy:
            best_epoch, best_accuracy, best_weights = epoch, held, model.get_weights()
        row["best"] = best_epoch == epoch
        history.append(row)
        if on_epoch is not None:
            on_epoch({**row, "epochs": epochs})
        if should_stop is not None and should_stop():
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    return best_epoch, history


def without_training_state(model: Any) -> Any:
    """An uncompiled copy of ``model`` with its weights: what is saved and served, without the optimizer's
    state (AdamW keeps two values a weight: saved with the model, they would triple its file)."""
    from core.layers import register_layers  # noqa: PLC0415

    register_layers()  # the model's own layers (an ensemble's temperature, an equalising first layer)
    copy = type(model).from_config(model.get_config())  # the architecture only: get_config has no compile state
    copy.set_weights(model.get_weights())
    return copy


# -- the whole run --------------------------------------------------------------------------------


def _terms(base: dict[str, Any]) -> str | None:
    if base.get("terms_of_use"):
        return str(base["terms_of_use"])
    learnt = json.dumps([base.get("data"), base.get("members")]).lower()
    return FER2013_TERMS if "fer2013" in learnt else None


@dataclass(frozen=True)
class Faces:
    """The labelled photos' faces, framed as the base model's photo default serves them."""

    base_dir: Path
    base_name: str
    x: np.ndarray  # (N, 48, 48, 1) float32 crops of the photos with a face
    y: np.ndarray  # (N,) label indices
    people: list[str | None]  # each crop's person (all None: no person ids)
    names: list[str]
    photos: int  # photos read (with or without a face)
    no_face: list[str]
    unreadable: list[dict[str, str]]
    left_out: list[dict[str, str]]
    unknown_folders: list[str]


def find_faces(
    photos: str | Path,
    *,
    base: str | Path | None = None,
    person_from: str | None = None,
    on_progress: Callable[[str], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Faces:
    """Read the labelled photos and frame each one's largest face with the base model's photo default.

    Raises:
        AdaptError: no labelled photo, or ``person_from`` matches no file name.
        FERError, OSError: the base model or the photos cannot be read.
    """
    from core.model_store import resolve_model_dir  # noqa: PLC0415
    from core.factory import PhotoOptions, build_recognizer  # noqa: PLC0415
    from training.photos import evaluate_photos  # noqa: PLC0415

    say = on_progress or (lambda line: None)
    base_dir = resolve_model_dir(base)
    photo_set = load_photo_set(photos)
    if not photo_set.photos:
        raise AdaptError(f"no labelled photo in {photos} (name folders by emotion or add a labels.csv)")
    photo_set, no_person = with_persons(photo_set, person_from)

    recognizer = build_recognizer(PhotoOptions(model=base_dir))  # the photo default, and the model's own TTA
    say(f"finding the faces in {len(photo_set.photos)} photos with {recognizer.name}'s photo default")
    last = [time.monotonic()]

    def finding(done: int, total: int, name: str) -> None:
        if on_event is not None:
            on_event({"kind": "faces", "done": done, "total": total})
        if time.monotonic() - last[0] >= 5 or done == total:
            last[0] = time.monotonic()
            say(f"faces: {done} of {total} photos")

    results = next(iter(evaluate_photos(photo_set, {recognizer.name: recognizer}, thumbnails=True,
                                        on_progress=finding).values()))  # fmt: skip
    persons = {p.name: p.person for p in photo_set.photos}
    usable = [r for r in results if r.error is None and r.crop is not None]
    x = np.stack([r.crop for r in usable]).astype(np.float32)[..., None] if usable else np.zeros((0, 48, 48, 1), np.float32)
    return Faces(
        base_dir=base_dir,
        base_name=recognizer.name,
        x=x,
        y=np.array([EMOTIONS.index(r.label) for r in usable], dtype=int),
        people=[persons[r.name] for r in usable],
        names=[r.name for r in usable],
        photos=len(results),
        no_face=[r.name for r in results if r.error is None and r.crop is None],
        unreadable=[{"file": r.name, "error": r.error} for r in results if r.error is not None],
        left_out=[{"file": i.name, "reason": i.reason} for i in photo_set.left_out] + no_person,
        unknown_folders=list(photo_set.unknown_folders),
    )


@dataclass(frozen=True)
class Fer2013Parts:
    """What a run takes from FER2013, read once: Training faces to replay, its class shares, PublicTest."""

    replay: tuple[np.ndarray, np.ndarray] | None  # Training faces (N, 48, 48, 1) and labels, when replaying
    prior: np.ndarray | None  # Training's class shares, when weighing the photos by them
    public: tuple[np.ndarray, np.ndarray] | None  # PublicTest faces (float32) and labels


def fer2013_parts(
    data: str | Path | None, *, replay: int, match_prior: bool, say: Callable[[str], None]
) -> Fer2013Parts:  # fmt: skip
    """FER2013 read once (through the parse cache) for the replay, ``match_prior`` and PublicTest.

    Raises:
        AdaptError: ``replay`` or ``match_prior`` without FER2013.
    """
    if not data:
        for wanted, option in ((replay > 0, "--replay"), (match_prior, "--match-prior")):
            if wanted:
                raise AdaptError(f"{option} needs FER2013: --data or FER2013_PATH")
        return Fer2013Parts(None, None, None)
    from core.paths import dataset_cache_dir  # noqa: PLC0415
    from training.data import load_fer2013  # noqa: PLC0415

    fer = load_fer2013(data, cache_dir=dataset_cache_dir())
    training = fer["Training"]
    if replay > 0:
        say(f"replaying {replay:,} of FER2013's {len(training):,} Training faces each epoch")
    counts = training.class_counts().astype(np.float64)
    public = fer.splits.get("PublicTest")
    return Fer2013Parts(
        (training.x[..., None], training.y) if replay > 0 else None,
        counts / counts.sum() if match_prior else None,
        (public.x[..., None].astype(np.float32), public.y) if public is not None else None,
    )


def public_test_accuracy(model: Any, public: tuple[np.ndarray, np.ndarray]) -> float:
    """FER2013 PublicTest accuracy as the shipped models are served (flip TTA, a crop and its mirror)."""
    return float(scores(public[1], flip_tta_probabilities(model, public[0]))["accuracy"])


def _base_public_test(base_meta: dict[str, Any], model: Any, public: tuple[np.ndarray, np.ndarray]) -> float:
    """The base's PublicTest accuracy with flip TTA: from its metadata when it measured it, else measured."""
    measured = (base_meta.get("tta") or {}).get("accuracy", {})
    if (base_meta.get("tta") or {}).get("split") == "PublicTest" and "flip" in measured:
        return float(measured["flip"])
    return public_test_accuracy(model, public)


def _check_options(epochs: int, learning_rate: float, holdout: float = DEFAULT_HOLDOUT) -> None:
    if epochs < 1:
        raise AdaptError(f"--epochs must be at least 1, not {epochs}")
    if not learning_rate > 0:
        raise AdaptError(f"--lr must be positive, not {learning_rate}")
    if not 0 <= holdout < 1:
        raise AdaptError(f"--holdout-people must be a fraction from 0 up to 1, not {holdout}")


def learn_from_all(people: Sequence[str | None]) -> Split:
    """Every photo on the training side (``--holdout-people 0``): the recipe was chosen by :func:`cross_validate`.

    Raises:
        AdaptError: fewer than :data:`MIN_PHOTOS` photos.
    """
    if len(people) < MIN_PHOTOS:
        raise AdaptError(f"only {len(people)} photos with a face; at least {MIN_PHOTOS} are needed to adapt")
    by_person = any(p is not None for p in people)
    return Split(
        np.arange(len(people)), np.zeros(0, int), "person" if by_person else "photo",
        tuple(str(p) for p in people) if by_person else ("",) * len(people),
    )  # fmt: skip


def adapt(
    photos: str | Path,
    out: str | Path,
    *,
    base: str | Path | None = None,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LR,
    holdout: float = DEFAULT_HOLDOUT,
    person_from: str | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[str], None] | None = None,
    replay: int = 0,
    data: str | Path | None = None,
    freeze: float = 0.0,
    distill: float = 0.0,
    should_stop: Callable[[], bool] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    source: str | None = None,
    match_prior: bool = False,
) -> dict[str, Any]:
    """Fine-tune ``base`` on the labelled photos and write the adapted model folder at ``out``.

    Args:
        photos: a folder or ZIP of labelled photos (see :mod:`training.photos`).
        out: the new model folder; must not exist.
        base: the model to start from, a name under ``models/`` or a folder (``None``: the default role's).
        holdout: the fraction of people held out to measure the adapted model.
        person_from: a regex giving each photo's person from its file name (else ``labels.csv``'s ``person``).
        on_progress: called with a line of progress at each step and epoch.
        replay: FER2013 Training faces drawn anew each epoch and trained on beside the photos, so the
            model keeps what it learnt from FER2013 (0: none).
        data: FER2013 (a path :func:`training.data.load_fer2013` reads): for ``replay``, and to measure
            PublicTest before and after (``None``: not measured).
        freeze, distill: see :func:`fine_tune`.
        should_stop: asked after each epoch; ``True`` stops there and keeps the best epoch so far.
        on_event: called with ``{"kind": "faces", "done", "total"}`` as faces are found, ``{"kind":
            "epoch", ...}`` (a :func:`fine_tune` history row and ``epochs``) after each epoch, and
            ``{"kind": "phase", "phase"}`` at each other step, for a progress bar.
        source: how ``metadata.json`` names the photos (e.g. an uploaded file's name); default: their path.
        match_prior: weigh the photos so that their classes count as in FER2013's Training set
            (:func:`prior_weights`; needs ``data``).

    Returns:
        The report (see :func:`format_report`); ``report["metadata"]`` is the ``adapted`` entry written.

    Raises:
        AdaptError: unusable options or photos (the message says why).
        FERError, OSError: the base model or the photos cannot be read, or ``out`` cannot be written.
    """
    from core.model_store import load_model_dir, publish_model_dir, read_model_info, save_model_dir  # noqa: PLC0415
    from training.provenance import hardware, now, portable_path  # noqa: PLC0415

    lines = on_progress or (lambda line: None)
    event = on_event or (lambda e: None)

    def say(line: str) -> None:
        lines(line)
        event({"kind": "phase", "phase": line})

    started = time.monotonic()
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise AdaptError(f"{out} already exists; name a new model folder (nothing was written)")
    _check_options(epochs, learning_rate, holdout)
    fer = fer2013_parts(data, replay=replay, match_prior=match_prior, say=say)
    faces = find_faces(photos, base=base, person_from=person_from, on_progress=lines, on_event=on_event)
    split = split_photos(faces.people, holdout=holdout, seed=seed) if holdout > 0 else learn_from_all(faces.people)
    x_train, y_train = faces.x[split.train], faces.y[split.train]
    x_held, y_held = faces.x[split.held_out], faces.y[split.held_out]
    train_classes = Counter(EMOTIONS[i] for i in y_train)
    held_classes = Counter(EMOTIONS[i] for i in y_held)
    missing = [e for e in EMOTIONS if not train_classes[e]]
    train_people = sorted({split.people[i] for i in split.train}) if split.by == "person" else []
    held_people = sorted({split.people[i] for i in split.held_out}) if split.by == "person" else []

    model, base_meta = load_model_dir(faces.base_dir)
    before = scores(y_held, flip_tta_probabilities(model, x_held))
    say(
        f"training on {len(y_train)} photos" + (f" of {len(train_people)} people" if train_people else "")
        + (f", holding out {len(y_held)}" + (f" of {len(held_people)} people" if held_people else " (split by photo)")
           + f"; held-out accuracy before: {before['accuracy']:.1%}" if len(y_held) else ", holding out no one")
    )  # fmt: skip
    public = fer.public
    public_before = _base_public_test(base_meta, model, public) if public is not None else None

    def epoch_line(row: dict[str, Any]) -> None:
        event({"kind": "epoch", **row})
        lines(
            f"epoch {row['epoch']} of {row['epochs']}: loss {row['loss']:.3f}, training accuracy "
            f"{row['train_accuracy']:.1%}"
            + (f", held out {row['held_out_accuracy']:.1%}" + (" (best so far)" if row["best"] else "")
               if row["held_out_accuracy"] is not None else "")
            + f", {row['seconds']:.0f} s"
        )  # fmt: skip

    best_epoch, history = fine_tune(
        model, x_train, y_train, x_held, y_held, epochs=epochs, learning_rate=learning_rate,
        batch_size=batch_size, seed=seed, on_epoch=epoch_line, replay=fer.replay,
        replay_per_epoch=replay, freeze=freeze, distill=distill, should_stop=should_stop,
        class_weights=prior_weights(y_train, fer.prior) if fer.prior is not None else None,
    )  # fmt: skip
    after = scores(y_held, flip_tta_probabilities(model, x_held))
    public_after = None
    if public is not None:
        say("measuring FER2013 PublicTest with the adapted model")
        public_after = public_test_accuracy(model, public)
    seconds = round(time.monotonic() - started, 1)

    notes = ["the held-out photos chose the epoch kept, so the 'after' accuracy is somewhat optimistic"]
    if not len(y_held):
        notes = ["no one was held out (--holdout-people 0): every photo was learnt from and the last epoch kept; "
                 "measure the recipe with --cv first"]  # fmt: skip
    elif split.by == "photo":
        notes.insert(0, "no person ids: split by photo, so the held-out figures are optimistic (the same people "
                        "were learnt from their other photos); add a person column or use --person-from")  # fmt: skip
    if missing:
        notes.append(f"no training photo of {', '.join(missing)}: trained on the other classes only")
    if len(history) < epochs:
        notes.append(f"stopped after epoch {len(history)} of {epochs}, as asked")
    inherited = [k for k in MEASURED_ON_BASE if k in base_meta]
    if inherited:
        notes.append(f"{', '.join(inherited)} in the metadata were measured on the base model, not on this one")
    adapted = {
        "base": faces.base_name,
        "base_model_sha256": base_meta.get("model_sha256"),
        "photos": int(len(y_train)),
        "people": len(train_people) if split.by == "person" else None,
        "classes": {e: int(train_classes[e]) for e in EMOTIONS},
        "missing_classes": missing,
        "held_out": {
            "photos": int(len(y_held)),
            "people": len(held_people) if split.by == "person" else None,
            "classes": {e: int(held_classes[e]) for e in EMOTIONS},
            "accuracy_before": before["accuracy"],
            "accuracy_after": after["accuracy"],
            "per_class_recall_before": before["recall"],
            "per_class_recall_after": after["recall"],
            "confusion_before": before["confusion"],
            "confusion_after": after["confusion"],
            "tta": "flip",
            "chose_epoch": True,
        },
        "public_test": (
            {"accuracy_before": public_before, "accuracy_after": public_after, "n": int(len(public[1])), "tta": "flip"}
            if public is not None else None
        ),  # fmt: skip
        "split": split.by,
        "holdout": holdout,
        "seed": seed,
        "epochs": epochs,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "learning_rate": learning_rate,
        "replay": replay,
        "freeze": freeze,
        "distill": distill,
        "class_weights": (
            {e: round(float(w), 4) for e, w in zip(EMOTIONS, prior_weights(y_train, fer.prior))}
            if fer.prior is not None else None
        ),  # fmt: skip
        "weight_decay": WEIGHT_DECAY,
        "label_smoothing": LABEL_SMOOTHING,
        "batch_size": batch_size,
        "batchnorm": "frozen at the base model's statistics",
        "source": source or portable_path(photos),
        "detector": "photo default (core.factory.build_recognizer)",
        "inherited": inherited,
        "history": history,
        "seconds": seconds,
    }
    metadata: dict[str, Any] = {k: base_meta[k] for k in CARRIED_KEYS if k in base_meta}
    metadata.update({
        "name": out.name, "status": "completed", "adapted": adapted, "hardware": hardware(), "created": now(),
    })  # fmt: skip
    terms = _terms(base_meta)
    if terms:
        metadata["terms_of_use"] = terms

    say(f"saving the adapted model (epoch {best_epoch}) to {out}")
    staging = out.parent / f".{out.name}.adapt-{uuid.uuid4().hex[:8]}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_model_dir(without_training_state(model), metadata, staging)
        publish_model_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

    written = read_model_info(out).metadata
    if written.get("tflite_error"):
        notes.append(f"no LiteRT file: {written['tflite_error']} (the Keras model serves instead)")
    return {
        "base": faces.base_name,
        "out": str(out),
        "photos": faces.photos,
        "with_face": len(faces.y),
        "no_face": faces.no_face,
        "unreadable": faces.unreadable,
        "left_out": faces.left_out,
        "unknown_folders": faces.unknown_folders,
        "split": split.by,
        "train": {"photos": int(len(y_train)), "people": train_people, "classes": adapted["classes"]},
        "held_out": {"people_ids": held_people, **adapted["held_out"]},
        "public_test": adapted["public_test"],
        "missing_classes": missing,
        "epochs": epochs,
        "best_epoch": best_epoch,
        "learning_rate": learning_rate,
        "replay": replay,
        "history": history,
        "seconds": seconds,
        "notes": notes,
        "metadata": adapted,
    }


# -- cross-validation -----------------------------------------------------------------------------


def cross_validate(
    photos: str | Path,
    *,
    folds: int = 2,
    base: str | Path | None = None,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LR,
    person_from: str | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    replay: int = 0,
    data: str | Path | None = None,
    freeze: float = 0.0,
    distill: float = 0.0,
    train_people: int | None = None,
    on_progress: Callable[[str], None] | None = None,
    match_prior: bool = False,
) -> dict[str, Any]:
    """What adapting would gain on these photos, by person-wise k-fold cross-validation; writes no model.

    Each fold adapts a fresh copy of the base on the other folds' people (or ``train_people`` of them,
    drawn at random, to see how many people are needed) and scores the fold's people before and after
    (flip TTA); with ``data``, PublicTest before and after too. The epoch kept is the one best on the
    fold's people, as :func:`adapt` keeps it.

    Raises:
        AdaptError: no person ids, fewer than ``folds`` people, or unusable options.
    """
    from sklearn.model_selection import GroupKFold  # noqa: PLC0415

    from core.model_store import load_model_dir  # noqa: PLC0415

    say = on_progress or (lambda line: None)
    started = time.monotonic()
    _check_options(epochs, learning_rate)
    if folds < 2:
        raise AdaptError(f"--cv needs at least 2 folds, not {folds}")
    fer = fer2013_parts(data, replay=replay, match_prior=match_prior, say=say)
    faces = find_faces(photos, base=base, person_from=person_from, on_progress=say)
    if not faces.people or any(p is None for p in faces.people):
        raise AdaptError("cross-validation splits by person: give person ids (labels.csv's person column or --person-from)")
    distinct = sorted(set(faces.people))  # type: ignore[type-var]
    if len(distinct) < max(folds, MIN_PEOPLE):
        raise AdaptError(f"only {len(distinct)} people; {max(folds, MIN_PEOPLE)} are needed for {folds} folds")
    groups = np.array([distinct.index(p) for p in faces.people])
    order = np.random.default_rng(seed).permutation(len(distinct))  # GroupKFold is deterministic: shuffle people
    replayed, public, prior = fer.replay, fer.public, fer.prior
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    public_before = None
    for fold, (train, held) in enumerate(GroupKFold(n_splits=folds).split(faces.x, faces.y, order[groups]), 1):
        people_train = sorted({int(g) for g in groups[train]})
        if train_people is not None:
            if train_people > len(people_train):
                raise AdaptError(f"--train-people {train_people}: a fold has only {len(people_train)} people to learn from")
            chosen = set(rng.choice(people_train, size=train_people, replace=False).tolist())
            train = np.array([i for i in train if groups[i] in chosen])
        model, base_meta = load_model_dir(faces.base_dir)
        before = scores(faces.y[held], flip_tta_probabilities(model, faces.x[held]))
        if public is not None and public_before is None:
            public_before = _base_public_test(base_meta, model, public)
        say(f"fold {fold} of {folds}: adapting on {len(train)} photos of {len({int(g) for g in groups[train]})} people, "
            f"scoring {len(held)} photos of {len({int(g) for g in groups[held]})}; before {before['accuracy']:.1%}")  # fmt: skip
        fold_started = time.monotonic()
        best_epoch, history = fine_tune(
            model, faces.x[train], faces.y[train], faces.x[held], faces.y[held], epochs=epochs,
            learning_rate=learning_rate, batch_size=batch_size, seed=seed + fold, replay=replayed,
            replay_per_epoch=replay, freeze=freeze, distill=distill,
            class_weights=prior_weights(faces.y[train], prior) if prior is not None else None,
        )  # fmt: skip
        after = scores(faces.y[held], flip_tta_probabilities(model, faces.x[held]))
        row = {
            "fold": fold,
            "train_photos": int(len(train)),
            "train_people": len({int(g) for g in groups[train]}),
            "held_photos": int(len(held)),
            "held_people": len({int(g) for g in groups[held]}),
            "accuracy_before": before["accuracy"],
            "accuracy_after": after["accuracy"],
            "accuracy_last_epoch": history[-1]["held_out_accuracy"],
            "best_epoch": best_epoch,
            "public_test_after": public_test_accuracy(model, public) if public is not None else None,
            "seconds": round(time.monotonic() - fold_started, 1),
        }
        rows.append(row)
        say(f"fold {fold}: {row['accuracy_before']:.1%} -> {row['accuracy_after']:.1%} (epoch {best_epoch})"
            + (f", PublicTest {row['public_test_after']:.2%}" if public is not None else "") + f", {row['seconds']:.0f} s")  # fmt: skip

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(values)) if values else None

    return {
        "base": faces.base_name,
        "folds": rows,
        "people": len(distinct),
        "photos_with_face": int(len(faces.y)),
        "no_face": faces.no_face,
        "accuracy_before": mean("accuracy_before"),
        "accuracy_after": mean("accuracy_after"),
        "accuracy_last_epoch": mean("accuracy_last_epoch"),
        "public_test_before": public_before,
        "public_test_after": mean("public_test_after"),
        "options": {
            "epochs": epochs, "learning_rate": learning_rate, "replay": replay, "freeze": freeze, "distill": distill,
            "train_people": train_people, "seed": seed, "batch_size": batch_size, "match_prior": match_prior,
        },  # fmt: skip
        "seconds": round(time.monotonic() - started, 1),
    }


def format_cross_validation(report: dict[str, Any]) -> str:
    """The cross-validation as text: a line per fold and the means."""
    o = report["options"]
    lines = [
        f"{report['base']}, {len(report['folds'])}-fold person-wise cross-validation over {report['people']} people "
        f"({report['photos_with_face']} photos with a face): {o['epochs']} epochs, lr {o['learning_rate']:g}, "
        f"replay {o['replay']}, freeze {o['freeze']:g}, distill {o['distill']:g}"
        + (", classes weighed as in FER2013" if o.get("match_prior") else "")
        + (f", {o['train_people']} people learnt a fold" if o["train_people"] else ""),
        f"  {'fold':<6}{'learnt':>14}{'scored':>14}{'before':>9}{'after':>9}{'last':>9}{'PublicTest':>12}{'time':>8}",
    ]
    for r in report["folds"]:
        lines.append(
            f"  {r['fold']:<6}{r['train_photos']:>6} ({r['train_people']:>2} p.){r['held_photos']:>6} ({r['held_people']:>2} p.)"
            f"{_pct(r['accuracy_before']):>9}{_pct(r['accuracy_after']):>9}{_pct(r['accuracy_last_epoch']):>9}"
            f"{_pct(r['public_test_after'], 2):>12}{r['seconds']:>7.0f}s"
        )
    lines.append(
        f"  {'mean':<34}{_pct(report['accuracy_before']):>9}{_pct(report['accuracy_after']):>9}"
        f"{_pct(report['accuracy_last_epoch']):>9}{_pct(report['public_test_after'], 2):>12}"
    )
    if report["public_test_before"] is not None:
        lines.append(f"PublicTest before (flip TTA): {report['public_test_before']:.2%}")
    lines.append("'after' keeps the epoch best on the fold's own people (somewhat optimistic); 'last' is the last epoch's")
    return "\n".join(lines)


# -- the report -----------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def _confusion_lines(matrix: Sequence[Sequence[int]]) -> list[str]:
    head = " " * 10 + "".join(f"{e[:5]:>7}" for e in EMOTIONS)
    return [head, *(f"  {e:<8}" + "".join(f"{v:>7}" for v in row) for e, row in zip(EMOTIONS, matrix))]


def format_report(report: dict[str, Any]) -> str:
    """The report as text: held-out accuracy before and after, recall per class side by side, both confusions."""
    held = report["held_out"]
    people = f" of {held['people']} people" if held["people"] else ""
    train_people = f" of {len(report['train']['people'])} people" if report["train"]["people"] else ""
    lines = [
        f"adapted {report['base']} -> {report['out']}: trained on {report['train']['photos']} photos{train_people}, "
        f"{report['epochs']} epochs at lr {report['learning_rate']:g}, kept epoch {report['best_epoch']} "
        f"({report['seconds']:.0f} s)",
        f"held out: {held['photos']} photos{people} (split by {report['split']})" if held["photos"] else
        "held out: no one (every photo was learnt from)",
    ]
    if held["photos"]:
        lines.append(f"accuracy on the held-out photos (flip TTA): {_pct(held['accuracy_before'])} before -> "
                     f"{_pct(held['accuracy_after'])} after")  # fmt: skip
    public = report.get("public_test")
    if public:
        lines.append(f"FER2013 PublicTest (flip TTA, {public['n']} faces): {_pct(public['accuracy_before'], 2)} before -> "
                     f"{_pct(public['accuracy_after'], 2)} after")  # fmt: skip
    lines += ["", f"  {'recall':<10}{'before':>8}{'after':>8}{'held out':>10}{'trained':>9}"]
    for e in EMOTIONS:
        lines.append(
            f"  {e:<10}{_pct(held['per_class_recall_before'][e]):>8}{_pct(held['per_class_recall_after'][e]):>8}"
            f"{held['classes'][e]:>10}{report['train']['classes'][e]:>9}"
        )
    lines += ["", "confusion before (rows: true, columns: predicted)", *_confusion_lines(held["confusion_before"])]
    lines += ["", "confusion after", *_confusion_lines(held["confusion_after"]), ""]
    lines += [f"note: {n}" for n in report["notes"]]
    if report["no_face"]:
        lines.append(f"no face found, not used ({len(report['no_face'])}): {', '.join(report['no_face'][:20])}"
                     + (" ..." if len(report["no_face"]) > 20 else ""))  # fmt: skip
    for item in report["unreadable"]:
        lines.append(f"unreadable: {item['file']}: {item['error']}")
    if report["left_out"]:
        items = [f"{i['file']} ({i['reason']})" for i in report["left_out"]]
        lines.append(f"left out ({len(items)}): " + "; ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.adapt", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", required=True, help="folder or ZIP of labelled photos (as training.photos reads them)")
    parser.add_argument("--out", default=None, help="the new model folder, e.g. models/mine (must not exist; "
                        "required unless --cv)")  # fmt: skip
    parser.add_argument("--base", default=None, help="model to start from: a name under models/ or a folder "
                        "(default: the default model)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="AdamW learning rate")
    parser.add_argument("--holdout-people", type=float, default=DEFAULT_HOLDOUT,
                        help="fraction of the people held out to measure the adapted model (0: learn from everyone, "
                        "keep the last epoch; choose the recipe with --cv first)")  # fmt: skip
    parser.add_argument("--person-from", default=None, metavar="REGEX",
                        help="regex giving each photo's person from its file name (its first group, else the "
                        r"whole match), e.g. '^(\d{4})'; default: labels.csv's person column")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--replay", type=int, default=0, metavar="N",
                        help="FER2013 Training faces trained on beside the photos each epoch, so the model keeps "
                        "what it knew (0: none; needs --data or FER2013_PATH)")  # fmt: skip
    parser.add_argument("--freeze", type=float, default=0.0, metavar="FRACTION",
                        help="fraction of the layers with weights, input side first, left unchanged (default 0)")
    parser.add_argument("--distill", type=float, default=0.0, metavar="WEIGHT",
                        help="weight of the base model's own answers in each target, to keep what it knew (default 0)")
    parser.add_argument("--match-prior", action="store_true",
                        help="weigh the photos so that their classes count as in FER2013's Training set (needs --data)")
    parser.add_argument("--data", default=os.environ.get("FER2013_PATH") or None,
                        help="FER2013: for --replay, and to report PublicTest before and after (default: FER2013_PATH)")
    parser.add_argument("--cv", type=int, default=None, metavar="K",
                        help="instead of writing a model: K-fold person-wise cross-validation of what adapting gains")
    parser.add_argument("--train-people", type=int, default=None, metavar="N",
                        help="with --cv: adapt on N people of each fold's training side (how many people are needed)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.cv is None and args.out is None:
        parser.error("--out is required (or --cv K to cross-validate without writing a model)")
    if args.train_people is not None and args.cv is None:
        parser.error("--train-people goes with --cv")
    common = dict(
        base=args.base, epochs=args.epochs, learning_rate=args.lr, person_from=args.person_from, seed=args.seed,
        batch_size=args.batch_size, replay=args.replay, data=args.data, freeze=args.freeze, distill=args.distill,
        match_prior=args.match_prior,
        on_progress=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    try:
        if args.cv is not None:
            report = cross_validate(args.photos, folds=args.cv, train_people=args.train_people, **common)
            text = format_cross_validation(report)
        else:
            report = adapt(args.photos, args.out, holdout=args.holdout_people, **common)
            text = format_report(report)
    except (FERError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted" + (f": nothing was written at {args.out}" if args.out else ""), file=sys.stderr)
        return 130
    print(json.dumps(report, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
