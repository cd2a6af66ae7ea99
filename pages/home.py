"""Home page: what the app does, the selected model's card, and a link to each page.

Reads model metadata JSON only; TensorFlow is not loaded until a page needs the model.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import entry, ui
from app.navigation import LINKS_PER_ROW, link_rows, pages_for, st_page
from app.reports import model_card

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

info = ui.current_model()

st.title("Facial emotion recognition")
st.markdown(
    "Find the faces in a photo or a webcam stream and read each one's expression as one of seven "
    "emotions, with a confidence for each. The models are small convolutional networks trained on "
    "**FER2013** (35,887 grayscale 48×48 faces) and run on a CPU."
)

others = [page for page in pages_for(owner=ui.is_owner()) if not page.default]
# A few links a row, every row the same widths: six side by side cut "Upload and predict" at 1400 px.
for row in link_rows(others):
    for column, page in zip(st.columns(LINKS_PER_ROW), row):
        with column:
            st.page_link(st_page(page), label=page.title, icon=page.icon)
            st.caption(page.blurb)

st.divider()
if info is None:
    st.info("No usable model was found. Train one on the Training page, or put a model directory in `models/`.")
    st.stop()

card = model_card(info)
st.subheader(f"Model card: {card.name}")
live = ui.current_model(role="live")
if ui.automatic_models() and live is not None and live.name != info.name:
    st.caption(
        f"The default model, for photos, videos and snapshots. The webcam's live video uses **{live.name}**, "
        "a faster one: pick it in the sidebar to see its card."
    )
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
    st.caption(f"**Use of the weights:** {card.terms_of_use}.")
with right:
    facts = card.facts()
    # A static table wraps long facts (the uncertainty rule, the augmentation) where a grid would cut them.
    st.table(
        pd.DataFrame({"": [value for _, value in facts]}, index=pd.Index([label for label, _ in facts])),
        hide_header=True,  # the facts name themselves: an empty header row would only push them down
    )

with st.expander("How it works"):
    st.markdown(
        "1. **Find faces** with OpenCV's YuNet (the default for photos and videos: every face from small to "
        "large, with eyes, nose and mouth), MediaPipe's BlazeFace (fastest; the webcam's default), "
        "OpenCV's Haar cascade (classic frontal faces) or MTCNN (better on turned faces, slower).\n"
        "2. **Crop** each face the way FER2013 framed its faces (levelled on the eyes where the detector "
        "gives them), gray and 48×48, exactly like the training data.\n"
        "3. **Classify** all faces of an image in one batch; the network outputs seven probabilities.\n\n"
        "Training uses FER2013's `Training` split, picks the best epoch on `PublicTest`, and reports "
        "accuracy on `PrivateTest`, which it never saw. The same routines run from the command line "
        "(`python -m training.train`) and from the Training page."
    )
