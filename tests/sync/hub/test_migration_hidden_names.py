"""0055: people, face templates and catches the hub took before the protocol refused hidden
characters in their names lose them, by the protocol's rule as 0055 was written (its own
copy), and are logged again (a person with their templates), so every device gets them; an
erased person stays erased. A hub at 0054 holding such records, migrated as a hub upgrading
migrates."""

from __future__ import annotations

import importlib
import logging
import sys
from datetime import datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from sync.hub.models import Change, FaceTemplate, FishObservation, Person
from sync.protocol import PersonUpsert, names, parse_payload
from sync.protocol.names import free_text_problem, hidden_characters_problem
from tests.sync.hub import entries as e
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_migrations import upgraded

__all__ = ["upgraded"]

BEFORE = ("hub", "0054_access_event_clock_suspect")
MIGRATION = "sync.hub.migrations.0055_names_without_hidden_characters"
NAME = "Ana \u202eziuR"  # shown as "Ana Ruiz"
OPERATOR = "officer\u200f-7\x1b[31m"  # a mark, and a terminal's escape
JOINED = "Ana\u200dRuiz"  # a zero-width joiner is part of words: kept


def _person(apps: Any, alias: str, site: Any, cursor: int, name: str, **consent: str) -> Any:
    """A person as the hub before 0055 took them: their row and their upsert in the log."""
    payload = e.person(site.slug, name=name)
    payload["consent"] |= consent
    person = apps.get_model("hub", "Person").objects.using(alias).create(
        uid=payload["person_uid"], site=site, external_id=payload["external_id"],
        display_name=name, consent=payload["consent"],
        retain_until=datetime.fromisoformat(payload["consent"]["retain_until"]),
        field_versions={"display_name": ["2026-03-01T08:00:00.000000Z", "device"]},
    )  # fmt: skip
    _logged(apps, alias, person, cursor, payload)
    return person


def _template(apps: Any, alias: str, person: Any, cursor: int, **fields: str) -> Any:
    payload = e.template(str(person.uid), [0.1] * 128) | fields
    template = apps.get_model("hub", "FaceTemplate").objects.using(alias).create(
        uid=payload["template_uid"], person=person, site_id=person.site_id,
        model_id=payload["model_id"], model_version=payload["model_version"],
        embedding=[0.1] * 128, quality=0.9, source=payload["source"],
    )  # fmt: skip
    _logged(apps, alias, template, cursor, payload)
    return template


ENTITIES = {
    "Person": "person",
    "FaceTemplate": "face_template",
    "FishObservation": "fish_observation",
}


def _logged(apps: Any, alias: str, row: Any, cursor: int, payload: dict[str, Any]) -> None:
    """``row``'s upsert in its site's change log, as the hub logged it then."""
    apps.get_model("hub", "Change").objects.using(alias).create(
        site_id=row.site_id, cursor=cursor, entity=ENTITIES[type(row).__name__],
        entity_uid=row.uid, operation="upsert", payload=payload, origin_device=None,
    )  # fmt: skip


def _catch(apps: Any, alias: str, site: Any, cursor: int, **fields: Any) -> Any:
    payload = e.observation(**fields)
    catch = apps.get_model("hub", "FishObservation").objects.using(alias).create(
        uid=payload["observation_uid"], site=site, observed_at=timezone.now(),
        officer=payload["officer"], vessel=payload["vessel"], trip=payload["trip"],
        notes=payload["notes"], predictions=payload["predictions"], field_versions={},
    )  # fmt: skip
    _logged(apps, alias, catch, cursor, payload)
    return catch


def _older_hub(alias: str) -> dict[str, Any]:
    """A hub at 0054 holding, as it took them, the records 0055 has to clean, and others."""
    migrated_to(alias, ("auth",), BEFORE)
    apps = MigrationLoader(connections[alias]).project_state(BEFORE).apps
    site = apps.get_model("hub", "Site").objects.using(alias).create(slug="gate", last_cursor=7)
    named = _person(apps, alias, site, 1, NAME, operator=OPERATOR)
    made = {
        "named": named,
        "template": _template(apps, alias, named, 2),  # plain: sent again after its person
        "joined": _person(apps, alias, site, 3, JOINED),
        "erased": _person(apps, alias, site, 4, "\u202eX"),
        "catch": _catch(apps, alias, site, 5, vessel="Gaviota\n", predictions=[["Gadus\x85", 0.9]]),
        "plain": _person(apps, alias, site, 6, "Bo"),
    }
    made["tagged"] = _template(apps, alias, made["plain"], 7, source="camera\x1b[0m")
    made["erased"].erased_at, made["erased"].display_name = timezone.now(), "\u202eX"
    made["erased"].save()  # a tombstone row that still held a control: never sent again
    return made


