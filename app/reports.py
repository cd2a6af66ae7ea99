"""Typed views of a model's ``evaluation.json`` and ``metadata.json``, for the app's pages.

The JSON files are dicts at the edge; the pages and chart builders work on the frozen dataclasses
here. Parsing checks the shapes the charts rely on and raises ``ValueError`` with what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.labels import EMOTIONS, FER2013_TERMS, NUM_CLASSES
from core.model_store import ModelInfo
from core.uncertainty import UncertaintyRule


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, and how many true examples it had."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class CalibrationBin:
    """One reliability-diagram bin: confidences in ``(lower, upper]``; ``None`` when empty."""

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


@dataclass(frozen=True)
class EvaluationReport:
    """A model's score on one FER2013 split (the body of ``evaluation.json``)."""

    model: str
    architecture: str | None
    split: str
    tta: str
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: Mapping[str, ClassMetrics]
    absent_classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    confusion_normalised: tuple[tuple[float, ...], ...]
    ece: float | None
    bins: tuple[CalibrationBin, ...]
    data_source: str | None
    data_sha256: str | None
    created: str | None
    ferplus_accuracy: float | None = None
    ferplus_n: int | None = None
    ferplus_agreement: float | None = None
    grouped_accuracy: float | None = None
    """Right when the most probable group is the label's, in the default groups (``grouped`` in the JSON)."""
    grouped_spec: str | None = None
    unsure: UnsureReport | None = None
    """The model's uncertainty rule on these faces (``uncertainty`` in the JSON)."""


@dataclass(frozen=True)
class UnsureReport:
    """How the model's uncertainty rule did on the faces of one evaluation."""

    min_margin: float
    min_confidence: float
    chosen_on: str
    marked_fraction: float
    accuracy_unmarked: float | None
    accuracy_marked: float | None

    def rule_text(self) -> str:
        """The rule in words, as the app applies it."""
        return f"{rule_words(self.min_margin, self.min_confidence)} (chosen on {self.chosen_on})"


def rule_words(min_margin: float, min_confidence: float) -> str:
    """An uncertainty rule in words: “A or B” when ..., “uncertain” when ..."""
    return (
        f"“A or B” when the top two are within {min_margin * 100:.0f} points, “uncertain” when the top one is "
        f"under {min_confidence:.0%}"
    )


def _unsure(data: Any) -> UnsureReport | None:
    if not isinstance(data, Mapping) or data.get("marked_fraction") is None:
        return None
    return UnsureReport(
        float(data["min_margin"]), float(data["min_confidence"]), str(data.get("split", "PublicTest")),
        float(data["marked_fraction"]), _maybe_float(data.get("accuracy_unmarked")),
        _maybe_float(data.get("accuracy_marked")),
    )  # fmt: skip


def _square(matrix: Any, name: str, cast: type) -> tuple[tuple[Any, ...], ...]:
    rows = list(matrix or [])
    if len(rows) != NUM_CLASSES or any(len(row) != NUM_CLASSES for row in rows):
        raise ValueError(f"{name} must be a {NUM_CLASSES}x{NUM_CLASSES} matrix")
    return tuple(tuple(cast(v) for v in row) for row in rows)


def parse_evaluation(data: Mapping[str, Any]) -> EvaluationReport:
    """Turn a loaded ``evaluation.json`` into an :class:`EvaluationReport`.

    Raises:
        ValueError: a field the dashboard needs is missing or malformed (the message names it).
    """
    if not isinstance(data, Mapping):
        raise ValueError("evaluation report must be a JSON object")
    labels = data.get("labels", list(EMOTIONS))
    if list(labels) != list(EMOTIONS):
        raise ValueError(f"evaluation labels {labels!r} are not the FER2013 classes {list(EMOTIONS)}")
    try:
        per_class = {
            name: ClassMetrics(
                float(row["precision"]), float(row["recall"]), float(row["f1"]), int(row["support"])
            )
            for name, row in ((name, data["per_class"][name]) for name in EMOTIONS)
        }
        calibration = data.get("calibration") or {}
        bins = tuple(
            CalibrationBin(
                float(b["lower"]), float(b["upper"]), int(b["count"]),
                None if b.get("accuracy") is None else float(b["accuracy"]),
                None if b.get("confidence") is None else float(b["confidence"]),
            )
            for b in calibration.get("bins", [])
        )  # fmt: skip
        counts = _square(data["confusion_matrix"], "confusion_matrix", int)
        if data.get("confusion_matrix_normalised") is not None:
            normalised = _square(data["confusion_matrix_normalised"], "confusion_matrix_normalised", float)
        else:
            normalised = tuple(
                tuple((v / sum(row)) if sum(row) else 0.0 for v in row) for row in counts
            )
        source = data.get("data") or {}
        ferplus = data.get("ferplus") if isinstance(data.get("ferplus"), Mapping) else {}
        grouped = data.get("grouped") if isinstance(data.get("grouped"), Mapping) else {}
        return EvaluationReport(
            model=str(data.get("model", "")),
            architecture=data.get("architecture"),
            split=str(data.get("split", "PrivateTest")),
            tta=str(data.get("tta", "none")),
            n=int(data["n"]),
            accuracy=float(data["accuracy"]),
            macro_f1=float(data["macro_f1"]),
            weighted_f1=float(data.get("weighted_f1", data["macro_f1"])),
            per_class=per_class,
            absent_classes=tuple(data.get("absent_classes", ())),
            confusion=counts,
            confusion_normalised=normalised,
            ece=None if calibration.get("ece") is None else float(calibration["ece"]),
            bins=bins,
            data_source=source.get("source"),
            data_sha256=source.get("sha256"),
            created=data.get("created"),
            ferplus_accuracy=_maybe_float(ferplus.get("accuracy")),
            ferplus_n=_maybe_int(ferplus.get("n")),
            ferplus_agreement=_maybe_float(ferplus.get("agreement_with_fer2013")),
            grouped_accuracy=_maybe_float(grouped.get("accuracy")),
            grouped_spec=grouped.get("groups"),
            unsure=_unsure(data.get("uncertainty")),
        )
    except KeyError as exc:
        raise ValueError(f"evaluation report has no {exc.args[0]!r} field") from None
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"evaluation report is malformed: {exc}") from None


