"""Take the screenshots of every page (README.md, docs/): ``python -m tests.e2e.screenshots [--models DIR]``.

Writes ``docs/screenshots/{home,upload,upload-summary,why,webcam,webcam-recording,video,dataset,evaluation,training}.png``.
No FER2013 face appears in them: the uploads and the fake camera show drawn cartoon faces, the dataset browser
is shown in its "no dataset" state, and the evaluation page without its gallery. The video shot
analyses ``../shared/samples/video/man_neutral_to_happy.mp4`` (never committed) when it is there and
shows its timeline. Needs Debian's Chromium; the webcam shot also needs network namespaces
(``unshare -n``), as in the tests.

``--photo PATH`` instead shoots only the upload page on that photo (the whole page: the annotated
photo, the per-face charts and the table) as ``upload-<name>.png`` in ``--out``; for looking at a
real group photo the way a user sees it (keep such shots out of the project). ``--summary`` shoots
only ``upload-summary.png``: three drawn photos at once (three faces, one, none), the page's summary on top.

``--home`` instead shoots only the Home page at the 1400-px window, as the owner (``home.png``) and
as a visitor (``home-visitor.png``), and names any page link whose label the browser cuts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from tests.e2e.helpers import (
    REPO,
    chromium_missing_reason,
    free_port,
    home_link_labels,
    launch_chromium,
    open_home,
    streamlit_server,
    synthetic_photo,
    write_y4m,
)

OUT = REPO / "docs" / "screenshots"
VIDEO_SAMPLE = REPO.parent / "shared" / "samples" / "video" / "man_neutral_to_happy.mp4"


def take(*, models: Path, out: Path, work: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    shots = []
    photo = work / "cartoon-face.png"
    cv2.imwrite(str(photo), synthetic_photo())
    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": ""}
    with streamlit_server(port=free_port(), env=env, log=work / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        url = server.url
        context = launch_chromium(playwright, user_data_dir=work / "profile")
        page = context.new_page()

        def shot(name: str, *, full_page: bool = False) -> None:
            page.wait_for_timeout(1500)  # let charts finish their transitions
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            shots.append(path)

        open_home(page, url)
        shot("home")

        page.goto(f"{url}/Upload_and_predict", wait_until="domcontentloaded")
        page.locator('input[type="file"]').set_input_files(str(photo))
        expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Face 1:", timeout=150_000)
        shot("upload")
        take_why(page)
        page.wait_for_timeout(1500)
        block = page.locator("[data-testid=stVerticalBlock]").filter(has=page.get_by_role("heading", name=photo.name))
        block.last.screenshot(path=str(out / "why.png"))  # the photo's own block: picture, chart and map
        shots.append(out / "why.png")

        take_summary(page, url=url, work=work)
        shot("upload-summary")
        page.set_viewport_size({"width": 1400, "height": 1000})

        if VIDEO_SAMPLE.is_file():
            take_video(page, url=url, clip=VIDEO_SAMPLE)
            shot("video")
        else:
            print(f"video screenshot skipped: {VIDEO_SAMPLE} not found", file=sys.stderr)

        page.goto(f"{url}/Dataset_browser", wait_until="domcontentloaded")
        box = page.get_by_role("textbox", name="FER2013 location")
        box.fill("/path/to/fer2013.csv.gz")
        box.press("Enter")
        expect(page.get_by_text("is not shipped with the app")).to_be_visible(timeout=60_000)
        shot("dataset")

        page.goto(f"{url}/Evaluation", wait_until="domcontentloaded")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        shot("evaluation")

        page.goto(f"{url}/Training", wait_until="domcontentloaded")
        expect(page.get_by_text("New training")).to_be_visible(timeout=60_000)
        shot("training")
        context.close()
    return shots


def take_photo(*, models: Path, photo: Path, out: Path, work: Path) -> Path:
    """The upload page after ``photo`` has been analysed, the whole page."""
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": ""}
    target = out / f"upload-{photo.stem}.png"
    with streamlit_server(port=free_port(), env=env, log=work / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=work / "profile")
        page = context.new_page()
        page.set_viewport_size({"width": 1400, "height": 2400})  # the main area scrolls inside: a tall window shows it all
        page.goto(f"{server.url}/Upload_and_predict", wait_until="domcontentloaded")
        page.locator('input[type="file"]').set_input_files(str(photo))
        expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Face 1:", timeout=150_000)
        page.wait_for_timeout(2500)  # let charts finish their transitions
        page.screenshot(path=str(target), full_page=True)
        context.close()
    return target


def take_why(page) -> None:  # noqa: ANN001
    """On the upload page, after a photo was analysed: turn on face 1's "Why?" and scroll to its map."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.get_by_text("Why?", exact=True).first.click()
    caption = page.get_by_text("where hiding the face lowers").first
    expect(caption).to_be_visible(timeout=60_000)
    expect(page.get_by_text("As the model sees it (48x48, levelled)")).to_be_visible()
    expect(page.get_by_text("In the photo", exact=True)).to_be_visible()
    caption.scroll_into_view_if_needed()


