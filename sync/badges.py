"""Badge numbers (a person's ``external_id``): what a new one may be, and when two are one.

Shared by a device's store (``sync.store.badges``, at enrolment) and the hub
(``sync.hub.apply.people``, at a push), so both judge a badge alike; it imports neither.

A badge is what an operator types, a badge reader sends, and a listing shows. Two ids that a
person cannot tell apart on a screen or a card must not name two people, and an id must not
act on the terminal that shows it. So a new badge (``badge_flaw`` says why not):

- holds no control character (Unicode category C*: a line feed would forge a second row of
  ``jaga store people``, an escape recolour the terminal, a bidirectional override show the
  characters in another order, a zero-width space hide a difference);
- neither begins nor ends with white space. It is refused, not silently stripped: what is
  stored is then exactly what the operator typed and saw accepted, and a reader that pads
  its output shows up at enrolment rather than as a badge that never matches;
- writes its letters in one script (Latin, Cyrillic, Greek...; Japanese and Korean mixes
  with Han and Latin are one writing, as Unicode's "highly restrictive" level of UTS #39
  has it): a Cyrillic ``\u0412`` (VE) among Latin letters is the classic look-alike.

Two badges are the same badge when their ``badge_key`` is: compared after NFKC (full-width
``\uff22`` is ``B``), ignoring case, surrounding white space, and the Cyrillic and Greek
letters drawn like a Latin one (``\u0412-1``, all Cyrillic, is ``B-1``). That last table is a small
subset of Unicode's confusables (the letters of the two scripts that share Latin's shapes),
not all of them; the standard library has no confusables data, and a badge is short,
usually Latin letters and digits. The key is only compared, never stored.
"""

from __future__ import annotations

import unicodedata

# Lower-case (the key is case-folded) Cyrillic and Greek letters whose upper or lower case
# is drawn as a Latin letter's: Cyrillic VE/B, EN/H, ER/P; Greek RHO/P, CHI/X...
_LOOKS_LATIN = str.maketrans(
    {
        **dict(zip("авекмнорстухіјѕԁԛԝӏһү", "abekmhopctyxijsdqwlhy", strict=True)),
        **dict(zip("αβεζηικμνορτυχϲ", "abezhikmnoptyxc", strict=True)),
    }
)
# The first word of a letter's Unicode name that is not its script's name.
_SCRIPT_WORDS = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "MODIFIER": None, "KATAKANA-HIRAGANA": None}
# Scripts one id may mix (UTS #39 "highly restrictive"): Japanese, Chinese, Korean writing.
_ONE_WRITING = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def badge_key(external_id: str) -> str:
    """What two ids must differ in to be two badges (see the module's docstring)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", external_id).casefold())
    return folded.strip().translate(_LOOKS_LATIN)


def badge_flaw(external_id: str) -> str | None:
    """Why ``external_id`` cannot be a new badge, as a predicate of "the badge" that does not
    repeat it (a hub's reasons are kept, a badge is personal data), or None when it can."""
    for character in external_id:
        if unicodedata.category(character).startswith("C"):
            return f"holds a control character (U+{ord(character):04X}); a badge is printable text"
    if external_id != external_id.strip():
        return (
            "begins or ends with a space; give it without (nothing is stripped: the badge is"
            " stored as typed)"
        )
    scripts = _scripts(unicodedata.normalize("NFKC", external_id))
    if len(scripts) > 1 and not any(scripts <= writing for writing in _ONE_WRITING):
        names = ", ".join(sorted(script.title() for script in scripts))
        return (
            f"mixes scripts ({names}): their look-alike letters (Cyrillic \u0412, Latin B)"
            " would make two badges read as one; type it in one script"
        )
    return None


def _scripts(text: str) -> frozenset[str]:
    """The scripts of the letters in ``text`` (digits, punctuation and marks belong to all),
    by the first word of each letter's Unicode name."""
    found = set()
    for character in text:
        if unicodedata.category(character).startswith("L"):
            word = unicodedata.name(character, "").split(" ")[0]
            script = _SCRIPT_WORDS.get(word, word)
            if script:
                found.add(script)
    return frozenset(found)
