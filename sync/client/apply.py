"""Apply one page of pulled changes to the device store, with the cursor, in one transaction.

The hub is authoritative: a pulled record replaces the device's copy field by field (the hub
has already resolved conflicts by last-writer-wins). Pulled rows are written without outbox
entries, since they came from the hub. A tombstone erases the person here exactly as a local
erasure does (templates and photos deleted, outbox payloads blanked, an audit entry naming
only the uid), and a person this device erased itself is never brought back by an older
upsert; but for its retention purge's erasure once the hub acknowledged it, since a hub that
sends the person after that kept them (``_erased_here``), and this device then notes when to
erase them next (``sync.store.retention_kept``). A fish observation's
``pack_version``, ``crop``, ``status`` and ``status_reason`` are taken only from a change
that carries them: one written before the hub knew the fields says nothing about them (nor
one pulled on protocol 2), so an observation first seen without its box is stored with
``crop_known`` 0, and this device's edits of it leave the box out (``observation_payload``).
A change that cannot apply here (a template for a person this device does not hold, a record
erased here) is skipped with its reason; anything else aborts the page, and neither the
records nor the cursor move. The newest ``changed_at`` of a page (the hub's clock, or a
later stamp of the record it logs), held to the hub's time in the answer, is kept with it:
this device's later edits are stamped after it (``sync.store.edit_clock``), so they win over
what it pulled.

A person whose badge another person on this device holds cannot apply yet, but can once
that person is erased here or given another badge. That change, and the templates pulled
for the person after it, are set aside in the store (``deferred_changes``, schema 10) as
the cursor moves on, and tried again, in the order they were pulled, after every page this
device applies, until they apply or a newer change of the same record replaces them. An
erasure of the person deletes them (``remove_person``), and is recorded and purged from the
store's files as the erasure of a person held here is (a restore carries it over); a new
registration to another site deletes the old site's (``save_registration``). Log lines name
records by uid, never by badge or name: logs outlive an erasure.

Pulling a site again from the start because older code pulled it (``sync.client.full_pull``;
not after the hub renewed its log, ``sync.client.log_epoch``), a change at or before the
cursor older code had reached is a replay of one this device took before: it never replaces
what this device holds with an older version. A person or template held here is left as it
is, one not held (older code skipped it) is taken, with the later versions the re-pull
brings; a tombstone applies; a catch held here is given only what older protocols did not
carry and it lacks (``_fill_observation``); species pack announcements are not taken again:
they name older packs (they count only with a hub that names no pack in its answer:
``_species_pack``). Pulling again a log the hub renewed, every change applies as in any
pull, but for a catch reviewed here later than the change says (a hub review pulled after
the backup the hub was restored from): it keeps its review, and its version is queued again
so the hub takes it back (``_newer_review_here``).

A fish observation first seen in a pull is another boat's catch (``recorded_here`` 0, schema
11), unless the change came from this device (``device``): its own catch coming back, after
a restore from an older backup. A later change of a row leaves where it came from as it is.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sync.client.full_pull import note_progress, under_way
from sync.client.packs import forget_withdrawn_pack
from sync.client.site_state import cursor_name, log_seal_name, log_tip_name
from sync.client.state import record_species_pack
from sync.protocol import (
    RETENTION_REASON,
    Change,
    FaceTemplateUpsert,
    FishObservationUpsert,
    PayloadError,
    PersonTombstone,
    PersonUpsert,
    SpeciesPackPublished,
    WireModel,
    change_fingerprint,
    parse_payload,
)
from sync.store import ModelRef, Store
from sync.store.catch_hub import stamp_pulled
from sync.store.clock import format_timestamp
from sync.store.edit_clock import note_hub_time
from sync.store.gallery import model_dim
from sync.store.observations import held_observation, observation_payload
from sync.store.people import remove_person
from sync.store.retention_kept import note_kept_by_hub
from sync.store.state_rows import get_value, put_value

_log = logging.getLogger(__name__)
_MAX_REASONS = 20


@dataclass
class _Tally:
    """Counts for one page, filled while its transaction runs (never leaves this module)."""

    applied: int = 0
    erased: int = 0
    skipped: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)

    def skip(self, change: Change, reason: str) -> None:
        self.skipped.append(f"{change.entity} {change.entity_uid}: {reason}")

    def set_aside_for_now(self, change: Change, reason: str) -> None:
        self.set_aside.append(f"{change.entity} {change.entity_uid}: {reason}")


@dataclass(frozen=True)
class PageReport:
    applied: int
    erased: int
    skipped: tuple[str, ...]
    cursor: int
    set_aside: int = 0  # this page's changes kept to try again later


@dataclass(frozen=True)
class _Context:
    store: Store
    connection: Any
    now: datetime
    tally: _Tally
    site: str
    device: UUID | None = None  # this device, as the hub names it
    origin: UUID | None = None  # the device that made the change in hand (None: the hub)
    hub_now: datetime | None = None  # the hub's time in the answer (its Date), if it said
    seen_until: int = 0  # pulling the site again: the cursor older code had reached
    # Pulling the site again: the records it added, whose later replays it takes too.
    took: set[str] = field(default_factory=set)
    replayed: bool = False  # the change in hand is at or before ``seen_until``
    renewed: bool = False  # pulling again a log the hub renewed (``sync.client.log_epoch``)
    hub: str | None = None  # the hub pulled from (a ``hub_stamp``), whose its catches are


@dataclass(frozen=True)
class _NotYet:
    """A handler's answer for a change that cannot apply here yet but may later."""

    reason: str


