"""Names and free text the hub stored before the protocol refused hidden characters in them,
made into what the protocol takes now: the cleaning of migration 0055.

The characters are the protocol's own (``sync.protocol.names``): a name is cleaned by its
``name_without_hidden_characters`` (out go the control characters, C0, DEL and C1, and every
bidirectional control; a name made of them alone keeps their escaped form, ``\\u202e``, as
an empty name is none and some names are required), free text loses what
``free_text_problem`` refuses (the embeddings, overrides and isolates). The protocol's rules
refuse a text when one of its characters is refused alone, so the characters to find are
those each rule refuses in a text of one character (``name_refuses``, ``text_refuses``),
and the cleaning and the refusal cannot disagree. NUL is left out: PostgreSQL's text holds
none.

The rows are found in SQL (``name_pattern`` / ``text_pattern``: PostgreSQL regular
expressions of the same characters), not by reading every row here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from django.db import connections

from sync.protocol.names import (
    free_text_problem,
    hidden_characters_problem,
    name_without_hidden_characters,
)
from sync.protocol.types import NAME_MAX_LENGTH

_BLOCK = 4096  # characters asked of a rule at once (``_refused``)
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # the protocol's field stamps (``sync.hub.apply.lww``)
# How PostgreSQL writes a C0 control in a JSON value's text (``\u0001``, ``\n``): a JSON
# column cast to text is matched by this too (a backslash before such a letter matches as
# well, which reads the row for nothing).
JSON_ESCAPED_CONTROL = r"\\(u00[01][0-9a-fA-F]|[bfnrt])"


@cache
def _refused(rule: Callable[[str], str | None]) -> frozenset[str]:
    """Every character (but NUL) that ``rule`` refuses in a text made of it alone, asked of
    blocks of characters first and only then of those in a block it refuses (a call per
    character, 1.1 million of them, took seconds)."""
    return frozenset(_refused_in(rule, range(1, sys.maxunicode + 1)))


def _refused_in(rule: Callable[[str], str | None], codes: range) -> Iterator[str]:
    if len(codes) > _BLOCK:
        for start in range(codes.start, codes.stop, _BLOCK):
            yield from _refused_in(rule, range(start, min(start + _BLOCK, codes.stop)))
        return
    text = "".join(map(chr, codes))
    if rule(text) is None:
        return
    if len(codes) == 1:
        yield text
        return
    middle = codes.start + len(codes) // 2
    yield from _refused_in(rule, range(codes.start, middle))
    yield from _refused_in(rule, range(middle, codes.stop))


def name_refuses() -> frozenset[str]:
    return _refused(hidden_characters_problem)


def text_refuses() -> frozenset[str]:
    return _refused(free_text_problem)


def _bracket(characters: frozenset[str]) -> str:
    """A PostgreSQL bracket expression of ``characters``, in ranges of ``\\uXXXX`` escapes."""
    codes = sorted(ord(c) for c in characters)
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return "[" + "".join(parts) + "]"


def name_pattern() -> str:
    return _bracket(name_refuses())


def text_pattern() -> str:
    return _bracket(text_refuses())


def json_name_pattern() -> str:
    """Names held in a JSON column, read as its text."""
    return f"{name_pattern()}|{JSON_ESCAPED_CONTROL}"


def cleaned_name(value: Any) -> Any:
    """``value`` as a name (``name_without_hidden_characters``, the protocol's)."""
    if not isinstance(value, str):
        return value
    return name_without_hidden_characters(value, NAME_MAX_LENGTH)


def cleaned_text(value: Any) -> Any:
    """``value`` without the characters free text does not hold."""
    if not isinstance(value, str):
        return value
    refused = text_refuses()
    return "".join(c for c in value if c not in refused)


def changed(
    values: dict[str, Any], names: tuple[str, ...], texts: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of ``values`` among ``names`` and ``texts`` that cleaning changes, cleaned."""
    found = {name: cleaned_name(values[name]) for name in names if name in values}
    found |= {name: cleaned_text(values[name]) for name in texts if name in values}
    return {name: value for name, value in found.items() if value != values[name]}


def lock_sites(apps: Any, alias: str, site_ids: set[int]) -> None:
    """The sites' change-log locks, in id order, first (``sync.hub.apply.changes``)."""
    sites = apps.get_model("hub", "Site").objects.using(alias)
    list(sites.select_for_update().filter(pk__in=site_ids).order_by("pk").values("pk"))


def last_upserts(apps: Any, alias: str, entity: str, rows: list[Any]) -> dict[Any, Any]:
    """The payload of the newest upsert of each of ``rows`` (records with a uid and a site)
    in its site's change log, by ``(site_id, uid)``: one read of the log for them all, not
    one per record (the log has no index on the record)."""
    changes = apps.get_model("hub", "Change").objects.using(alias)
    found = changes.filter(entity=entity, entity_uid__in={row.uid for row in rows})
    newest = found.filter(operation="upsert").order_by("site_id", "entity_uid", "-cursor")
    held = newest.distinct("site_id", "entity_uid").values_list("site_id", "entity_uid", "payload")
    return {(site_id, str(uid)): payload for site_id, uid, payload in held}


def append_upsert(apps: Any, alias: str, entity: str, row: Any, payload: dict[str, Any]) -> int:
    """A new upsert in the site's change log, as ``sync.hub.apply.changes`` appends one (the
    hub's own edit: no origin device); returns its cursor."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "UPDATE hub_site SET last_cursor = last_cursor + 1 WHERE id = %s RETURNING last_cursor",
            [row.site_id],
        )
        (number,) = cursor.fetchone()
    apps.get_model("hub", "Change").objects.using(alias).create(
        site_id=row.site_id, cursor=number, entity=entity, entity_uid=row.uid, operation="upsert",
        payload=payload, origin_device=None,
    )  # fmt: skip
    return int(number)


def held_text(values: dict[str, Any], names: Any) -> str:
    """What the fields held, escaped (shown in order in any log), for the hub's log."""
    return "; ".join(f"{name}={ascii(values[name])[:300]}" for name in sorted(names))


def taken_out(values: dict[str, Any], names: Any) -> str:
    """The characters taken out of each field, escaped, but not the rest of its text (a
    person's name must not outlive their erasure in the hub's log)."""
    refused = name_refuses() | text_refuses()
    parts = []
    for name in sorted(names):
        found = dict.fromkeys(c for c in str(values[name]) if c in refused)
        parts.append(f"{name} lost {', '.join(ascii(c) for c in found)}")
    return "; ".join(parts)
