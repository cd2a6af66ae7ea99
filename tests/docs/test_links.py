"""Every relative link and image of README.md and docs/ points at a file of the project."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.documented import REPO, documentation_files

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def broken_links(page: Path) -> list[str]:
    """The relative targets of ``page``'s Markdown links and images that do not exist (anchors ignored)."""
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


def test_relative_links_and_images_exist() -> None:
    pages = documentation_files()
    assert len(pages) >= 8
    assert {str(page.relative_to(REPO)): broken_links(page) for page in pages if broken_links(page)} == {}


def test_a_missing_target_is_reported(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [anchor](there.md#part) [web](https://example.com) [gone](missing.md) ![img](no.png)")
    assert broken_links(page) == ["missing.md", "no.png"]