_Outcome = str | _NotYet | None  # None: applied; a str: skipped, with why


def apply_page(
    store: Store,
    site: str,
    changes: Sequence[Change],
    next_cursor: int,
    *,
    device: UUID | None = None,
    hub_now: datetime | None = None,
    newest_pack: SpeciesPackPublished | None = None,
    names_pack: bool = False,
    more: bool = True,
    seal: str | None = None,
    hub: str | None = None,
) -> PageReport:
    """Apply ``changes`` and store ``next_cursor`` as this site's cursor, all or nothing.
    ``device``: this device's id, which tells its own catches coming back from others'.
    ``hub_now``: the hub's time in the answer (None: not said), which the changes' times
    are held to (``sync.store.edit_clock``). ``newest_pack``: the newest species pack this
    device reads, as the hub answered (None: not said, a hub before it named one); when
    said, it is the pack to install, whatever the changes announced. ``names_pack``: the
    answer said which pack (a hub that knows how), so a ``newest_pack`` of None means the hub
    holds none this device reads: the pack announced before is dropped
    (``forget_withdrawn_pack``). ``more``: the hub has
    changes after these (False ends a pull of the site from the start). ``seal``: the hub's
    seal of the last change (None: it gave none), kept with it as the tip; with no changes,
    its seal of the tip this device sent from ``next_cursor`` (``reseal_tip``). ``hub``: the
    hub pulled from (a ``hub_stamp``), whose the catches pulled are (``stamp_pulled``)."""
    tally = _Tally()
    with store.database.write() as connection:
        full = under_way(connection, site)
        context = _Context(
            store, connection, store.clock.now(), tally, site, device, hub_now=hub_now,
            seen_until=0 if full is None else full.replays_until,
            renewed=full is not None and full.renewed,
            took=set() if full is None else set(full.took), hub=hub,
        )  # fmt: skip
        for change in changes:
            _apply(context, change)
        if newest_pack is not None:  # the hub's word, after the changes: see _species_pack
            record_species_pack(connection, newest_pack.model_dump(mode="json"), context.now)
        elif names_pack:  # it names none: it holds none any more
            forget_withdrawn_pack(connection, context.now)
        # The hub's own time, however wrong this device's clock: see edit_clock.
        times = [(str(c.entity_uid), c.changed_at) for c in changes]
        note_hub_time(connection, times, hub_now, context.now)
        _retry_set_aside(context)
        put_value(connection, cursor_name(site), str(next_cursor), context.now)
        if changes and changes[-1].cursor == next_cursor:  # what the hub checks its log by
            keep_tip(connection, site, tip_value(changes[-1]), seal, context.now)
        elif not changes and seal is not None:
            reseal_tip(connection, site, next_cursor, seal, context.now)
        note_progress(connection, site, next_cursor, context.now, more=more, took=context.took)
    if tally.erased:
        store.database.purge(wait=True)  # their data out of the file too (else it is owed)
    for reason in tally.skipped[:_MAX_REASONS]:
        _log.info("pulled change skipped: %s", reason)
    for reason in tally.set_aside[:_MAX_REASONS]:
        _log.info("pulled change set aside, tried again with every pull: %s", reason)
    return PageReport(
        tally.applied, tally.erased, tuple(tally.skipped), next_cursor, len(tally.set_aside)
    )


