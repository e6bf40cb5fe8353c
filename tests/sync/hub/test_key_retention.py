"""Idempotency keys of pushes other than access events (``sync.hub.retention``): ``jaga hub
purge-expired`` deletes those whose replay, once the key is gone, is answered as before and
changes nothing (face templates, photos, an erased person's upserts and tombstones) two
decision windows after the hub took them; the keys of a push whose replay could still apply
(a live person's edit, a catch's) stay."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sync.hub.key_retention import KEYS_PURGED
from sync.hub.models import AppliedEntry, Change, FaceTemplate, Person, Photo
from sync.hub.retention import DecisionReport, purge_decisions
from sync.protocol import RETENTION_REASON, OutboxEntry
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

WINDOW = 365
PHOTO = os.urandom(1000)


def _purge(days_on: int, *, dry_run: bool = False) -> DecisionReport:
    return purge_decisions(
        timezone.now() + timedelta(days=days_on), keep_days=WINDOW, dry_run=dry_run
    )


def _two_windows_on(*, dry_run: bool = False) -> DecisionReport:
    """The purge a day past two windows after now: the keys of what was pushed so far are due."""
    return _purge(2 * WINDOW + 1, dry_run=dry_run)


def _push(api: Api, *entries: OutboxEntry) -> None:
    pushed = api.push(*entries)
    assert pushed == {"acknowledged": [str(x.idempotency_key) for x in entries], "rejected": []}


def _keys(*entries: OutboxEntry) -> set[UUID]:
    return {entry.idempotency_key for entry in entries}


def _kept(*entries: OutboxEntry) -> set[UUID]:
    """The keys of ``entries`` the hub still holds."""
    held = AppliedEntry.objects.filter(key__in=_keys(*entries))
    return set(held.values_list("key", flat=True))


def _changes(api: Api) -> list[tuple[int, str]]:
    changes = Change.objects.filter(site__slug=api.site).order_by("cursor")
    return [(cursor, str(uid)) for cursor, uid in changes.values_list("cursor", "entity_uid")]


def _enrolled(api: Api) -> tuple[OutboxEntry, OutboxEntry, OutboxEntry]:
    """A person, their face template and their photo, as a kiosk enrols them."""
    person = e.person(api.site)
    uid = person["person_uid"]
    return (
        e.entry("person", "upsert", person, sequence=1),
        e.entry("face_template", "upsert", e.template(uid, [0.1] * 128), sequence=2),
        e.entry("photo", "upsert", e.photo(PHOTO, person_uid=uid), sequence=3),
    )


def _erased(person: OutboxEntry, when: datetime) -> OutboxEntry:
    return e.entry("person", "tombstone", e.tombstone(str(person.entity_uid), when), sequence=4)


def test_keys_of_an_old_push_go_where_a_replay_does_no_harm_and_recent_ones_stay(
    api: Api,
) -> None:
    live, template, person_photo = _enrolled(api)
    gone, *_ = _enrolled(api)
    erasure = _erased(gone, timezone.now())
    catch_photo = e.entry("photo", "upsert", e.photo(PHOTO))
    catch = e.entry(
        "fish_observation", "upsert", e.observation(photo_uid=str(catch_photo.entity_uid))
    )
    pushed = (live, template, person_photo, gone, erasure, catch_photo, catch)
    _push(api, *pushed)
    _purge(2 * WINDOW - 1)
    assert _kept(*pushed) == _keys(*pushed)  # taken less than two windows ago
    listed = _two_windows_on(dry_run=True)
    assert _kept(*pushed) == _keys(*pushed)  # a dry run deletes none
    done = _two_windows_on()
    assert _kept(*pushed) == _keys(live, catch)  # a replay of these could still apply
    assert done.applied_entries == listed.applied_entries >= 5


def test_a_template_replayed_after_its_key_went_is_answered_the_same(api: Api) -> None:
    person, template, _ = _enrolled(api)
    _push(api, person, template)
    _two_windows_on()
    assert _kept(person, template) == _keys(person)
    changes = _changes(api)
    _push(api, template)  # an acknowledgement lost on the way, pushed again
    assert FaceTemplate.objects.filter(person__uid=person.entity_uid).count() == 1
    assert _changes(api) == changes
    _push(api, _erased(person, timezone.now()))
    changes = _changes(api)
    _push(api, template)  # and again, after the person's erasure
    assert not FaceTemplate.objects.filter(uid=template.entity_uid).exists()
    assert _changes(api) == changes  # nothing a device pulls


def test_a_photo_replayed_after_its_key_went_is_answered_the_same(api: Api) -> None:
    person, _, person_photo = _enrolled(api)
    catch_photo = e.entry("photo", "upsert", e.photo(PHOTO))
    _push(api, person, person_photo, catch_photo)
    _two_windows_on()
    assert _kept(person_photo, catch_photo) == set()
    held = list(Photo.objects.filter(site__slug=api.site).order_by("uid").values())
    changes = _changes(api)
    _push(api, person_photo, catch_photo)
    assert list(Photo.objects.filter(site__slug=api.site).order_by("uid").values()) == held
    assert _changes(api) == changes
    _push(api, _erased(person, timezone.now()))
    changes = _changes(api)
    _push(api, person_photo)  # after its person's erasure: not stored again
    assert not Photo.objects.filter(uid=person_photo.entity_uid).exists()
    assert _changes(api) == changes


def test_an_erased_persons_entries_replayed_after_their_keys_went_change_nothing(
    api: Api,
) -> None:
    person, template, _ = _enrolled(api)
    erasure = _erased(person, timezone.now() - timedelta(hours=1))
    _push(api, person, template, erasure)
    _two_windows_on()
    assert _kept(person, template, erasure) == set()
    erased = Person.objects.values().get(uid=person.entity_uid)
    changes = _changes(api)
    _push(api, person, template, erasure)
    assert Person.objects.values().get(uid=person.entity_uid) == erased
    assert not FaceTemplate.objects.filter(person__uid=person.entity_uid).exists()
    assert _changes(api) == changes  # no person for the site's devices to pull back


def test_the_keys_of_a_live_person_and_of_a_catch_stay(api: Api) -> None:
    """A replay of an edit is settled by its stamp, the device's clock clamped to the hub's
    at the time: a device clock ahead then gives a replay a later stamp than its original's,
    which would undo what was edited since. A retention erasure the hub put off (the
    person's date not reached by its clock) would, replayed, send the person to every
    device again. Such keys stay; the person's erasure ends theirs."""
    person, *_ = _enrolled(api)
    early = {**e.tombstone(str(person.entity_uid), timezone.now()), "reason": RETENTION_REASON}
    put_off = e.entry("person", "tombstone", early, sequence=2)
    catch = e.entry("fish_observation", "upsert", e.observation())
    edit = e.entry("fish_observation", "upsert", e.observation(str(catch.entity_uid), notes="x"))
    _push(api, person, put_off, catch, edit)
    assert AppliedEntry.objects.get(key=put_off.idempotency_key).outcome == "early_retention"
    _two_windows_on()
    assert _kept(person, put_off, catch, edit) == _keys(person, put_off, catch, edit)
    _push(api, _erased(person, timezone.now()))
    _two_windows_on()
    assert _kept(person, put_off, catch, edit) == _keys(catch, edit)


def test_each_batch_of_keys_is_read_from_an_index(api: Api) -> None:
    """The keys' table holds an entry for every push: a batch reads only the due keys of one
    entity from an index (``applied_access_event_at``, ``applied_entity_at``), from where the
    batch before stopped, never the whole table."""
    person, template, _ = _enrolled(api)
    _push(api, person, template, _erased(person, timezone.now()))
    with CaptureQueriesContext(connection) as captured:
        _two_windows_on()
    batches = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith('SELECT "hub_appliedentry"."received_at"')
    ]
    assert len(batches) > len(KEYS_PURGED)  # each entity's, and a next from where one stopped
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # what the planner does on a big table
        for sql in batches:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # An index scan, or a bitmap scan of the index when the planner expects few rows
            # (as with the session's other keys about): either reads the index, not the table.
            assert re.search(r"Index Scan (using|on) applied_", plan), plan
            assert "Seq Scan on hub_appliedentry" not in plan, plan
