"""Photos of identical bytes under two photo ids (one picture uploaded twice) are one
picture: one training image where their labels agree, all left out (named) where they do
not, or where a retraction names the picture by its ``photo_sha256``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from inference.fish.correction_rows import Box, Correction

Picture = tuple[str, Box | None]  # a photo's sha256 and the fish's box


def refusals(
    newest: dict[tuple[str, ...], Correction], read_as: dict[tuple[str, ...], int]
) -> dict[Picture, dict[str, int]]:
    """The pictures a latest retraction names by its ``photo_sha256``: for each, why
    (RETRACTING's reasons) and the last export's turn that said so."""
    found: dict[Picture, dict[str, int]] = {}
    for fish, item in newest.items():
        if item.retracted and item.photo_sha256:
            said = found.setdefault((item.photo_sha256, item.crop), {})
            said[item.retracted] = max(said.get(item.retracted, -1), read_as[fish])
    return found


def same_pictures(
    chosen: list[Correction],
    refusals: dict[Picture, dict[str, int]],
    read_as: dict[tuple[str, ...], int],
    say: Callable[[str], None],
) -> tuple[list[Correction], list[Correction]]:
    """One image per picture (photo bytes and box), though two photo ids hold it (uploaded
    twice); and the pictures whose observations disagree left out, each named: two species,
    or a species and a retraction naming its ``photo_sha256`` ("not a fish", or a photo of
    it left out as conflicting) read no earlier than the picture's latest label (a label
    an export wrote after it means the observations agree again). The kept corrections,
    and those left out."""
    by_picture: dict[Picture, list[Correction]] = {}
    for item in chosen:
        by_picture.setdefault((_digest(item.source), item.crop), []).append(item)
    kept, left_out = [], []
    for picture, items in by_picture.items():
        labelled = max(read_as[item.fish()] for item in items)
        said = {why for why, turn in refusals.get(picture, {}).items() if turn >= labelled}
        answers = sorted({item.species_id for item in items})
        if "not_a_fish" in said:
            answers.append("not a fish")
        if len(answers) > 1 or "conflicting" in said:
            left_out += items
            say(f"left out as conflicting: {_conflict(items, answers, 'conflicting' in said)}")
        else:
            kept.append(items[0])
    return kept, left_out


def _conflict(items: list[Correction], answers: list[str], elsewhere: bool) -> str:
    """The files of one picture and what they were given, for the note."""
    files = ", ".join(str(item.source) for item in items)
    held = f"{files} holds a picture" if len(items) == 1 else f"{files} hold the same picture"
    given = f"{held} given as {' and as '.join(answers)}"
    if not elsewhere:
        return given
    return f"{given}, and a photo of the same picture was left out as conflicting by an export"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
