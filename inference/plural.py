"""Counts in messages: "1 image", "2 images", never "1 images" or "image(s)". The twin of
``sync.plural``: the packages share no code."""

from __future__ import annotations


def counted(count: int, one: str, many: str | None = None) -> str:
    """``count`` with the noun it counts: ``one`` for exactly 1, else ``many`` (``one`` and
    an s, where not given)."""
    return f"{count} {one if count == 1 else many or one + 's'}"
