"""Plotly figures for the app, built by pure functions: data in, ``go.Figure`` out.

No Streamlit here; the pages pass the figures to ``st.plotly_chart``. Every class-indexed chart
uses :data:`core.labels.EMOTIONS` order and the emotion colours of the annotated images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.annotate import emotion_color_rgb
from core.groups import Grouping
from core.labels import EMOTIONS, NUM_CLASSES
from app.reports import EvaluationReport

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def emotion_color(emotion: str) -> str:
    """CSS ``rgb(...)`` colour of an emotion, matching the boxes drawn on images."""
    r, g, b = emotion_color_rgb(emotion)
    return f"rgb({r},{g},{b})"


def _classes(grouping: Grouping | None) -> tuple[list[str], np.ndarray, list[str]]:
    """What a chart shows: names, the ``(7, K)`` matrix that sums emotions into them, and colours.

    Without a grouping, the seven emotions; with one, its groups, each in its first emotion's colour.
    """
    if grouping is None:
        return list(EMOTIONS), np.eye(NUM_CLASSES), [emotion_color(name) for name in EMOTIONS]
    return list(grouping.names), grouping.matrix(), [emotion_color(members[0]) for _, members in grouping.groups]


def _check_probabilities(probabilities: Mapping[str, float]) -> list[float]:
    missing = [name for name in EMOTIONS if name not in probabilities]
    if missing:
        raise ValueError(
            f"probabilities lack {', '.join(missing)}; expected one value for each of {', '.join(EMOTIONS)}"
        )
    return [float(probabilities[name]) for name in EMOTIONS]


def probability_bar(
    probabilities: Mapping[str, float], *, title: str | None = None, height: int = 260, grouping: Grouping | None = None
) -> go.Figure:
    """Horizontal bars of the 7 emotion probabilities of one face (0..1), in label order.

    With a ``grouping``, one bar per group: the sum of its emotions' probabilities.
    """
    names, matrix, colors = _classes(grouping)
    values = (np.asarray(_check_probabilities(probabilities)) @ matrix).tolist()
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=colors,
            text=[f"{v:.0%}" for v in values],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, height=height, margin=_MARGIN, showlegend=False,
        xaxis={"range": [0, 1.12], "tickformat": ".0%", "title": "probability"},
        yaxis={"autorange": "reversed"},
    )  # fmt: skip
    return fig


def faces_per_emotion(counts: Mapping[str, int], *, photos: int) -> go.Figure:
    """Bars of how many faces show each emotion, across ``photos`` photos, in label order and colours."""
    values = [int(counts.get(name, 0)) for name in EMOTIONS]
    unknown = sorted(set(counts) - set(EMOTIONS))
    if unknown:
        raise ValueError(f"unknown emotion(s) {', '.join(unknown)}; expected some of {', '.join(EMOTIONS)}")
    total = sum(values)
    faces, shots = f"{total} face{'s' if total != 1 else ''}", f"{photos} photo{'s' if photos != 1 else ''}"
    fig = go.Figure(
        go.Bar(
            x=list(EMOTIONS), y=values, marker_color=[emotion_color(name) for name in EMOTIONS],
            text=[str(v) if v else "" for v in values], textposition="outside",
            hovertemplate="%{x}: %{y} face(s)<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"Faces per emotion: {faces} in {shots}",
        height=320, margin=_MARGIN, showlegend=False,
        # Room above the tallest bar for its count; whole faces on the axis.
        yaxis={"title": "faces", "range": [0, max(values) * 1.2 + 1], "dtick": 1 if max(values) <= 10 else None},
    )  # fmt: skip
    return fig


def class_distribution(counts_by_split: Mapping[str, Sequence[int]], *, share: bool = False) -> go.Figure:
    """Grouped bars of faces per class, one colour per split.

    Args:
        counts_by_split: ``{split name: 7 counts in label order}``.
        share: plot each split's fraction instead of counts (splits of different sizes compare).
    """
    fig = go.Figure()
    for split, counts in counts_by_split.items():
        values = np.asarray(counts, dtype=np.float64)
        if values.shape != (NUM_CLASSES,):
            raise ValueError(f"split {split!r} has {values.size} counts; expected {NUM_CLASSES} (one per class)")
        total = values.sum()
        shown = values / total if share and total else values
        fig.add_trace(
            go.Bar(
                name=split, x=list(EMOTIONS), y=shown,
                customdata=values.astype(int),
                hovertemplate=(
                    "%{x}: %{customdata:,} faces" + (" (%{y:.1%})" if share else "") + f"<extra>{split}</extra>"
                ),
            )
        )  # fmt: skip
    fig.update_layout(
        barmode="group", height=340, margin=_MARGIN, title="Faces per class",
        yaxis={"title": "share of split" if share else "faces", "tickformat": ".0%" if share else ","},
        legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    return fig


def confusion_heatmap(report: EvaluationReport, *, normalised: bool) -> go.Figure:
    """The confusion matrix (rows: true class, columns: predicted class) as a heatmap."""
    return confusion_matrix_figure(report.confusion, normalised=normalised)


def confusion_matrix_figure(
    confusion: Sequence[Sequence[int]], *, normalised: bool, title: str | None = None, height: int = 460
) -> go.Figure:  # fmt: skip
    """A 7x7 confusion matrix of counts (rows: true class, columns: predicted) as a heatmap;
    ``normalised``: each row as shares of its true class (an empty row stays at 0)."""
    counts = np.asarray(confusion, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0) if normalised else counts.astype(float)
    text = [[f"{v:.0%}" if normalised else f"{int(v):,}" for v in row] for row in matrix]
    fig = go.Figure(
        go.Heatmap(
            z=matrix, x=list(EMOTIONS), y=list(EMOTIONS), colorscale="Blues",
            zmin=0, zmax=1 if normalised else None, text=text, texttemplate="%{text}",
            customdata=counts,
            hovertemplate="true %{y}, predicted %{x}: %{customdata:,} faces<extra></extra>",
            colorbar={"tickformat": ".0%" if normalised else ","},
        )
    )  # fmt: skip
    fig.update_layout(
        title=title or f"Confusion matrix{' (each row sums to 100%)' if normalised else ' (counts)'}",
        height=height, margin=_MARGIN,
        xaxis={"title": "predicted", "side": "bottom"},
        yaxis={"title": "true", "autorange": "reversed"},
    )  # fmt: skip
    return fig


def recall_before_after(before: Mapping[str, float | None], after: Mapping[str, float | None]) -> go.Figure:
    """Recall per class before and after adapting, side by side (a class with no photo is left blank)."""
    fig = go.Figure()
    for name, values, color in (("before", before, "#9aa5b1"), ("after", after, "#1f77b4")):
        fig.add_trace(
            go.Bar(
                name=name, x=list(EMOTIONS), y=[values.get(e) for e in EMOTIONS], marker_color=color,
                hovertemplate="%{x}: %{y:.0%}<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        barmode="group", height=340, margin=_MARGIN, title="Recall per class on the held-out people",
        yaxis={"range": [0, 1], "tickformat": ".0%"}, legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    return fig


def adapt_curve(history: Sequence[Mapping[str, Any]], *, before: float | None = None) -> go.Figure:
    """Accuracy per epoch while adapting: on the held-out people (which choose the epoch kept) and
    on the photos learnt, with the held-out accuracy before adapting as a dotted line."""
    epochs = [int(row["epoch"]) for row in history]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=epochs, y=[row.get("held_out_accuracy") for row in history], mode="lines+markers", name="held-out people",
        hovertemplate="epoch %{x}: %{y:.1%}<extra>held out</extra>",
    ))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=epochs, y=[row.get("train_accuracy") for row in history], mode="lines+markers", name="photos learnt",
        line={"dash": "dot"}, hovertemplate="epoch %{x}: %{y:.1%}<extra>learnt</extra>",
    ))  # fmt: skip
    if before is not None:
        fig.add_hline(y=before, line_dash="dash", line_color="#9aa5b1", annotation_text=f"before: {before:.1%}")
    fig.update_layout(
        height=320, margin=_MARGIN, title="Accuracy per epoch",
        xaxis={"title": "epoch", "dtick": 1, "range": [0.5, max([*epochs, 1]) + 0.5]},
        yaxis={"range": [0, 1], "tickformat": ".0%"}, legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return fig


def per_class_metrics(report: EvaluationReport) -> go.Figure:
    """Grouped bars of precision, recall and F1 per class."""
    fig = go.Figure()
    for metric in ("precision", "recall", "f1"):
        fig.add_trace(
            go.Bar(
                name=metric if metric != "f1" else "F1",
                x=list(EMOTIONS),
                y=[getattr(report.per_class[name], metric) for name in EMOTIONS],
                hovertemplate="%{x}: %{y:.3f}<extra>" + metric + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group", height=340, margin=_MARGIN, title="Precision, recall and F1 per class",
        yaxis={"range": [0, 1]}, legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    return fig


def reliability_diagram(report: EvaluationReport) -> go.Figure:
    """Accuracy against mean confidence per confidence bin; a calibrated model follows the diagonal."""
    full = [b for b in report.bins if b.count and b.accuracy is not None and b.confidence is not None]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=[(b.lower + b.upper) / 2 for b in full], y=[b.accuracy for b in full],
            width=[(b.upper - b.lower) * 0.95 for b in full], name="accuracy",
            customdata=[[b.count, b.confidence] for b in full], marker_color="rgb(70,130,180)",
            hovertemplate=(
                "confidence %{customdata[1]:.2f}: accuracy %{y:.2f} (%{customdata[0]:,} faces)<extra></extra>"
            ),
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[b.confidence for b in full], y=[b.accuracy for b in full], mode="markers",
            name="mean confidence", marker={"color": "black", "size": 7},
            hoverinfo="skip",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                   line={"dash": "dash", "color": "gray"}, hoverinfo="skip")
    )
    ece = "" if report.ece is None else f" (ECE {report.ece:.3f})"
    fig.update_layout(
        title=f"Reliability diagram{ece}", height=380, margin=_MARGIN,
        xaxis={"title": "confidence", "range": [0, 1]}, yaxis={"title": "accuracy", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return fig


def compare_models(reports: Mapping[str, EvaluationReport], *, metric: str = "f1") -> go.Figure:
    """One metric per class for several models side by side (grouped bars)."""
    if metric not in ("precision", "recall", "f1"):
        raise ValueError(f"metric must be one of precision, recall, f1; got {metric!r}")
    fig = go.Figure()
    for name, report in reports.items():
        fig.add_trace(
            go.Bar(
                name=f"{name} ({report.accuracy:.1%})", x=list(EMOTIONS),
                y=[getattr(report.per_class[c], metric) for c in EMOTIONS],
                hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        barmode="group", height=340, margin=_MARGIN, title=f"{'F1' if metric == 'f1' else metric.title()} per class",
        yaxis={"range": [0, 1]}, legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    return fig


def training_curves(history: Mapping[str, Sequence[float]], *, live: Mapping[str, float] | None = None) -> go.Figure:
    """Loss and accuracy per epoch (training and PublicTest validation) in two panels.

    Args:
        history: Keras-style history: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` lists.
        live: the running epoch's latest batch logs, drawn as a hollow marker after the last epoch.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    styles = {"": ("training", "rgb(31,119,180)"), "val_": ("validation (PublicTest)", "rgb(255,127,14)")}
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, (label, color) in styles.items():
            values = list(history.get(prefix + metric, []))
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(values) + 1)), y=values, mode="lines+markers", name=label,
                    line={"color": color}, legendgroup=label, showlegend=col == 1,
                ),
                row=1, col=col,
            )  # fmt: skip
        if live and metric in live:
            fig.add_trace(
                go.Scatter(
                    x=[len(history.get(metric, [])) + 1], y=[live[metric]], mode="markers", name="current epoch",
                    marker={"symbol": "circle-open", "size": 10, "color": styles[""][1]},
                    legendgroup="current", showlegend=col == 1,
                ),
                row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_layout(height=320, margin=_MARGIN, legend={"orientation": "h", "y": -0.25})
    return fig


def emotion_mix(
    seconds_ago: Sequence[float], probabilities: np.ndarray, *, window_s: float, grouping: Grouping | None = None
) -> go.Figure:
    """Stacked area of the emotion mix over the last ``window_s`` seconds (now at the right).

    Args:
        seconds_ago: for each sample, how long ago it was taken (``>= 0``).
        probabilities: ``(len(seconds_ago), 7)`` mean probabilities of the faces in each sample.
        grouping: stack the groups' summed probabilities instead of the seven emotions.
    """
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1, NUM_CLASSES) if len(seconds_ago) else np.zeros(
        (0, NUM_CLASSES)
    )
    if probs.shape[0] != len(seconds_ago):
        raise ValueError(f"got {len(seconds_ago)} times but {probs.shape[0]} probability rows")
    x = [-float(t) for t in seconds_ago]
    names, matrix, colors = _classes(grouping)
    shown = probs @ matrix
    fig = go.Figure()
    for i, (name, color) in enumerate(zip(names, colors)):
        fig.add_trace(
            go.Scatter(
                x=x, y=shown[:, i], name=name, mode="lines", stackgroup="mix",
                line={"width": 0.5, "color": color},
                hovertemplate="%{y:.0%}<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title="Emotion mix", height=330, margin=_MARGIN,
        xaxis={"title": "seconds (0 = now)", "range": [-float(window_s), 0]},
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.4},
    )  # fmt: skip
    return fig


def video_timeline(analysis: Any, *, height: int = 320, grouping: Grouping | None = None) -> dict[int, go.Figure]:
    """One figure per face of a video analysis: each emotion's (or group's) probability over ``time_s``.

    Smoothed probabilities are drawn when the analysis has them (the summary counts them); the
    lines break where the face is missing from an analysed frame.

    Args:
        analysis: a :class:`core.video.Timeline`: a video analysis or a webcam recording.

    Returns:
        ``{face id: figure}`` in id order; empty when no face was found.
    """
    smoothed = analysis.summary_source == "smoothed"
    times = sorted({row.time_s for row in analysis.rows})
    position = {t: i for i, t in enumerate(times)}
    per_face: dict[int, np.ndarray] = {}
    for row in analysis.rows:
        if row.face is None:
            continue
        probs = (row.smoothed_probabilities if smoothed else None) or row.probabilities or {}
        values = per_face.setdefault(row.face, np.full((len(times), NUM_CLASSES), np.nan))
        values[position[row.time_s]] = [float(probs.get(name, np.nan)) for name in EMOTIONS]
    figures: dict[int, go.Figure] = {}
    names, matrix, colors = _classes(grouping)
    for face in sorted(per_face):
        values = per_face[face] @ matrix  # a missing frame's NaN stays NaN
        seen = ~np.isnan(values[:, 0])
        first, last = int(np.argmax(seen)), len(seen) - int(np.argmax(seen[::-1]))
        x = times[first:last]
        fig = go.Figure()
        for i, (name, color) in enumerate(zip(names, colors)):
            y = [None if np.isnan(v) else float(v) for v in values[first:last, i]]
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=name, mode="lines", connectgaps=False,
                    line={"width": 2, "color": color},
                    hovertemplate="%{x:.2f} s: %{y:.0%}<extra>" + name + "</extra>",
                )
            )  # fmt: skip
        fig.update_layout(
            title=f"Face {face}" + (" (smoothed)" if smoothed else ""), height=height, margin=_MARGIN,
            xaxis={"title": "time (s)", "range": [0, max(times[-1], 1e-3)]},
            yaxis={"range": [0, 1], "tickformat": ".0%", "title": "probability"},
            legend={"orientation": "h", "y": -0.3},
        )  # fmt: skip
        figures[face] = fig
    return figures


def group_accuracy(groups: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Accuracy per group (a photo with no face counting wrong), with its 95% interval and photo count.

    Args:
        groups: :func:`training.photos.group_breakdown` rows (``group``, ``n``, ``accuracy``,
            ``margin``, ``small``); groups too small to say much are drawn pale.
    """
    names = [str(g["group"]) for g in groups]
    fig = go.Figure(
        go.Bar(
            x=names, y=[g["accuracy"] for g in groups],
            error_y={"type": "data", "array": [g["margin"] for g in groups], "visible": True},
            marker_color=["rgba(70,130,180,0.35)" if g["small"] else "rgb(70,130,180)" for g in groups],
            text=[f"{g['accuracy']:.0%} (n={g['n']})" for g in groups], textposition="outside",
            customdata=[[g["n"], g["margin"]] for g in groups],
            hovertemplate="%{x}: %{y:.1%} ± %{customdata[1]:.1%} over %{customdata[0]} photos<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title="Accuracy per group (pale: too few photos to say much)", height=340, margin=_MARGIN,
        yaxis={"range": [0, 1.15], "tickformat": ".0%", "title": "accuracy"}, xaxis={"title": "group"},
    )  # fmt: skip
    return fig
