"""The characters no name may hold: those that act on what shows a name instead of showing.

A name (a species, a vessel, a trip, a reviewer, a person's display name) is typed on one
device and shown on every other, in the hub's review queue and admin, in terminals and in
CSV exports opened in spreadsheets. Two kinds of character there show something other than
what is stored and compared:

- control characters (Unicode category Cc: C0, DEL and C1): a line feed forges a second row
  or line, an escape recolours a terminal, a bell rings; none is part of a name;
- Unicode's bidirectional controls (the embeddings and overrides U+202A-U+202E, the isolates
  U+2066-U+2069, the marks U+200E, U+200F and U+061C): an override shows ``Gadus morhua``
  reversed, or a name as another one ("Trojan Source", CVE-2021-42574), while it is matched,
  sorted and exported as stored.

Other format characters are kept: the zero-width joiner and non-joiner are parts of words
in Persian, Indic scripts and emoji. One rule, here, for the wire's ``Name`` (so the hub
refuses such a push and a device refuses to queue one) and for every place that takes a
name from a person before it reaches the wire (the hub's review queue, the catch panel,
``jaga catch``, enrolment), so that each refuses it early and in the same words.

Free text (a catch's notes, a refusal's reason) has a looser rule of its own: it holds no
embedding, override or isolate (``REORDERING_CONTROLS``), which reorder the text after them,
up to the end of a line or paragraph: a note shown in the review queue as other words than
stored. It keeps the marks (U+200E, U+200F, U+061C), which reorder nothing but what is next
to them and which a note in Arabic or Hebrew with a number in it needs to show as typed, and
the line breaks and tabs a note is written with.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


# The embeddings and overrides (U+202A-U+202E) and the isolates (U+2066-U+2069).
REORDERING_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def hidden_characters(text: str) -> list[str]:
    """The control characters and bidirectional controls ``text`` holds, each once, in the
    order they first appear."""
    found = (c for c in text if unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS)
    return list(dict.fromkeys(found))


def hidden_characters_problem(text: str, what: str = "a name") -> str | None:
    """Why ``text`` cannot be ``what`` (see the module), or None when it can. The characters
    are named escaped (``'\\u202e'``), so the message shows in order wherever it is shown."""
    hidden = hidden_characters(text)
    if not hidden:
        return None
    listed = ", ".join(ascii(c) for c in hidden)
    return f"{what} holds no control character or bidirectional override ({listed})"


def free_text_problem(text: str, what: str = "the text") -> str | None:
    """Why ``text`` cannot be free text ``what`` (see the module), or None when it can,
    naming the characters escaped as :func:`hidden_characters_problem` does."""
    found = list(dict.fromkeys(c for c in text if c in REORDERING_CONTROLS))
    if not found:
        return None
    listed = ", ".join(ascii(c) for c in found)
    return f"{what} holds no bidirectional embedding, override or isolate ({listed})"


def name_without_hidden_characters(text: str, max_length: int) -> str:
    """``text`` as a name (``hidden_characters_problem`` takes it): without the characters
    no name holds, or, where nothing else is left, their escaped form (``\\u202e``), cut to
    ``max_length``: an empty name is none, and some names are required. How a device knows
    such a name it holds in what the hub sends back (``sync.client.apply_people``); hub
    migration 0055 cleaned the names the hub stored before this rule with its own copy of
    it, as it was then (widening the rule needs a new migration, not a change to 0055)."""
    kept = "".join(c for c in text if not hidden_characters(c))
    if kept or not text:
        return kept
    return ascii(text)[1:-1][:max_length]