def drawn_face(mouth: str, *, size: int = 100) -> np.ndarray:
    """:func:`tests.core.faces.draw_face` with another mouth: ``"plain"``, ``"smile"``, ``"grin"`` or ``"frown"``."""
    from tests.core.faces import draw_face  # noqa: PLC0415

    face = draw_face(size)
    if mouth == "plain":
        return face
    gray = np.ascontiguousarray(face[:, :, 0])
    c, width = size, max(2, size // 25)
    cv2.ellipse(gray, (c, c + int(size * 0.22)), (int(size * 0.14), int(size * 0.06)), 0, 0, 360, 170, -1)  # no mouth
    if mouth == "smile":
        cv2.ellipse(gray, (c, c + int(size * 0.16)), (int(size * 0.18), int(size * 0.12)), 0, 10, 170, 40, width)
    elif mouth == "grin":
        cv2.ellipse(gray, (c, c + int(size * 0.18)), (int(size * 0.2), int(size * 0.13)), 0, 0, 180, 250, -1)
        cv2.ellipse(gray, (c, c + int(size * 0.18)), (int(size * 0.2), int(size * 0.13)), 0, 0, 180, 40, 2)
    elif mouth == "frown":
        cv2.ellipse(gray, (c, c + int(size * 0.32)), (int(size * 0.16), int(size * 0.09)), 0, 190, 350, 40, width)
    else:
        raise ValueError(f"mouth must be plain, smile, grin or frown; got {mouth!r}")
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def summary_photos(work: Path) -> list[Path]:
    """Three drawn photos for the several-photos summary: three faces, one face, no face."""
    group = np.full((400, 960, 3), 60, np.uint8)
    for x, mouth in ((40, "grin"), (360, "frown"), (680, "plain")):
        group[100:300, x : x + 200] = drawn_face(mouth)
    portrait = np.full((480, 640, 3), 60, np.uint8)
    portrait[140:340, 220:420] = drawn_face("smile")
    scenes = {"group.png": group, "portrait.png": portrait, "empty-room.png": np.full((480, 640, 3), 60, np.uint8)}
    paths = []
    for name, image in scenes.items():
        cv2.imwrite(str(work / name), image)
        paths.append(work / name)
    return paths


def take_summary(page, *, url: str, work: Path) -> None:  # noqa: ANN001
    """On the upload page: several drawn photos at once, ready for the shot of their summary (a tall window)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{url}/Upload_and_predict", wait_until="domcontentloaded")
    page.locator('input[type="file"]').set_input_files([str(path) for path in summary_photos(work)])
    expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Faces per emotion", timeout=150_000)
    page.set_viewport_size({"width": 1400, "height": 1500})


def take_summary_only(*, models: Path, out: Path, work: Path) -> Path:
    """Only ``upload-summary.png``."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": ""}
    target = out / "upload-summary.png"
    with streamlit_server(port=free_port(), env=env, log=work / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=work / "profile")
        page = context.new_page()
        take_summary(page, url=server.url, work=work)
        page.wait_for_timeout(2500)  # let charts finish their transitions
        page.screenshot(path=str(target))
        context.close()
    return target


def take_home(*, models: Path, out: Path, work: Path) -> tuple[list[Path], list[str]]:
    """The Home page as the owner and as a visitor; the shots and the link labels the browser cuts."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    shots, cut = [], []
    for name, public in (("home", ""), ("home-visitor", "1")):
        env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": "", "FER_APP_PUBLIC": public}
        with streamlit_server(port=free_port(), env=env, log=work / f"{name}.log") as server, \
                sync_playwright() as playwright:  # fmt: skip
            context = launch_chromium(playwright, user_data_dir=work / "profile")
            page = context.new_page()
            open_home(page, server.url)
            cut += [f"{name}: {label}" for label, is_cut in home_link_labels(page).items() if is_cut]
            shots.append(out / f"{name}.png")
            page.screenshot(path=str(shots[-1]))
            context.close()
    return shots, cut


def take_video(page, *, url: str, clip: Path) -> None:  # noqa: ANN001
    """On the Video page: upload ``clip``, analyse it, and scroll to its result, ready for the shot."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{url}/Video", wait_until="domcontentloaded")
    page.locator('input[type="file"]').set_input_files(str(clip))
    analyse = page.get_by_role("button", name="Analyse")
    expect(analyse).to_be_enabled(timeout=30_000)
    analyse.click()
    expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Face 1", timeout=150_000)
    page.get_by_role("heading", name=clip.name).scroll_into_view_if_needed()


def take_webcam(*, models: Path, out: Path, work: Path) -> Path | None:
    clip = write_y4m(work / "cartoon.y4m", synthetic_photo(size=150))
    target = out / "webcam.png"
    done = subprocess.run(
        ["unshare", "-n", "--", sys.executable, "-m", "tests.e2e.webcam_driver", "--y4m", str(clip),
         "--models", str(models), "--out", str(work / "webcam"), "--screenshot", str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"webcam screenshot failed ({done.returncode}): {done.stderr[-1500:]}", file=sys.stderr)
        return None
    shutil.copyfile(work / "webcam" / "recording.png", out / "webcam-recording.png")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPO / "models", help="models folder the app shows")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--photo", type=Path, help="shoot only the upload page on this photo")
    parser.add_argument("--summary", action="store_true", help="shoot only the several-photos summary")
    parser.add_argument("--home", action="store_true", help="shoot only the Home page, as the owner and as a visitor")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        with tempfile.TemporaryDirectory() as tmp:
            print(take_summary_only(models=args.models.resolve(), out=args.out, work=Path(tmp)))
        return 0
    if args.photo:
        with tempfile.TemporaryDirectory() as tmp:
            print(take_photo(models=args.models.resolve(), photo=args.photo.resolve(), out=args.out, work=Path(tmp)))
        return 0
    if args.home:
        with tempfile.TemporaryDirectory() as tmp:
            shots, cut = take_home(models=args.models.resolve(), out=args.out, work=Path(tmp))
        print("\n".join(str(path) for path in shots))
        print("\n".join(f"cut link label: {line}" for line in cut) or "no link label is cut", file=sys.stderr)
        return 1 if cut else 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shots = take(models=args.models.resolve(), out=args.out, work=work)
        webcam = take_webcam(models=args.models.resolve(), out=args.out, work=work)
    for path in [*shots, *([webcam] if webcam else [])]:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0 if webcam else 1


if __name__ == "__main__":
    sys.exit(main())
