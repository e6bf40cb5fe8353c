"""Catches the hub took before the protocol refused bidirectional controls in them (names
since 1008565, free text since 788da09) still hold them: a device refuses such a change on
pull and skips it, so no device of the site ever gets the catch, and the hub's admin shows
it with the control active (a vessel's name shown reversed misleads a reviewer).

Each such catch loses the characters the protocol now refuses in its fields: in its notes
(free text) the embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the
marks staying as free text keeps them; in its names (vessel, trip, haul, officer, species,
reviewer, pack, verdict reason, the predictions' species) every bidirectional control, marks
too, as a name holds none. A name left empty is no name (NULL), where the column takes one.
The catch is then logged again as any hub edit is: the changed fields stamped by the hub
(so a device's older copy gives way), and a new upsert appended to its site's change log,
the payload of its last one with the same characters taken out, which every device of the
site pulls (a device that skipped the old one too). The changes logged before stay as they
were: the log is append-only, and devices tell their place in it by them.

What changed is logged (the hub's log, ``WARNING``): the catch, its site, the fields, and
what each held, escaped. The characters are this migration's own copy, not
``sync.protocol.names``'s: a migration does what it did when it was written. Back: nothing
to undo (the characters are not put back)."""
# ruff: noqa: RUF012

from __future__ import annotations

import logging
from typing import Any

from django.db import connections, migrations
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

_log = logging.getLogger("sync.hub.migrations")

REORDERING = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI = REORDERING + "\u061c\u200e\u200f"
FREE_TEXT_FIELDS = ("notes",)
NAME_FIELDS = ("confirmed_species", "vessel", "trip", "haul", "officer", "reviewed_by",
               "pack_version", "status_reason")  # fmt: skip
NOT_NULL = frozenset({"notes", "officer", "reviewed_by"})  # "" where the column takes no NULL
# Names a catch must carry (``reviewed_by`` with its ``reviewed_at``): one of controls alone
# becomes its escaped text, as ``sync.protocol.names.name_without_hidden_characters`` (0055)
# makes it; None, or "", is refused by every device, which then skips the catch.
REQUIRED_NAMES = frozenset({"officer", "reviewed_by"})
NAME_MAX_LENGTH = 200  # the protocol's, and the name columns'
STAMPED = ("confirmed_species", "vessel", "trip", "haul", "officer", "notes", "predictions")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # the protocol's field stamps (``sync.hub.apply.lww``)


def _without(text: Any, characters: str) -> Any:
    if not isinstance(text, str):
        return text
    return text.translate({ord(c): None for c in characters})


def clean_fields(values: dict[str, Any], *, row: bool = False) -> dict[str, Any]:
    """The fields of ``values`` (a catch's columns, ``row``, or its payload) that hold a
    character they may not, with those characters taken out; unchanged ones are left out."""
    cleaned: dict[str, Any] = {}
    empty_kept = NOT_NULL if row else frozenset(FREE_TEXT_FIELDS)  # the wire's names: None
    for name in (*FREE_TEXT_FIELDS, *NAME_FIELDS):
        if name in values:
            rule = REORDERING if name in FREE_TEXT_FIELDS else BIDI
            value = _without(values[name], rule)
            if value == "" and values[name] != "":  # a name made of controls alone
                if name in REQUIRED_NAMES:
                    value = ascii(values[name])[1:-1][:NAME_MAX_LENGTH]
                elif name not in empty_kept:
                    value = None  # no name
            if value != values[name]:
                cleaned[name] = value
    if isinstance(predictions := values.get("predictions"), list):
        kept = [[_without(p[0], BIDI), *p[1:]] if isinstance(p, list) and p else p
                for p in predictions]  # fmt: skip
        if kept != predictions:
            cleaned["predictions"] = kept
    return cleaned


def _suspects(catches: Any) -> Any:
    """The catches any of whose fields holds one of the characters (a sequential scan,
    once; the predictions read as their JSON text, where PostgreSQL writes them as is)."""
    held = Q()
    for character in BIDI:
        for name in (*FREE_TEXT_FIELDS, *NAME_FIELDS, "predictions_text"):
            held |= Q(**{f"{name}__contains": character})
    return catches.annotate(predictions_text=Cast("predictions", TextField())).filter(held)


def _append_change(apps: Any, alias: str, catch: Any, payload: dict[str, Any]) -> int:
    """A new upsert of ``catch`` in its site's change log, as ``sync.hub.apply.changes``
    appends one: the cursor taken from the site's row, whose lock it holds to the end."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "UPDATE hub_site SET last_cursor = last_cursor + 1 WHERE id = %s RETURNING last_cursor",
            [catch.site_id],
        )
        (number,) = cursor.fetchone()
    apps.get_model("hub", "Change").objects.using(alias).create(
        site_id=catch.site_id, cursor=number, entity="fish_observation", entity_uid=catch.uid,
        operation="upsert", payload=payload, origin_device=None,
    )  # fmt: skip
    return int(number)


def clean_catches(apps: Any, alias: str) -> int:
    """Take the characters out of every catch that holds one and log it again; returns how
    many catches changed. Usable on a live database too (the tests' hub): the sites' change
    log locks are taken first, in id order, as every writer that appends changes takes them
    (``sync.hub.apply.changes.lock_sites``), then the catches'."""
    catches = apps.get_model("hub", "FishObservation").objects.using(alias)
    suspects = list(_suspects(catches).order_by("pk").values_list("pk", "site_id"))
    sites = apps.get_model("hub", "Site").objects.using(alias)
    list(sites.select_for_update().filter(pk__in={s for _, s in suspects}).order_by("pk"))
    cleaned_count = 0
    for catch in catches.select_for_update().filter(pk__in=[pk for pk, _ in suspects]):
        cleaned_count += _clean_catch(apps, alias, catch)
    return cleaned_count


def _clean_catch(apps: Any, alias: str, catch: Any) -> int:
    """1 when ``catch`` held a character it may not (now taken out, logged again), else 0."""
    held = {name: getattr(catch, name) for name in (*FREE_TEXT_FIELDS, *NAME_FIELDS)}
    held["predictions"] = catch.predictions
    cleaned = clean_fields(held, row=True)
    if not cleaned:
        return 0
    stamp = [timezone.now().strftime(_TIMESTAMP), "hub"]
    versions = dict(catch.field_versions or {})
    versions.update({name: stamp for name in cleaned if name in STAMPED})
    for name, value in cleaned.items():
        setattr(catch, name, value)
    catch.field_versions = versions
    catch.save(update_fields=[*cleaned, "field_versions", "updated_at"])
    last = apps.get_model("hub", "Change").objects.using(alias).filter(
        site_id=catch.site_id, entity="fish_observation", entity_uid=catch.uid,
        operation="upsert",
    ).order_by("-cursor").first()  # fmt: skip
    cursor = None
    if last is not None:  # none: nothing of it ever reached the log (nothing to resend)
        payload = dict(last.payload)
        payload.update(clean_fields(payload))
        cursor = _append_change(apps, alias, catch, payload)
    before = "; ".join(f"{name}={ascii(held[name])[:300]}" for name in sorted(cleaned))
    _log.warning(
        "migration 0052: catch %s of site %s: bidirectional controls taken out of %s,"
        " which held %s; logged again at cursor %s",
        catch.uid, catch.site.slug, ", ".join(sorted(cleaned)), before, cursor,
    )  # fmt: skip
    return 1


def _clean(apps: Any, schema_editor: Any) -> None:
    clean_catches(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0051_fish_photo_index"),
    ]

    operations = [
        migrations.RunPython(_clean, migrations.RunPython.noop),
    ]