def test_0055_takes_hidden_characters_out_of_people_templates_and_catches(
    upgraded: str, caplog: pytest.LogCaptureFixture
) -> None:
    made = _older_hub(upgraded)
    with caplog.at_level(logging.WARNING, logger="sync.hub.migrations"):
        call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    person = Person.objects.using(upgraded).get(uid=made["named"].uid)
    held = (person.display_name, person.consent["operator"])
    assert held == ("Ana ziuR", "officer-7[31m"), f"the person still holds {held}"
    assert person.field_versions["display_name"][1] == "hub"
    joined = Person.objects.using(upgraded).get(uid=made["joined"].uid)
    assert joined.display_name == JOINED  # the protocol takes it: left as it is
    erased = Person.objects.using(upgraded).get(uid=made["erased"].uid)
    assert erased.display_name == "\u202eX", "an erased person's row was touched"
    tagged = FaceTemplate.objects.using(upgraded).get(uid=made["tagged"].uid)
    assert tagged.source == "camera[0m"
    catch = FishObservation.objects.using(upgraded).get(uid=made["catch"].uid)
    assert (catch.vessel, catch.predictions) == ("Gaviota", [["Gadus", 0.9]])
    log = Change.objects.using(upgraded).filter(site__slug="gate", cursor__gt=7)
    sent = [(c.entity, str(c.entity_uid)) for c in log.order_by("cursor")]
    assert sent == [
        ("person", str(made["named"].uid)), ("face_template", str(made["template"].uid)),
        ("face_template", str(made["tagged"].uid)), ("fish_observation", str(made["catch"].uid)),
    ], sent  # fmt: skip
    for change in log:  # every device takes them now
        assert change.origin_device is None
        parse_payload(change.entity, change.operation, change.payload)
    again = parse_payload("person", "upsert", log.get(entity="person").payload)
    assert isinstance(again, PersonUpsert) and again.display_name == "Ana ziuR"
    lines = [r.getMessage() for r in caplog.records if "0055" in r.getMessage()]
    (said,) = [line for line in lines if str(made["named"].uid) in line]
    assert "consent.operator lost '\\u200f', '\\x1b'" in said and "ziuR" not in said, said
    assert len(lines) == 3, lines  # the person, the tagged template, the catch


def test_0055s_frozen_rule_is_the_protocols_as_0055_was_written() -> None:
    """The characters 0055 finds and takes out are those the protocol refused when it was
    written. Should this fail because the protocol now refuses more, 0055 stays as it is: a
    new migration cleans what the protocol added (and this test names 0055's set then)."""
    migration = importlib.import_module(MIGRATION)
    every = "".join(chr(code) for code in range(sys.maxunicode + 1))
    assert {c for c in every if hidden_characters_problem(c)} == migration.NAME_REFUSED
    assert {c for c in every if free_text_problem(c)} == migration.TEXT_REFUSED
    assert hidden_characters_problem(migration.cleaned_name(every[:40000])) is None
    assert migration.cleaned_name("\u202e\n") == "\\u202e\\n"  # a name, not none
    assert migration.cleaned_name(JOINED) == JOINED
    assert migration.cleaned_text("a\u202eb\u200e\n") == "ab\u200e\n"  # free text keeps marks


def test_0055s_patterns_find_in_sql_what_its_rule_refuses(hub_database: str) -> None:
    """PostgreSQL reads the patterns as meant: every character 0055 refuses, and no other."""
    migration = importlib.import_module(MIGRATION)
    every = [chr(c) for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF]  # no surrogates
    for pattern, refused in (
        (migration.name_pattern(), migration.NAME_REFUSED),
        (migration.text_pattern(), migration.TEXT_REFUSED),
    ):
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT array_agg(c ORDER BY c) FROM unnest(%s::text[]) c WHERE c ~ %s",
                [every, pattern],
            )
            (found,) = cursor.fetchone()
        assert set(found) == {c for c in refused if 0 < ord(c) < 0x30000}, pattern


def test_0055_cleans_by_its_own_frozen_rule_not_the_protocols_live_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A migration does what it did when written: widen the protocol's rule (here the
    zero-width joiner becomes a name's hidden character, and free text's too) and 0055 finds
    and cleans exactly what it did, as a hub migrated before the change did."""
    migration = importlib.import_module(MIGRATION)
    held = {"vessel": "Ga\u200dviota\u202e", "notes": "n\u200do\u202e", "predictions": None}
    before = (migration._catch_changes(held), migration.name_pattern(), migration.text_pattern())
    monkeypatch.setattr(names, "BIDI_CONTROLS", names.BIDI_CONTROLS | {"\u200d"})
    monkeypatch.setattr(names, "REORDERING_CONTROLS", names.REORDERING_CONTROLS | {"\u200d"})
    assert names.name_without_hidden_characters(JOINED, 200) == "AnaRuiz"  # the rule is wider
    after = (migration._catch_changes(held), migration.name_pattern(), migration.text_pattern())
    assert after == before, f"0055 follows the protocol's live rule: {after[0]} != {before[0]}"
    assert before[0] == {"vessel": "Ga\u200dviota", "notes": "n\u200do"}
