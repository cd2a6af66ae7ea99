"""Score a model on a FER2013 split and write ``evaluation.json`` beside it.

    python -m training.evaluate --data data/fer2013.csv.gz --model models/fast --split PrivateTest

The report holds accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix (counts
and row-normalised) and the calibration (ECE and reliability bins) of the confidences. The app's
evaluation dashboard reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DatasetError, FERError
from core.groups import DEFAULT_GROUPING
from core.pipeline import model_tta
from core.preprocess import TTA_MODES, tta_mode
from core.recognizer import BACKENDS, EmotionRecognizer
from core.model_store import EVALUATION_FILE, METADATA_FILE, read_model_info, resolve_model_dir, write_json_atomic
from training.data import SPLITS, FERData, load_fer2013, load_ferplus_targets
from training.metrics import classification_report, ferplus_accuracy
from training.uncertainty import choose_rule
from core.uncertainty import METADATA_KEY as UNCERTAINTY_KEY, UncertaintyRule, rule_stats


def evaluate(
    model_dir: str | Path,
    *,
    data: FERData | str | Path,
    split: str = "PrivateTest",
    tta: str = "none",
    write: bool = True,
    backend: str = "auto",
    ferplus: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the model in ``model_dir`` on ``split`` and (by default) write ``evaluation.json``.

    With ``ferplus`` (the FER+ vote file, ``fer2013new.csv``), the report also holds the accuracy
    against the FER+ majority labels of the same faces (what ten annotators agree on), under
    ``"ferplus"``; the main accuracy stays the FER2013 one that every peer publishes.

    Args:
        backend: how to run the model, as the app would (see
            :meth:`core.recognizer.EmotionRecognizer.from_dir`): by default the ``.tflite`` file
            through LiteRT when it can be served, else Keras. The report names the one used.

    Returns:
        The report (see :func:`training.metrics.classification_report`) with where it came from.

    Raises:
        ValueError: an unknown split or TTA mode. DatasetError, ModelLoadError: unusable inputs.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    tta = tta_mode(tta)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    path = resolve_model_dir(model_dir)
    recognizer = EmotionRecognizer.from_dir(path, backend=backend, tta=tta)
    metadata = recognizer.metadata
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    part = data[split]
    started = time.perf_counter()
    probs = recognizer.predict_batch(np.asarray(part.x))
    seconds = time.perf_counter() - started
    report = {
        "model": path.name,
        "architecture": metadata.get("architecture"),
        "split": split,
        "tta": tta,
        "backend": recognizer.backend,
        "data": {"source": Path(data.source).name, "layout": data.layout, "sha256": data.sha256, "notes": list(data.notes)},
        **classification_report(part.y, probs),
        **({"ferplus": _ferplus_report(ferplus, part, probs)} if ferplus is not None else {}),
        **uncertainty_and_groups(metadata, part.y, probs),
        "seconds": round(seconds, 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if write:
        write_json_atomic(path / EVALUATION_FILE, report)
    return report


def _ferplus_report(path: str | Path, part: Any, probs: np.ndarray) -> dict[str, Any]:
    _, soft, _ = load_ferplus_targets(path)
    if int(part.index.max()) >= len(soft):
        raise DatasetError(f"{Path(path).name} has {len(soft)} rows; they must align with fer2013.csv's rows")
    return {"source": Path(path).name, "definition": FERPLUS_DEFINITION, **ferplus_accuracy(part.y, probs, soft[part.index])}


FERPLUS_DEFINITION = "majority of the ten FER+ votes among the 7 classes; faces with a tie at the top or no such vote left out"


def choose_tta(
    model_dir: str | Path, *, data: FERData | str | Path, backend: str = "auto", modes: Sequence[str] = TTA_MODES
) -> dict[str, Any]:
    """Score each test-time augmentation of ``modes`` on PublicTest and record the best in the model's metadata.

    ``modes`` leaves out what the model's speed budget cannot pay: ten crops are ten passes a face
    (an ensemble of two `fast` members: about 12 ms at 0.62 ms a pass, against the photo default's 5 ms).

    The model's uncertainty rule is then chosen with that mode (:func:`choose_uncertainty`).

    The choice is made on PublicTest only (never on the split that is reported); a tie goes to the
    cheaper mode. The app's upload page starts from the recorded mode.

    Returns:
        ``{"chosen": mode, "split": "PublicTest", "accuracy": {mode: accuracy}}``, as recorded
        under ``"tta"`` in ``metadata.json``.
    """
    path = resolve_model_dir(model_dir)
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    modes = [mode for mode in TTA_MODES if mode in modes]  # cheapest first
    if not modes:
        raise ValueError(f"no test-time augmentation to choose from; known: {', '.join(TTA_MODES)}")
    scores = {
        mode: evaluate(path, data=data, split="PublicTest", tta=mode, write=False, backend=backend)["accuracy"]
        for mode in modes
    }  # fmt: skip
    chosen = max(modes, key=lambda mode: (scores[mode], -TTA_MODES.index(mode)))
    choice = {"chosen": chosen, "split": "PublicTest", "accuracy": scores}
    metadata = read_model_info(path).metadata
    write_json_atomic(path / METADATA_FILE, {**metadata, "tta": choice})
    # The uncertainty rule is chosen on the faces as the app will see them: with this TTA.
    choose_uncertainty(path, data=data, backend=backend)
    return choice


def uncertainty_and_groups(metadata: dict[str, Any], labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """The report's ``"uncertainty"`` (the model's rule on these faces) and ``"grouped"`` (default groups) parts."""
    rule = UncertaintyRule.from_metadata(metadata)
    grouped = DEFAULT_GROUPING.sum_array(probs).argmax(axis=1)
    true_group = DEFAULT_GROUPING.matrix().argmax(axis=1)[np.asarray(labels)]
    return {
        "uncertainty": {**rule.to_dict(), **rule_stats(rule, probs, labels)},
        "grouped": {"groups": DEFAULT_GROUPING.spec(), "accuracy": float(np.mean(grouped == true_group))},
    }


def choose_uncertainty(
    model_dir: str | Path, *, data: FERData | str | Path, backend: str = "auto", tta: str | None = None
) -> dict[str, Any]:
    """Choose the model's uncertainty rule on PublicTest and record it in its metadata.

    The faces are classified as the app classifies them: with the model's own test-time
    augmentation (``tta=None``), unless ``tta`` says otherwise. See :func:`training.uncertainty.choose_rule`.

    Returns:
        What is recorded under ``"uncertainty"`` in ``metadata.json``: the thresholds, the split,
        the TTA and the rule's statistics on PublicTest.
    """
    path = resolve_model_dir(model_dir)
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    metadata = read_model_info(path).metadata
    mode = tta_mode(tta) if tta is not None else model_tta(metadata)
    recognizer = EmotionRecognizer.from_dir(path, backend=backend, tta=mode)
    part = data["PublicTest"]
    rule, stats = choose_rule(recognizer.predict_batch(np.asarray(part.x)), part.y)
    choice = {**rule.to_dict(), "tta": mode, **stats}
    write_json_atomic(path / METADATA_FILE, {**read_model_info(path).metadata, UNCERTAINTY_KEY: choice})
    return choice


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of a report, for the terminal."""
    lines = [
        f"{report['model']} on {report['split']} (n={report['n']}, tta={report['tta']}, "
        f"backend={report.get('backend', 'keras')}): "
        f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, ECE {report['calibration']['ece']:.4f}",
        f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>10d}")
    if report.get("ferplus"):
        fp = report["ferplus"]
        lines.append(f"FER+ majority accuracy {fp['accuracy']:.4f} on {fp['n']} faces ({fp['left_out']} left out; "
                     f"FER+ agrees with FER2013 on {fp['agreement_with_fer2013']:.1%})")
    if report.get("uncertainty"):
        u = report["uncertainty"]
        rest = "" if u["accuracy_unmarked"] is None else f"; accuracy of the others {u['accuracy_unmarked']:.4f}"
        lines.append(f"uncertainty rule (margin < {u['min_margin']:.2f} or top < {u['min_confidence']:.2f}): "
                     f"marks {u['marked']} faces ({u['marked_fraction']:.1%}){rest}")
    if report.get("grouped"):
        lines.append(f"grouped accuracy {report['grouped']['accuracy']:.4f} ({report['grouped']['groups']})")
    if report["absent_classes"]:
        lines.append(f"absent from this split: {', '.join(report['absent_classes'])}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="fer2013.csv(.gz) or a train/test folder")
    parser.add_argument("--model", required=True, help="model directory or name under models/")
    parser.add_argument("--split", choices=SPLITS, default="PrivateTest")
    parser.add_argument(
        "--tta", nargs="?", const="flip", default=None, choices=TTA_MODES,
        help="test-time augmentation: flip (default when given alone) or tencrop; none when not given "
        "(with --choose-uncertainty: the model's own)",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="auto (default): the .tflite through LiteRT when it can be served, as the app does; else Keras",
    )  # fmt: skip
    parser.add_argument("--ferplus", metavar="CSV", help="also score against FER+ majority labels (fer2013new.csv)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {EVALUATION_FILE}")
    parser.add_argument(
        "--choose-tta", action="store_true",
        help=f"score every TTA mode on PublicTest and record the best in {METADATA_FILE} (ignores --split and --tta)",
    )
    parser.add_argument(
        "--tta-modes", nargs="+", choices=TTA_MODES, default=list(TTA_MODES), metavar="MODE",
        help="with --choose-tta: only these modes (none, flip, tencrop), e.g. 'none flip' for a model whose "
        "speed budget cannot pay ten passes a face",
    )
    parser.add_argument(
        "--choose-uncertainty", action="store_true",
        help=f"choose when the model says 'A or B' or 'uncertain', on PublicTest, and record it in {METADATA_FILE} "
        "(ignores --split; --tta given overrides the model's own)",
    )
    args = parser.parse_args(argv)
    if args.choose_uncertainty:
        try:
            rule = choose_uncertainty(args.model, data=args.data, backend=args.backend,
                                      tta=args.tta)
        except (ValueError, FERError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"PublicTest (tta={rule['tta']}): 'A or B' when the top two are within {rule['min_margin']:.2f}, "
              f"'uncertain' when the top is below {rule['min_confidence']:.2f}; marks {rule['marked']} of {rule['n']} "
              f"faces ({rule['marked_fraction']:.1%}), accuracy of the others {rule['accuracy_unmarked']:.4f}")
        return 0
    if args.choose_tta:
        try:
            choice = choose_tta(args.model, data=args.data, backend=args.backend, modes=args.tta_modes)
        except (ValueError, FERError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for mode, accuracy in choice["accuracy"].items():
            mark = "  <- chosen" if mode == choice["chosen"] else ""
            print(f"{mode:<8} PublicTest accuracy {accuracy:.4f}{mark}")
        return 0
    try:
        report = evaluate(
            args.model, data=args.data, split=args.split, tta=args.tta or "none", write=not args.no_write, backend=args.backend,
            ferplus=args.ferplus,
        )
    except (ValueError, FERError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