def keep_tip(connection: Any, site: str, tip: str, seal: str | None, now: datetime) -> None:
    """Keep ``tip`` (``tip_value``) as the last change applied from ``site``'s log, with the
    hub's seal of it: an empty one when the hub gave none (a hub before seals), so that the
    tip is not asked for again (``Puller.learn_tip``); every pull sends the tip all the same,
    and a hub upgraded since seals it in an answer with no changes (``reseal_tip``)."""
    put_value(connection, log_tip_name(site), tip, now)
    put_value(connection, log_seal_name(site), f"{tip.partition(':')[0]}:{seal or ''}", now)


def reseal_tip(connection: Any, site: str, cursor: int, seal: str, now: datetime) -> None:
    """Keep ``seal``, the hub's seal in an answer that brought no change to a pull from
    ``cursor``, as the seal of the tip this device kept there (and sent: the hub sealed it
    as the change it holds there): one the hub gave none of before its upgrade, or one of
    its old key. Nothing when the tip kept is not there (the hub's word of another one)."""
    at, _, fingerprint = (get_value(connection, log_tip_name(site)) or "").partition(":")
    if fingerprint and at == str(cursor):
        put_value(connection, log_seal_name(site), f"{cursor}:{seal}", now)


def tip_value(change: Change) -> str:
    """The stored tip: the cursor and the fingerprint of the change applied there."""
    fingerprint = change_fingerprint(
        change.cursor, change.entity, change.entity_uid, change.operation, change.changed_at
    )
    return f"{change.cursor}:{fingerprint}"


def _apply(context: _Context, change: Change) -> None:
    outcome = _outcome(context, change)
    if isinstance(outcome, _NotYet):
        context.tally.set_aside_for_now(change, outcome.reason)
        _set_aside(context, change, outcome.reason)
        return
    # This change is newer than any set aside for the record: that one is done with.
    context.connection.execute(
        "DELETE FROM deferred_changes WHERE entity_uid = ?", (str(change.entity_uid),)
    )
    if outcome is None:
        context.tally.applied += 1
    else:
        context.tally.skip(change, outcome)


def _outcome(context: _Context, change: Change) -> _Outcome:
    if change.entity == "species_pack" and change.cursor <= context.seen_until:
        return None  # taken when first pulled: an older pack than one announced since
    try:
        payload = parse_payload(change.entity, change.operation, dict(change.payload))
    except PayloadError as error:
        return str(error)
    handler = _HANDLERS.get(type(payload))
    if handler is None:
        return "not kept on devices"
    replayed = change.cursor <= context.seen_until
    return handler(replace(context, origin=change.origin_device, replayed=replayed), payload)


def _set_aside(context: _Context, change: Change, reason: str) -> None:
    person_uid = change.payload.get("person_uid", str(change.entity_uid))
    context.connection.execute(
        "INSERT OR REPLACE INTO deferred_changes (entity_uid, person_uid, site, cursor, change,"
        " reason, deferred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            str(change.entity_uid),
            str(person_uid),
            context.site,
            change.cursor,
            change.model_dump_json(),
            reason,
            format_timestamp(context.now),
        ),
    )


def _retry_set_aside(context: _Context) -> None:
    """Try the changes set aside again (people before their templates), after a page."""
    rows = context.connection.execute(
        "SELECT entity_uid, change FROM deferred_changes WHERE site = ?"
        " ORDER BY entity_uid != person_uid, cursor",
        (context.site,),
    ).fetchall()
    for entity_uid, text in rows:
        change = Change.model_validate_json(text)
        outcome = _outcome(context, change)
        if isinstance(outcome, _NotYet):
            continue
        context.connection.execute(
            "DELETE FROM deferred_changes WHERE entity_uid = ?", (entity_uid,)
        )
        if outcome is None:
            context.tally.applied += 1
        else:
            context.tally.skip(change, outcome)