@dataclass(frozen=True)
class ModelCard:
    """What the app says about a model: what it is, how good it is and how it was trained."""

    name: str
    classes: tuple[str, ...]
    architecture: str
    accuracy: float | None
    accuracy_split: str | None
    macro_f1: float | None
    public_test_accuracy: float | None
    parameters: int | None
    ferplus_accuracy: float | None
    epochs_run: int | None
    best_epoch: int | None
    averaged_epochs: tuple[int, ...] | None
    train_size: int | None
    train_seconds: float | None
    data_source: str | None
    hardware: str | None
    created: str | None
    status: str | None
    augmentation: str | None
    error: str | None
    terms_of_use: str = FER2013_TERMS
    """What a user may do with the weights (every model here learns from FER2013)."""
    uncertainty: str | None = None
    """The model's uncertainty rule in words, with how it did on its evaluation when known."""
    grouped_accuracy: float | None = None
    real_photos: tuple[str, ...] = ()
    """Its accuracy on sets of real labelled photos, in words (``training.photos --record``)."""
    members: str | None = None
    """An ensemble's members, their PublicTest accuracy and weights, in words."""
    calibration: str | None = None
    """How its probabilities were calibrated (an ensemble's temperature), in words."""
    adapted: str | None = None
    """What an adapted model (``training.adapt``) learnt from, and how it did on held-out people, in words."""

    def facts(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows for a table; unknown facts are left out."""
        rows: list[tuple[str, str]] = [("Classes", ", ".join(self.classes)), ("Architecture", self.architecture)]
        if self.adapted:
            rows.append(("Adapted to your photos", self.adapted))
        if self.members:
            rows.append(("Members", self.members))
        if self.calibration:
            rows.append(("Calibration", self.calibration))
        if self.accuracy is not None:
            rows.append((f"{self.accuracy_split or 'Test'} accuracy", f"{self.accuracy:.1%}"))
        if self.ferplus_accuracy is not None:
            rows.append((f"FER+ majority accuracy ({self.accuracy_split or 'test'})", f"{self.ferplus_accuracy:.1%}"))
        if self.grouped_accuracy is not None:
            groups = "positive, negative, neutral, surprise"
            rows.append((f"{self.accuracy_split or 'Test'} accuracy in 4 groups ({groups})", f"{self.grouped_accuracy:.1%}"))
        rows.extend(("Accuracy on real photos", text) for text in self.real_photos)
        if self.macro_f1 is not None:
            rows.append(("Macro-F1", f"{self.macro_f1:.3f}"))
        if self.uncertainty:
            rows.append(("When it says it is unsure", self.uncertainty))
        if self.public_test_accuracy is not None:
            rows.append(("PublicTest accuracy (model selection)", f"{self.public_test_accuracy:.1%}"))
        if self.parameters is not None:
            rows.append(("Parameters", f"{self.parameters:,}"))
        if self.train_size is not None:
            rows.append(("Training faces", f"{self.train_size:,}"))
        if self.epochs_run is not None:
            best = f" (best epoch {self.best_epoch})" if self.best_epoch else ""
            rows.append(("Epochs", f"{self.epochs_run}{best}"))
        if self.averaged_epochs and len(self.averaged_epochs) > 1:
            rows.append(("Weights", "average of epochs " + ", ".join(map(str, self.averaged_epochs))))
        elif self.averaged_epochs:
            rows.append(("Weights", f"epoch {self.averaged_epochs[0]}, batch-norm statistics measured again"))
        if self.augmentation:
            rows.append(("Augmentation", self.augmentation))
        if self.train_seconds is not None:
            together = " (its members, one after another)" if self.members else ""
            rows.append(("Training time", _duration(self.train_seconds) + together))
        if self.hardware:
            rows.append(("Trained on", self.hardware))
        if self.data_source:
            rows.append(("Data", self.data_source))
        if self.created:
            rows.append(("Created", self.created))
        rows.append(("Use of the weights", self.terms_of_use))
        return rows


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _augmentation_text(config: Mapping[str, Any]) -> str | None:
    augment = config.get("augment")
    if not isinstance(augment, Mapping):
        return None
    parts = []
    if augment.get("horizontal_flip"):
        parts.append("flip")
    for key, label in (("rotation_degrees", "rotate ±{}°"), ("zoom", "zoom ±{}"), ("shift", "shift ±{}"),
                       ("brightness", "brightness ±{}"), ("contrast", "contrast ±{}"), ("erasing", "erase p={}")):
        if augment.get(key):
            parts.append(label.format(augment[key]))
    return ", ".join(parts) if parts else "none"


def model_card(info: ModelInfo) -> ModelCard:
    """Build a :class:`ModelCard` from a model directory's metadata and evaluation (no Keras)."""
    meta = info.metadata or {}
    evaluation = info.evaluation or {}
    hardware = meta.get("hardware") or {}
    data = meta.get("data") or {}
    config = meta.get("config") or {}
    hardware_text = None
    if hardware:
        devices = ", ".join(sorted(set(hardware.get("devices", [])))) if hardware.get("devices") else None
        hardware_text = ", ".join(
            str(part) for part in (
                hardware.get("processor"), f"{hardware['cpu_count']} CPUs" if hardware.get("cpu_count") else None,
                devices, f"Keras {hardware['keras']}" if hardware.get("keras") else None,
            ) if part
        )  # fmt: skip
    return ModelCard(
        name=info.name,
        classes=tuple(meta.get("labels") or EMOTIONS),
        architecture=str(meta.get("architecture") or "unknown"),
        accuracy=info.accuracy,
        accuracy_split=evaluation.get("split"),
        macro_f1=float(evaluation["macro_f1"]) if evaluation.get("macro_f1") is not None else None,
        public_test_accuracy=_maybe_float(meta.get("public_test_accuracy")),
        parameters=_maybe_int(meta.get("parameters")),
        ferplus_accuracy=_maybe_float((evaluation.get("ferplus") or {}).get("accuracy")),
        epochs_run=_maybe_int(meta.get("epochs_run")),
        best_epoch=_maybe_int(meta.get("best_epoch")),
        averaged_epochs=_int_tuple(meta.get("averaged_epochs")),
        train_size=_maybe_int(meta.get("train_size")),
        train_seconds=_maybe_float(meta.get("train_seconds")),
        data_source=_data_text(data),
        hardware=hardware_text or None,
        created=meta.get("created"),
        status=meta.get("status"),
        augmentation=_augmentation_text(config),
        error=info.error,
        # Models saved before the field existed were learnt from FER2013 too.
        terms_of_use=str(meta.get("terms_of_use") or FER2013_TERMS),
        uncertainty=_uncertainty_text(meta, evaluation),
        grouped_accuracy=_maybe_float((evaluation.get("grouped") or {}).get("accuracy")),
        real_photos=tuple(text for text in map(_real_photos_text, meta.get("real_photos") or []) if text),
        members=_members_text(meta.get("members")),
        calibration=_calibration_text(meta.get("calibration")),
        adapted=_adapted_text(meta.get("adapted")),
    )


def _calibration_text(calibration: Any) -> str | None:
    """``metadata["calibration"]`` (``training.ensemble``'s temperature scaling) in words."""
    if not isinstance(calibration, Mapping) or calibration.get("method") != "temperature":
        return None
    try:
        temperature = float(calibration["temperature"])
        before, after = _maybe_float(calibration.get("ece_before")), _maybe_float(calibration.get("ece_after"))
    except (KeyError, TypeError, ValueError):
        return None
    text = f"temperature {temperature:.2f}, fitted on {calibration.get('split') or 'held-out faces'}"
    if before is not None and after is not None:
        text += f" (calibration error there {before:.3f} before, {after:.3f} after)"
    return text


def _members_text(members: Any) -> str | None:
    """An ensemble's ``members`` entry in words: each with its PublicTest accuracy, then how they are weighted."""
    if not isinstance(members, list) or not members or not all(isinstance(m, Mapping) for m in members):
        return None
    parts = []
    for member in members:
        accuracy = _maybe_float(member.get("public_test_accuracy"))
        trained = member.get("trained") if isinstance(member.get("trained"), Mapping) else {}
        seconds = trained.get("train_seconds")
        facts = ([f"{accuracy:.1%} PublicTest"] if accuracy is not None else []) + (
            [f"trained {_duration(float(seconds))}"] if isinstance(seconds, (int, float)) else []
        )
        parts.append(f"{member.get('name', '?')}" + (f" ({', '.join(facts)})" if facts else ""))
    weights = [_maybe_float(m.get("weight")) for m in members]
    how = "their probabilities averaged"
    if None not in weights and max(weights) - min(weights) > 1e-9:
        how += " with weights " + ", ".join(f"{w:.2f}" for w in weights)
    return f"{len(members)}: " + ", ".join(parts) + f"; {how}"


_DETECTOR_NAMES = {"yunet": "YuNet", "haar": "the Haar cascade", "mtcnn": "MTCNN", "blazeface": "BlazeFace"}


def _adapted_text(adapted: Any) -> str | None:
    """``metadata["adapted"]`` (``training.adapt``) in words; ``None`` when absent or not readable."""
    if not isinstance(adapted, Mapping):
        return None
    photos, people = _maybe_int(adapted.get("photos")), _maybe_int(adapted.get("people"))
    if not photos:
        return None
    classes = adapted.get("classes") if isinstance(adapted.get("classes"), Mapping) else {}
    taught = ", ".join(f"{name} {int(n)}" for name, n in classes.items() if n)
    who = f" of {people} people" if people else ""
    text = f"from {adapted.get('base') or 'a base model'}, on {photos:,} photos{who} ({taught})"
    held = adapted.get("held_out") if isinstance(adapted.get("held_out"), Mapping) else {}
    before, after = _maybe_float(held.get("accuracy_before")), _maybe_float(held.get("accuracy_after"))
    if before is not None and after is not None:
        kept = f"{held.get('photos')} photos of {held.get('people')} other people" if held.get("people") else (
            f"{held.get('photos')} held-out photos (split by photo: optimistic)"
        )  # fmt: skip
        text += f"; on {kept}: {before:.1%} before, {after:.1%} after"
    public = adapted.get("public_test") if isinstance(adapted.get("public_test"), Mapping) else {}
    public_before, public_after = _maybe_float(public.get("accuracy_before")), _maybe_float(public.get("accuracy_after"))
    if public_before is not None and public_after is not None:
        text += f"; FER2013 PublicTest {public_before:.1%} before, {public_after:.1%} after"
    replay = _maybe_int(adapted.get("replay"))
    if replay:
        text += f" ({replay:,} FER2013 faces replayed an epoch)"
    return text


def _real_photos_text(entry: Any) -> str | None:
    """One ``real_photos`` entry of ``metadata.json`` in words; ``None`` when it is not readable."""
    if not isinstance(entry, Mapping):
        return None
    try:
        accuracy, photos = _maybe_float(entry.get("accuracy")), _maybe_int(entry.get("photos"))
    except (TypeError, ValueError):
        return None
    if accuracy is None or not photos:
        return None
    detector = _DETECTOR_NAMES.get(str(entry.get("detector")), entry.get("detector") or "the detector")
    how = "face crops" if entry.get("crops") else f"whole photos through {detector}"
    tta = entry.get("tta")
    how += f", {tta} TTA" if tta and tta != "none" else ", no TTA"
    if not entry.get("crops"):
        how += "; a photo with no face found counts wrong"
    return f"{accuracy:.1%} of {photos:,} photos in {entry.get('set') or 'a labelled set'} ({how})"


def _uncertainty_text(meta: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str | None:
    """The rule the app applies to the model (its own, else the default), and how it did where measured."""
    rule = UncertaintyRule.from_metadata(meta)
    chosen = f"chosen on {rule.source}" if rule.source != "default" else "the default rule; none was chosen for it"
    text = f"{rule_words(rule.min_margin, rule.min_confidence)} ({chosen})"
    report = _unsure(evaluation.get("uncertainty"))
    if report is not None and report.accuracy_unmarked is not None:
        text += (
            f"; on {evaluation.get('split', 'the test split')} it marks {report.marked_fraction:.0%} of the faces, "
            f"and the others are {report.accuracy_unmarked:.1%} right"
        )
    return text


def _int_tuple(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    return tuple(item for item in value if isinstance(item, int) and not isinstance(item, bool)) or None


def _data_text(data: Mapping[str, Any]) -> str | None:
    if not data.get("source"):
        return None
    return f"{data['source']} ({data['layout']})" if data.get("layout") else str(data["source"])


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _maybe_int(value: Any) -> int | None:
    return None if value is None else int(value)
