"""People, face templates and catches the hub took before the protocol refused hidden
characters in their names still hold them: a device refuses such a change on pull and skips
it, so no device of the site that did not hold the record already ever gets it. 0052 took
the bidirectional controls out of catches only; this takes out of every name field a pull
sends what the protocol refused when it was written (``sync.protocol.names``):

- a live person's display name and their consent's operator and text version (a badge,
  ``external_id``, is judged by its own rule and travels as stored: it is left as it is);
- a face template's model id, model version and source;
- a catch's names (vessel, trip, haul, officer, species, reviewer, pack, verdict reason,
  the predictions' species) and its notes (free text): the control characters (C0, DEL and
  C1: a line feed, an escape) 0052 left in its names, and whatever of its rule it missed.

A name made of such characters alone keeps its escaped form (``\\u202e``: an empty name is
none, and some names are required). The characters and the cleaning are this migration's
own copy of the protocol's rule (``name_without_hidden_characters``, ``free_text_problem``)
as it was, as 0052's are: a migration does what it did when it was written, so a hub
migrated from nothing after the rule changes runs the 0055 every other hub ran. Should the
protocol refuse more, a new migration cleans what it adds. The rows are found in SQL
(``name_pattern`` / ``text_pattern``: PostgreSQL regular expressions of the same
characters), not by reading every row here.

Each record that changed is logged again as any hub edit is: a catch's and a person's
changed fields stamped by the hub (so a device's older copy gives way; a template has no
stamps, and never changes once made), and a new upsert appended to its site's change log,
the payload of its last one cleaned the same way, which every device of the site pulls. The
changes logged before stay as they were: the log is append-only. An erased person (a
tombstone row) is never read, nor sent again: their last change is their tombstone. The
kiosk that enrolled a person holds their consent as it was: it takes the cleaned one as the
same consent (``sync.client.apply_people``), not as another one it must refuse.

What changed is logged (the hub's log, ``WARNING``): the record, its site, the fields and,
escaped, what each held; for a person only the characters taken out (a name in the hub's
log would outlive the person's erasure). Back: nothing to undo (as 0052)."""
# ruff: noqa: RUF012

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, migrations
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

_log = logging.getLogger("sync.hub.migrations")

# The protocol's rule as 0055 was written (``sync.protocol.names``): a name holds no control
# character (Unicode's Cc: C0, DEL, C1) nor bidirectional control; free text holds no
# embedding, override or isolate. Never widened here (see the module).
CONTROLS = frozenset(map(chr, (*range(0x20), *range(0x7F, 0xA0))))
REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BIDI = REORDERING | frozenset("\u061c\u200e\u200f")
NAME_REFUSED = CONTROLS | BIDI
TEXT_REFUSED = REORDERING
NAME_MAX_LENGTH = 200  # the protocol's, and the name columns'
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # the protocol's field stamps (``sync.hub.apply.lww``)
# How PostgreSQL writes a C0 control in a JSON value's text (``\u0001``, ``\n``): a JSON
# column cast to text is matched by this too (a backslash before such a letter matches as
# well, which reads the row for nothing).
JSON_ESCAPED_CONTROL = r"\\(u00[01][0-9a-fA-F]|[bfnrt])"

CONSENT_NAMES = ("operator", "text_version")
TEMPLATE_NAMES = ("model_id", "model_version", "source")
CATCH_NAMES = ("confirmed_species", "vessel", "trip", "haul", "officer", "reviewed_by",
               "pack_version", "status_reason")  # fmt: skip
CATCH_TEXTS = ("notes",)
CATCH_STAMPED = ("confirmed_species", "vessel", "trip", "haul", "officer", "notes", "predictions")


def _bracket(characters: frozenset[str]) -> str:
    """A PostgreSQL bracket expression of ``characters``, in ranges of ``\\uXXXX`` escapes."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, characters)):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return "[" + "".join(parts) + "]"


def name_pattern() -> str:
    return _bracket(NAME_REFUSED - {"\0"})  # PostgreSQL's text holds no NUL


def text_pattern() -> str:
    return _bracket(TEXT_REFUSED)


def json_name_pattern() -> str:
    """Names held in a JSON column, read as its text."""
    return f"{name_pattern()}|{JSON_ESCAPED_CONTROL}"


def cleaned_name(value: Any) -> Any:
    """``value`` as a name: without the characters no name holds, or, where nothing else is
    left, their escaped form (``\\u202e``), cut to the names' length."""
    if not isinstance(value, str):
        return value
    kept = "".join(c for c in value if c not in NAME_REFUSED)
    if kept or not value:
        return kept
    return ascii(value)[1:-1][:NAME_MAX_LENGTH]