def _person(context: _Context, payload: PersonUpsert) -> _Outcome:
    connection, uid = context.connection, str(payload.person_uid)
    if _erased_here(connection, uid):
        return "erased on this device; the erasure wins"
    if _held_before_replay(context, "people", "person_uid", uid):
        return None  # it holds the newest it pulled (an older badge here may be another's)
    clash = connection.execute(
        "SELECT person_uid FROM people WHERE external_id = ? AND person_uid != ?",
        (payload.external_id, uid),
    ).fetchone()
    if clash:
        return _NotYet(f"its badge is held by person {clash[0]} on this device")
    consent = payload.consent
    values = (
        payload.external_id,
        payload.display_name,
        payload.site,
        consent.text_version,
        format_timestamp(consent.given_at),
        consent.operator,
        format_timestamp(consent.retain_until),
    )
    updated = connection.execute(
        "UPDATE people SET external_id = ?, display_name = ?, site = ?, consent_text_version = ?,"
        " consent_given_at = ?, consent_operator = ?, retain_until = ? WHERE person_uid = ?",
        (*values, uid),
    ).rowcount
    if not updated:
        connection.execute(
            "INSERT INTO people (external_id, display_name, site, consent_text_version,"
            " consent_given_at, consent_operator, retain_until, person_uid, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (*values, uid, format_timestamp(context.now)),
        )
    if _retention_overruled(connection, uid):  # or this device erases them again at once
        note_kept_by_hub(connection, uid, consent.retain_until, context.now, context.hub_now)
    return None


def _tombstone(context: _Context, payload: PersonTombstone) -> _Outcome:
    uid = str(payload.person_uid)
    removed = remove_person(context.connection, context.store.outbox, uid)
    if removed is None:
        return None
    context.store.audit.append(
        context.connection,
        actor="hub",
        action="person.erased",
        subject=uid,
        details=removed.details(payload.reason),
    )
    context.tally.erased += 1
    return None


def _template(context: _Context, payload: FaceTemplateUpsert) -> _Outcome:
    connection, uid = context.connection, str(payload.template_uid)
    if connection.execute("SELECT 1 FROM face_templates WHERE template_uid = ?", (uid,)).fetchone():
        return None  # templates never change once made
    person = connection.execute(
        "SELECT id FROM people WHERE person_uid = ?", (str(payload.person_uid),)
    ).fetchone()
    if person is None:
        if _set_aside_here(connection, str(payload.person_uid)):
            return _NotYet(f"its person {payload.person_uid} is set aside on this device")
        return f"person {payload.person_uid} is not on this device"
    model = ModelRef(payload.model_id, payload.model_version)
    dim = model_dim(connection, model)
    if dim is not None and dim != payload.dim:
        return f"{model} templates here have {dim} dimensions, not {payload.dim}"
    connection.execute(
        "INSERT INTO face_templates (template_uid, person_id, model_id, model_version, dim,"
        " vector, quality, source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            uid,
            person[0],
            payload.model_id,
            payload.model_version,
            payload.dim,
            base64.b64decode(payload.vector_f32le_b64),
            payload.quality,
            payload.source,
            format_timestamp(context.now),
        ),
    )
    return None


def _observation(context: _Context, payload: FishObservationUpsert) -> _Outcome:
    """The catch as pulled, stamped with the hub pulled from (``sync.store.catch_hub``): it
    has the catch, whatever this device does with the change."""
    outcome = _observation_change(context, payload)
    stamp_pulled(context.connection, str(payload.observation_uid), context.hub)
    return outcome


