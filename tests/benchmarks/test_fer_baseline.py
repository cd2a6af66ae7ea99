"""fer's pipeline as reproduced: preprocessing, box squaring, padding, option checks (no wheel needed)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.fer_baseline import FerPipeline, _pad, _tosquare, draw_annotations, prepare_faces


def test_prepare_faces_resizes_to_64_and_scales_to_minus_one_one() -> None:
    faces = [np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)]
    out = prepare_faces(faces)
    assert out.shape == (2, 64, 64) and out.dtype == np.float32
    assert np.allclose(out[0], -1.0) and np.allclose(out[1], 1.0)


def test_tosquare_grows_the_short_side_around_the_centre() -> None:
    assert _tosquare((10, 20, 30, 50)) == (0, 20, 50, 50)
    assert _tosquare((10, 20, 50, 30)) == (10, 10, 50, 50)
    assert _tosquare((1, 2, 3, 3)) == (1, 2, 3, 3)


def test_pad_adds_40_pixels_of_the_bottom_rows_mean() -> None:
    image = np.zeros((10, 12), np.uint8)
    image[-2:] = 100
    padded = _pad(image)
    assert padded.shape == (90, 92)
    assert padded[0, 0] == 100 and padded[45, 45] == 0


def test_pipeline_checks_its_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of tflite, keras, predict"):
        FerPipeline("onnx")
    with pytest.raises(ValueError, match="needs the TFLite interpreter"):
        FerPipeline("tflite")


def test_draw_annotations_draws_in_place() -> None:
    frame = np.zeros((120, 120, 3), np.uint8)
    faces = [{"box": (10, 10, 40, 40), "emotions": {"happy": 0.9, "sad": 0.0}}]
    out = draw_annotations(frame, faces)
    assert out is frame and frame.any()