def cleaned_text(value: Any) -> Any:
    """``value`` without the characters free text does not hold."""
    if not isinstance(value, str):
        return value
    return "".join(c for c in value if c not in TEXT_REFUSED)


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
    one per record (the log has no index on the record): a scan of the whole log, once per
    kind of record, and none when nothing is to clean (0.15 s a kind over 200,000 changes,
    100 records to clean; an index would cost every append to the log for a read made once)."""
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
    refused = NAME_REFUSED | TEXT_REFUSED
    parts = []
    for name in sorted(names):
        found = dict.fromkeys(c for c in str(values[name]) if c in refused)
        parts.append(f"{name} lost {', '.join(ascii(c) for c in found)}")
    return "; ".join(parts)


def _matching(names: tuple[str, ...], pattern: str) -> Q:
    held = Q()
    for name in names:
        held |= Q(**{f"{name}__regex": pattern})
    return held


def _suspect_people(apps: Any, alias: str) -> Any:
    consent = tuple(f"consent__{name}" for name in CONSENT_NAMES)
    people = apps.get_model("hub", "Person").objects.using(alias).filter(erased_at=None)
    return people.filter(_matching(("display_name", *consent), name_pattern()))


def _suspect_templates(apps: Any, alias: str) -> Any:
    templates = apps.get_model("hub", "FaceTemplate").objects.using(alias)
    live = templates.filter(person__erased_at=None)
    return live.filter(_matching(TEMPLATE_NAMES, name_pattern()))


def _suspect_catches(apps: Any, alias: str) -> Any:
    catches = apps.get_model("hub", "FishObservation").objects.using(alias)
    held = _matching(CATCH_NAMES, name_pattern()) | _matching(CATCH_TEXTS, text_pattern())
    held |= Q(predictions_text__regex=json_name_pattern())
    return catches.annotate(predictions_text=Cast("predictions", TextField())).filter(held)


@dataclass
class _Run:
    """What cleaning needs as it goes: the database, the last upsert of each record it may
    send again (``last_upserts``), and how many of each kind it changed."""

    apps: Any
    alias: str
    last: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    tally: Counter[str] = field(default_factory=Counter)

    def read_last(self, entity: str, rows: list[Any]) -> None:
        found = last_upserts(self.apps, self.alias, entity, rows)
        self.last |= {(entity, *key): payload for key, payload in found.items()}

    def send_again(self, entity: str, row: Any, clean: Any) -> int | None:
        """Append the record's last upsert, ``clean``ed, to its site's log; its cursor, or
        None when nothing of it was ever logged (nothing to send again)."""
        last = self.last.get((entity, row.site_id, str(row.uid)))
        if last is None:
            return None
        payload = clean(dict(last))
        return append_upsert(self.apps, self.alias, entity, row, payload)


def clean_names(apps: Any, alias: str) -> dict[str, int]:
    """Clean every record that holds a character it may not and log it again; returns how
    many of each kind changed. Usable on a live database too (the tests' hub): the sites'
    change-log locks are taken first, in id order, then the records' (whose query asks
    again, once locked, that a person is not erased). A person sent again is followed by
    their templates: a device that skipped the person skipped those too (of no person it
    holds), and its cursor is past them."""
    run = _Run(apps, alias)
    found = {
        "person": list(_suspect_people(apps, alias).values_list("pk", "site_id")),
        "face_template": list(_suspect_templates(apps, alias).values_list("pk", "site_id")),
        "fish_observation": list(_suspect_catches(apps, alias).values_list("pk", "site_id")),
    }
    lock_sites(apps, alias, {site for rows in found.values() for _, site in rows})
    people = _locked(_suspect_people(apps, alias), found["person"])
    templates = apps.get_model("hub", "FaceTemplate").objects.using(alias)
    theirs = list(templates.select_for_update().filter(person__in=people).order_by("pk"))
    tagged = _locked(_suspect_templates(apps, alias), found["face_template"])
    catches = _locked(_suspect_catches(apps, alias), found["fish_observation"])
    run.read_last("person", people)
    run.read_last("face_template", theirs + tagged)
    run.read_last("fish_observation", catches)
    by_person: dict[int, list[Any]] = {}
    for template in theirs:
        by_person.setdefault(template.person_id, []).append(template)
    for person in people:
        _clean_person(run, person, by_person.get(person.pk, []))
    sent = {person.pk for person in people}  # their templates went with them
    for template in tagged:
        if template.person_id not in sent:
            _clean_template(run, template)
    for catch in catches:
        _clean_catch(run, catch)
    return dict(run.tally)


def _locked(suspects: Any, found: list[tuple[int, int]]) -> list[Any]:
    rows = suspects.select_for_update(of=("self",)).filter(pk__in=[pk for pk, _ in found])
    rows = rows.select_related("site")  # its slug, for the log
    return list(rows.order_by("pk"))


def _stamped(row: Any, names: Any) -> dict[str, Any]:
    stamp = [timezone.now().strftime(TIMESTAMP), "hub"]
    return dict(row.field_versions or {}) | dict.fromkeys(names, stamp)


def _person_payload(payload: dict[str, Any]) -> dict[str, Any]:
    payload |= changed(payload, ("display_name",))
    if isinstance(consent := payload.get("consent"), dict):
        payload["consent"] = consent | changed(consent, CONSENT_NAMES)
    return payload


def _clean_person(run: _Run, person: Any, templates: list[Any]) -> None:
    """Take out of ``person`` the characters it may not hold; then log it again, and its
    templates after it (a device that skipped the person skipped them too)."""
    held = {"display_name": person.display_name} | {
        f"consent.{name}": person.consent.get(name) for name in CONSENT_NAMES
    }
    name = changed(held, ("display_name",))
    consent = changed(person.consent, CONSENT_NAMES)
    if not (name or consent):
        return
    person.display_name = name.get("display_name", person.display_name)
    person.consent = person.consent | consent  # its dates stay: so does ``retain_until``
    person.field_versions = _stamped(person, name)
    person.save(update_fields=["display_name", "consent", "field_versions", "updated_at"])
    cursor = run.send_again("person", person, _person_payload)
    fields = [*name, *(f"consent.{field}" for field in consent)]
    _log.warning(
        "migration 0055: person %s of site %s: hidden characters taken out of %s (%s);"
        " logged again at cursor %s",
        person.uid, person.site.slug, ", ".join(sorted(fields)), taken_out(held, fields),
        cursor,
    )  # fmt: skip
    run.tally["person"] += 1
    if cursor is not None:
        for template in templates:
            _clean_template(run, template, resend=True)


def _template_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return payload | changed(payload, TEMPLATE_NAMES)


def _clean_template(run: _Run, template: Any, *, resend: bool = False) -> None:
    """Take out of ``template`` the characters it may not hold and log it again; ``resend``:
    log it again all the same (its person was)."""
    held = {name: getattr(template, name) for name in TEMPLATE_NAMES}
    cleaned = changed(held, TEMPLATE_NAMES)
    if cleaned:
        for name, value in cleaned.items():
            setattr(template, name, value)
        template.save(update_fields=list(cleaned))
    if not (cleaned or resend):
        return
    cursor = run.send_again("face_template", template, _template_payload)
    if not cleaned:
        return
    _log.warning(
        "migration 0055: face template %s of site %s: hidden characters taken out of %s,"
        " which held %s; logged again at cursor %s",
        template.uid, template.site.slug, ", ".join(sorted(cleaned)),
        held_text(held, cleaned), cursor,
    )  # fmt: skip
    run.tally["face_template"] += 1


def _catch_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The catch's fields (its columns, or its payload) that cleaning changes, cleaned."""
    cleaned = changed(values, CATCH_NAMES, CATCH_TEXTS)
    if isinstance(predictions := values.get("predictions"), list):
        kept = [[cleaned_name(p[0]), *p[1:]] if isinstance(p, list) and p else p
                for p in predictions]  # fmt: skip
        if kept != predictions:
            cleaned["predictions"] = kept
    return cleaned


def _catch_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return payload | _catch_changes(payload)


def _clean_catch(run: _Run, catch: Any) -> None:
    held = {name: getattr(catch, name) for name in (*CATCH_NAMES, *CATCH_TEXTS, "predictions")}
    cleaned = _catch_changes(held)
    if not cleaned:
        return
    for name, value in cleaned.items():
        setattr(catch, name, value)
    catch.field_versions = _stamped(catch, (n for n in cleaned if n in CATCH_STAMPED))
    catch.save(update_fields=[*cleaned, "field_versions", "updated_at"])
    cursor = run.send_again("fish_observation", catch, _catch_payload)
    _log.warning(
        "migration 0055: catch %s of site %s: hidden characters taken out of %s, which held"
        " %s; logged again at cursor %s",
        catch.uid, catch.site.slug, ", ".join(sorted(cleaned)), held_text(held, cleaned),
        cursor,
    )  # fmt: skip
    run.tally["fish_observation"] += 1


def _clean(apps: Any, schema_editor: Any) -> None:
    clean_names(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0054_access_event_clock_suspect"),
    ]

    operations = [
        migrations.RunPython(_clean, migrations.RunPython.noop),
    ]