def _observation_change(context: _Context, payload: FishObservationUpsert) -> _Outcome:
    connection, uid = context.connection, str(payload.observation_uid)
    if _held_before_replay(context, "fish_observations", "observation_uid", uid):
        return _fill_observation(context, payload)
    if context.renewed and (kept := _newer_review_here(context, payload)) is not None:
        return kept
    now = format_timestamp(context.now)
    values = _observation_values(connection, payload, now)
    # A change written before the hub knew a field added since protocol 2 says nothing about
    # it: keep ours.
    sent = _added_columns(payload, only_sent=True)
    sent_set = "".join(f", {column} = ?" for column in sent)
    updated = connection.execute(
        f"UPDATE fish_observations SET {_OBSERVATION_SET}{sent_set} WHERE observation_uid = ?",
        (*values, *sent.values(), uid),
    ).rowcount
    if not updated:
        added = _added_columns(payload, only_sent=False)
        here = context.origin is not None and context.origin == context.device
        connection.execute(
            f"INSERT INTO fish_observations ({_OBSERVATION_COLUMNS}, {', '.join(added)},"
            f" observation_uid, created_at, recorded_here)"
            f" VALUES ({', '.join(['?'] * (len(values) + len(added) + 3))})",
            (*values, *added.values(), uid, now, int(here)),
        )
    return None


def _newer_review_here(context: _Context, payload: FishObservationUpsert) -> str | None:
    """Pulling a renewed log again, a catch whose review here is newer than the change's
    (a hub review pulled after the backup the hub was restored from) keeps it: the change
    is skipped, and this device's version queued again, dated when reviewed, so the hub
    takes the review back (``sync.hub.apply.lww``) and logs it for every device. None: the
    change applies."""
    uid = str(payload.observation_uid)
    held = held_observation(context.connection, uid)
    if held is None or held.reviewed_at is None:
        return None
    if payload.reviewed_at is not None and payload.reviewed_at >= held.reviewed_at:
        return None
    reviewed = format_timestamp(held.reviewed_at)
    waiting = context.connection.execute(  # queued for an earlier change of the re-pull
        "SELECT 1 FROM outbox WHERE entity_uid = ? AND state = 'queued' AND created_at >= ?",
        (uid, reviewed),
    ).fetchone()
    if waiting is None:
        context.store.outbox.enqueue(
            context.connection, entity="fish_observation", entity_uid=uid, operation="upsert",
            payload=observation_payload(held), made_at=reviewed,
        )  # fmt: skip
    return "reviewed here after the hub's version (lost in its restore): kept, and sent again"


def _held_before_replay(context: _Context, table: str, column: str, uid: str) -> bool:
    """Whether the change in hand is a replay (``sync.client.full_pull``) of a record this
    device held before the re-pull; else, for a replay, note the record as the re-pull's."""
    if not context.replayed or uid in context.took:
        return False
    row = context.connection.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (uid,)).fetchone()
    if row is None:
        context.took.add(uid)
    return row is not None


def _fill_observation(context: _Context, payload: FishObservationUpsert) -> _Outcome:
    """A replayed change of a catch held here gives it only what older protocols did not
    carry and it lacks: its pack, its verdict (with its reason) and its box. Its species,
    review, notes and counts are the newest it pulled, or its own later edits."""
    sent = _added_columns(payload, only_sent=True)
    lacking = {
        "pack_version": "pack_version IS NULL",
        "status": "status IS NULL",
        "status_reason": "status IS NULL",  # the verdict's reason goes with the verdict
        **dict.fromkeys(("crop_x", "crop_y", "crop_w", "crop_h", "crop_known"), "crop_known = 0"),
    }
    filled = [column for column in sent if column in lacking]
    if filled:
        sets = ", ".join(
            f"{column} = CASE WHEN {lacking[column]} THEN ? ELSE {column} END" for column in filled
        )
        context.connection.execute(
            f"UPDATE fish_observations SET {sets} WHERE observation_uid = ?",
            (*(sent[column] for column in filled), str(payload.observation_uid)),
        )
    return None


