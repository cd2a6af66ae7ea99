"""app.navigation's pure helpers: the Home page's grid of links."""

from __future__ import annotations

import pytest

from app.navigation import LINKS_PER_ROW, link_rows, pages_for


def test_link_rows_keeps_the_order_in_rows_of_at_most_three() -> None:
    owner = [p for p in pages_for(owner=True) if not p.default]
    visitor = [p for p in pages_for(owner=False) if not p.default]
    assert LINKS_PER_ROW == 3
    assert [len(row) for row in link_rows(owner)] == [3, 3]
    assert [len(row) for row in link_rows(visitor)] == [3, 2]
    assert [p for row in link_rows(visitor) for p in row] == visitor
    assert link_rows([], per_row=3) == []
    assert link_rows(list("abcde"), per_row=2) == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(ValueError, match="per_row must be at least 1, got 0"):
        link_rows(owner, per_row=0)
