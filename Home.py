"""Home: what the app does, the selected model's card, and a link to each page.

Reads model metadata JSON only; TensorFlow is not loaded until a page needs the model.
"""

from __future__ import annotations

import streamlit as st

import app_ui
from core.reports import model_card

st.set_page_config(page_title="Facial emotion recognition", page_icon=":material/sentiment_satisfied:", layout="wide")

info = app_ui.model_sidebar()

st.title("Facial emotion recognition")
st.markdown(
    "Find the faces in a photo or a webcam stream and read each one's expression as one of seven "
    "emotions, with a confidence for each. The models are small convolutional networks trained on "
    "**FER2013** (35,887 grayscale 48×48 faces) and run on a CPU."
)

PAGES = (
    ("pages/1_Upload_and_predict.py", "Upload and predict", ":material/photo_camera:",
     "Several photos at once: boxes, labels and all seven probabilities per face; JSON, CSV and PNG downloads."),
    ("pages/2_Live_webcam.py", "Live webcam", ":material/videocam:",
     "Labels on your live video, smoothed across frames, with the emotion mix of the last seconds."),
    ("pages/3_Dataset_browser.py", "Dataset browser", ":material/grid_view:",
     "FER2013's classes per split, its faces page by page, and what training augmentation does to them."),
    ("pages/4_Evaluation.py", "Evaluation", ":material/monitoring:",
     "Confusion matrix, per-class scores, calibration, model against model, and the faces it gets wrong."),
    ("pages/5_Training.py", "Training", ":material/model_training:",
     "Train a new model in the background with live curves; it joins the model selector when done."),
)  # fmt: skip

columns = st.columns(len(PAGES))
for column, (path, label, icon, blurb) in zip(columns, PAGES):
    with column:
        st.page_link(path, label=label, icon=icon)
        st.caption(blurb)

st.divider()
if info is None:
    st.info("No usable model was found. Train one on the Training page, or put a model directory in `models/`.")
    st.stop()

card = model_card(info)
st.subheader(f"Model card: {card.name}")
left, right = st.columns([1, 2])
with left:
    if card.accuracy is not None:
        st.metric(f"{card.accuracy_split} accuracy", f"{card.accuracy:.1%}")
    else:
        st.metric("Test accuracy", "not evaluated", help="Run `python -m training.evaluate` to score it.")
    st.caption(
        "Seven classes: " + ", ".join(card.classes) + ". Chance is 14%; people agree with the FER2013 "
        "labels about 65% of the time."
    )
with right:
    facts = card.facts()
    st.dataframe(
        {"fact": [label for label, _ in facts], "value": [value for _, value in facts]},
        hide_index=True,
        column_config={
            "fact": st.column_config.TextColumn(width="medium"),
            "value": st.column_config.TextColumn(width="large"),
        },
        key="home_model_card",
    )

with st.expander("How it works"):
    st.markdown(
        "1. **Find faces** with MediaPipe's BlazeFace (fastest, finds tilted faces; the webcam's default), "
        "OpenCV's Haar cascade (classic frontal faces) or MTCNN (better on turned faces, slower).\n"
        "2. **Crop** each face with a margin, make it gray and 48×48, exactly like the training data.\n"
        "3. **Classify** all faces of an image in one batch; the network outputs seven probabilities.\n\n"
        "Training uses FER2013's `Training` split, picks the best epoch on `PublicTest`, and reports "
        "accuracy on `PrivateTest`, which it never saw. The same routines run from the command line "
        "(`python -m training.train`) and from the Training page."
    )