def _added_columns(payload: FishObservationUpsert, *, only_sent: bool) -> dict[str, Any]:
    """The columns of ``pack_version``, ``crop``, ``status`` and ``status_reason`` (all, or
    only those the change carries), and ``crop_known``: whether the change told the box."""
    columns: dict[str, Any] = {}
    for name in ("pack_version", "status", "status_reason"):
        if not only_sent or name in payload.model_fields_set:
            columns[name] = getattr(payload, name)
    told = "crop" in payload.model_fields_set
    if not only_sent or told:
        crop = payload.crop or (None, None, None, None)
        columns.update(zip(("crop_x", "crop_y", "crop_w", "crop_h"), crop, strict=True))
        columns["crop_known"] = int(told)
    return columns


def _observation_values(
    connection: Any, payload: FishObservationUpsert, now: str
) -> tuple[Any, ...]:
    """The row's ``_OBSERVATION_COLUMNS``, in order."""
    photo = None
    if payload.photo_uid is not None:
        photo = connection.execute(
            "SELECT id FROM photos WHERE photo_uid = ?", (str(payload.photo_uid),)
        ).fetchone()
    latitude, longitude = payload.position if payload.position else (None, None)
    return (
        format_timestamp(payload.observed_at),
        json.dumps([[name, score] for name, score in payload.predictions]),
        payload.confirmed_species,
        int(payload.needs_review),
        photo[0] if photo else None,
        latitude,
        longitude,
        payload.vessel,
        payload.trip,
        payload.haul,
        payload.count,
        payload.length_cm,
        payload.officer,
        payload.notes,
        payload.reviewed_by,  # who confirmed the species, when the hub's copy names them
        None if payload.reviewed_at is None else format_timestamp(payload.reviewed_at),
        now,
    )


def _species_pack(context: _Context, payload: SpeciesPackPublished) -> _Outcome:
    """Keep the pack the change log announced as the one to install. A hub that names the
    newest pack in its answer (every hub that knows ``PACK_SCHEMA_HEADER``) overrides it on
    the same page (``apply_page``), so this counts only with a hub that names none."""
    record_species_pack(context.connection, payload.model_dump(mode="json"), context.now)
    return None


_OBSERVATION_COLUMNS = (
    "observed_at, predictions, confirmed_species, needs_review, photo_id, latitude, longitude,"
    " vessel, trip, haul, count, length_cm, officer, notes, reviewed_by, reviewed_at, updated_at"
)
_OBSERVATION_SET = ", ".join(f"{c.strip()} = ?" for c in _OBSERVATION_COLUMNS.split(","))

# Each handler takes its own payload type; the dict is keyed by that type.
_HANDLERS: dict[type[WireModel], Callable[[_Context, Any], _Outcome]] = {
    PersonUpsert: _person,
    PersonTombstone: _tombstone,
    FaceTemplateUpsert: _template,
    FishObservationUpsert: _observation,
    SpeciesPackPublished: _species_pack,
}


def _erased_here(connection: Any, person_uid: str) -> bool:
    """Whether this device erased the person, and the hub has not overruled it.

    An operator's erasure always wins. The retention purge's (``RETENTION_REASON``, which
    no operator may give) is overruled once the hub has acknowledged its tombstone: a hub
    that applied it erased the person and never sends them again; one that sends them after
    kept them (``early_retention``: this device's clock ran ahead), and they come back.
    """
    return any(not _overruled_retention(*row) for row in _tombstones(connection, person_uid))


def _retention_overruled(connection: Any, person_uid: str) -> bool:
    """Whether the hub kept the person after this device's retention erasure of them."""
    return any(_overruled_retention(*row) for row in _tombstones(connection, person_uid))


def _tombstones(connection: Any, person_uid: str) -> list[tuple[str, str]]:
    """(payload, state) of each of this device's tombstones of ``person_uid``."""
    rows = connection.execute(
        "SELECT payload, state FROM outbox WHERE entity_uid = ? AND operation = 'tombstone'",
        (person_uid,),
    ).fetchall()
    return [(str(payload), str(state)) for payload, state in rows]


def _overruled_retention(payload: str, state: str) -> bool:
    reason = json.loads(payload).get("reason")
    return state == "acknowledged" and reason == RETENTION_REASON


def _set_aside_here(connection: Any, person_uid: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM deferred_changes WHERE entity_uid = ?", (person_uid,)
    ).fetchone()
    return row is not None
