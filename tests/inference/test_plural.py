"""Counts in the inference package's messages: "1 image", never "1 images"."""

from __future__ import annotations

from inference.plural import counted


def test_one_is_singular_and_any_other_count_plural() -> None:
    assert counted(1, "image") == "1 image"
    assert counted(0, "image") == "0 images"
    assert counted(2, "image") == "2 images"


def test_an_irregular_plural_is_given() -> None:
    assert counted(1, "catch", "catches") == "1 catch"
    assert counted(3, "catch", "catches") == "3 catches"
