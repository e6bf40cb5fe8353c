"""Values the fish pipeline passes across boundaries: small, frozen, checked when made."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# The characters no name on the wire may hold (``sync.protocol.names``, which inference
# cannot import; tests/inference/fish/test_corrections.py keeps the two equal): control
# characters (category Cc) and Unicode's bidirectional controls, which show a name as
# another. A pack naming a species so would make every catch of it unrecordable.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


class FishStatus(StrEnum):
    IDENTIFIED = "identified"  # a species from the pack, at or above the open-set threshold
    UNKNOWN = "unknown"  # the best species scored below the open-set threshold
    NO_FISH = "no_fish"  # failed the quality gate (blank, tiny), or like none of the species


@dataclass(frozen=True)
class Species:
    """One class of a pack: ``id`` is the training folder name, ``name`` what people read."""

    id: str
    name: str

    def __post_init__(self) -> None:
        if not self.id or "/" in self.id or self.id.startswith("."):
            raise ValueError(f"species id {self.id!r} must be a plain folder name")
        if not self.name:
            raise ValueError(f"species {self.id!r} needs a display name")
        if hidden := hidden_characters(self.name):
            raise ValueError(
                f"species {self.id!r}: its display name {self.name!a} holds a control"
                f" character or bidirectional override ({', '.join(map(ascii, hidden))}),"
                " which no record of a catch may hold"
            )


def hidden_characters(text: str) -> list[str]:
    """The control characters and bidirectional controls ``text`` holds, each once, in the
    order they first appear (``sync.protocol.names.hidden_characters``)."""
    found = (c for c in text if unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS)
    return list(dict.fromkeys(found))


def species_key(name: str) -> str:
    """What two names of one species share: case, spacing and Unicode form (an 'é' a Mac
    sends decomposed, NFD) typed by two people do not make two species. Unicode's caseless
    match (NFD, casefold), then NFC, so that a key written as a folder name is the usual
    form. The rule of ``sync.corrections.species_key`` too, by which the stores group
    the corrections that ``inference.fish.corrections`` reads; the two packages never import
    each other, so each holds it (tests/inference/fish/test_corrections.py keeps them equal).
    No store or hub table keeps a key: each is computed when names are compared."""
    folded = unicodedata.normalize("NFD", name).casefold()
    return unicodedata.normalize("NFC", " ".join(folded.split()))


@dataclass(frozen=True)
class SpeciesScore:
    species: Species
    probability: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.probability <= 1.0) or math.isnan(self.probability):
            raise ValueError(f"probability {self.probability} is not in [0, 1]")


@dataclass(frozen=True)
class FishPrediction:
    """What the classifier says about one fish image.

    ``top_k`` holds calibrated probabilities, best first, whatever the status, so that a
    reviewer sees the candidates of an ``unknown`` too. ``species`` is the top-1 species only
    when the status is ``identified``. ``needs_review`` follows the pack's review threshold;
    an ``unknown`` or ``no_fish`` always needs review.
    """

    status: FishStatus
    top_k: tuple[SpeciesScore, ...]
    needs_review: bool
    pack_version: str
    reason: str = ""

    def __post_init__(self) -> None:
        probabilities = [score.probability for score in self.top_k]
        if probabilities != sorted(probabilities, reverse=True):
            raise ValueError("top_k must be sorted by probability, best first")
        if self.status is not FishStatus.NO_FISH and not self.top_k:
            raise ValueError(f"a {self.status} prediction needs at least one candidate")
        if self.status is not FishStatus.IDENTIFIED and not self.needs_review:
            raise ValueError(f"a {self.status} prediction always needs review")

    @property
    def species(self) -> Species | None:
        return self.top_k[0].species if self.status is FishStatus.IDENTIFIED else None

    @property
    def confidence(self) -> float:
        """The calibrated probability of the best candidate (0 when there is none)."""
        return self.top_k[0].probability if self.top_k else 0.0
