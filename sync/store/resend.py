"""Queue again what this device sent, for a hub that lost it (its database restored).

A hub restored from a backup no longer holds what devices pushed after the backup was
taken, though each device had it acknowledged. When the hub says so (a new log epoch:
``sync.client.log_epoch``), the device queues again, in one transaction:

- the acknowledged entries the outbox keeps (catches and their edits, photos, this device's
  erasures; since its registration; and its reviews of catches it pulled, which the hub,
  told so as they are sent, takes as reviews, making a catch it lost with no author until
  the catch's own device pushes it again: ``sync.hub.apply.records``), each with its own
  payload and time, in its own order,
  and its own idempotency key: the first, a duplicate to a hub that still holds it (a
  retention erasure too, whose payload ``Outbox.settle`` leaves as it is: under a new key,
  one the hub put off as early, ``early_retention``, would be applied again and the person
  logged again for every device), but a new one for a tombstone that gives
  ``REASON_NOT_KEPT`` (``settle`` replaced the reason typed: under its first key, a hub
  that still holds it would refuse it as other content; one given it from the start, read
  from the erasure ledger, goes under a new one too, and a hub that has the person erased
  answers it unchanged); renumbered: its tombstones before everything queued
  now (a badge an erasure freed may be held by a person enrolled since), the others after
  it (so the people go before their photos). A payload blanked by an erasure stays as it
  is. A photo's bytes are uploaded again once the hub acknowledges it again;
- from the store's tables, each catch of another boat pulled since the registration with no
  entry of its own (a review of it, kept, goes as above; ``_pulled_catches``), as pulled:
  a hub that lost it, and whose boat is lost with its store, would have it from no one
  else. Sent saying it was not recorded here (``sync.client.push``), it is a review to the
  hub, which makes a catch it lost with no author, for its boat to claim, and to one that
  holds it changes no fact; dated when the version pulled was reviewed (or the fish
  caught), it is no newer than the hub's stamps of that version, so a later review the hub
  holds wins. One entry per catch pulled since the registration, no more than the pulls
  brought (the hub's backup time is not known here, nor when each catch was logged);
- from the store's tables, the records whose acknowledged entries were deleted
  (``Outbox.settle``): every person of this site it holds, with their face templates, and
  this site's access decisions, each dated when it was made here (``Outbox.enqueue``'s
  ``made_at``). People pulled from the hub go too, dated when first pulled: no durable
  mark tells who was enrolled here (the audit entry of an enrolment goes with the prefix
  retention deletes), and a pulled person's version may be newer than the hub's backup (an
  edit the restore lost) or older (the hub keeps its own, stamped later). The decisions,
  which a busy kiosk holds by the ten thousand, are only noted in that transaction (which
  ones: up to the newest at the renewal), and queued after it in transactions of
  ``DECISION_BATCH`` (``queue_decisions_again``), each moving the note on, so a kiosk's new
  decision never waits long for the store's write lock; a sync killed meanwhile goes on
  from the note at the next one, before it pushes. Nothing still waiting in the outbox
  (queued, sent, or quarantined for the operator) is queued again: it goes, or waits, as
  it is;
- before the people, a tombstone for each person erased here by a pulled erasure since the
  registration (the hub's, another device's; carried over a restore of this store too; not
  an erasure pulled from another hub before a move), which the hub may have lost too:
  pulled again from the restored log, such a person would come back on this device. With
  its own tombstone, this device keeps them erased (``sync.client.apply``) and the hub
  erases them again. Read from the ``person.erased`` entries, and from the erasure ledger
  for those decision retention deleted (``sync.store.retention.RECORDED_ERASURES``), which
  keeps no reason: such a tombstone gives ``REASON_NOT_KEPT``.

A record stored before a rule of the wire schema refused it (a name holding a bidirectional
override, ``sync.protocol.names``) is queued quarantined, with the schema's reason, as the
hub would answer it: refused, it would roll back the whole transaction, and so every sync.

The hub applies each record once by its uid, and settles edits field by field by their
times (``sync.hub.apply.lww``): what it still holds does not double (a person several
devices hold is applied once, then unchanged), and an edit made on the hub after these
versions is not undone by them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sync.store.access import COLUMNS as ACCESS_COLUMNS
from sync.store.access import access_event, access_payload
from sync.store.catch_hub import catch_held_for
from sync.store.clock import Clock, format_timestamp
from sync.store.observations import held_observation, observation_payload
from sync.store.outbox import ERASED_PAYLOAD, Outbox
from sync.store.people import person_payload, template_payload
from sync.store.person_rows import people_of_site
from sync.store.records import ModelRef
from sync.store.retention import REASON_NOT_KEPT, RECORDED_ERASURES
from sync.store.state_rows import get_value, put_value

if TYPE_CHECKING:
    from sync.store.store import Store

# The acknowledged entries the outbox keeps, which the hub may have lost (not a photo held
# for another hub, ``sync.store.outbox_hub``, the one that acknowledged it): those acknowledged
# since the store's registration (``sync.client.state.save_registration``), as an earlier
# one may have been with another site, and the restored hub knows this device only if its
# backup was taken after the registration, and so after those.
_REGISTERED_AT = "(SELECT coalesce(max(updated_at), '') FROM sync_state WHERE name = 'device_id')"
_KEPT = (
    "state = 'acknowledged' AND payload != ?"
    " AND (entity IN ('photo', 'fish_observation') OR operation = 'tombstone')"
    f" AND for_hub IS NULL AND state_changed_at >= {_REGISTERED_AT}"
)


@dataclass(frozen=True)
class Requeued:
    """How many entries were queued again, by where they came from."""

    kept: int = 0
    pulled_catches: int = 0
    people: int = 0
    templates: int = 0
    access_events: int = 0
    erasures: int = 0

    @property
    def total(self) -> int:
        return (
            self.kept + self.pulled_catches + self.people + self.templates
            + self.access_events + self.erasures
        )  # fmt: skip


DECISION_BATCH = 500
"""Access decisions queued again per write transaction (``queue_decisions_again``)."""


def decisions_name(site: str) -> str:
    """The note of the decisions still to queue again: ``after:until`` (their ids)."""
    return f"resend_decisions.{site}"


def noted_decisions(connection: Any) -> dict[str, int]:
    """The decisions each site's note still names (``decisions_name``), by site: records
    still to push, which ``jaga sync register`` counts as it counts the outbox's."""
    prefix = decisions_name("")
    noted: dict[str, int] = {}
    for name, note in connection.execute(
        "SELECT name, value FROM sync_state WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall():
        site = str(name)[len(prefix) :]
        after, _, until = str(note).partition(":")
        (count,) = connection.execute(
            "SELECT count(*) FROM access_events WHERE site = ? AND id > ? AND id <= ?"
            f" AND {_NOT_WAITING}",
            (site, int(after), int(until)),
        ).fetchone()
        if count:
            noted[site] = int(count)
    return noted


def queue_again(connection: Any, outbox: Outbox, clock: Clock, site: str) -> Requeued:
    """Queue again, inside the caller's write transaction, what this device sent to
    ``site``'s hub (see the module); its access decisions are only noted, for
    ``queue_decisions_again`` to queue once that transaction is committed."""
    # The erasures first: a badge freed by one goes to a person enrolled since, whom the
    # restored hub (still holding the erased one with it) would refuse for good.
    kept = _kept(connection, clock, tombstones=True)
    erasures = _pulled_erasures(connection, outbox)
    people, templates = _people(connection, outbox, site)
    events = _note_access_events(connection, clock, site)
    kept += _kept(connection, clock, tombstones=False)
    pulled = _pulled_catches(connection, outbox)
    return Requeued(kept, pulled, people, templates, events, erasures)


def queue_decisions_again(store: Store, site: str, batch: int = DECISION_BATCH) -> int:
    """Queue the access decisions ``queue_again`` noted, ``batch`` per write transaction,
    each moving the note on (removed with the last); returns how many were queued."""
    with store.database.read() as connection:
        if get_value(connection, decisions_name(site)) is None:
            return 0
    queued = 0
    while True:
        with store.database.write() as connection:
            note = get_value(connection, decisions_name(site))
            if note is None:
                return queued
            after, _, until = note.partition(":")
            rows = connection.execute(
                f"SELECT id, {ACCESS_COLUMNS} FROM access_events WHERE site = ? AND id > ?"
                f" AND id <= ? AND {_NOT_WAITING} ORDER BY id LIMIT ?",
                (site, int(after), int(until), batch),
            ).fetchall()
            for _, *row in rows:
                event = access_event(row)
                store.outbox.enqueue(
                    connection, entity="access_event", entity_uid=event.event_uid,
                    operation="upsert", payload=access_payload(event),
                    made_at=format_timestamp(event.occurred_at), quarantine_invalid=True,
                )  # fmt: skip
            queued += len(rows)
            if len(rows) < batch:
                connection.execute("DELETE FROM sync_state WHERE name = ?", (decisions_name(site),))
                return queued
            put_value(connection, decisions_name(site), f"{rows[-1][0]}:{until}", store.clock.now())


# Records with an entry still waiting in the outbox: it goes (or waits for the operator)
# as it is, and queued again it would go twice (or be refused again). One held for another
# hub (``sync.store.outbox_hub``) counts too: its record is that hub's (a person kept at a
# move with --strand-records), and queued again it would go to this one.
_WAITING = "SELECT entity_uid FROM outbox WHERE state != 'acknowledged'"
# An access event recorded for another hub is that hub's (``sync.store.outbox_hub``).
_NOT_WAITING = (  # of an access event: a look-up by uid (``outbox_entity``), not a scan
    "access_events.for_hub IS NULL AND NOT EXISTS (SELECT 1 FROM outbox"
    " WHERE outbox.entity_uid = access_events.event_uid"
    " AND outbox.state != 'acknowledged')"
)


def _people(connection: Any, outbox: Outbox, site: str) -> tuple[int, int]:
    waiting = {str(uid) for (uid,) in connection.execute(_WAITING).fetchall()}
    people = [
        held for held in people_of_site(connection, site) if held[1].person_uid not in waiting
    ]
    templates = 0
    for person_id, person in people:
        outbox.enqueue(
            connection, entity="person", entity_uid=person.person_uid, operation="upsert",
            payload=person_payload(person), made_at=format_timestamp(person.created_at),
            quarantine_invalid=True,
        )  # fmt: skip
        for uid, model_id, version, blob, quality, source, made in connection.execute(
            "SELECT template_uid, model_id, model_version, vector, quality, source, created_at"
            " FROM face_templates WHERE person_id = ? ORDER BY id",
            (person_id,),
        ).fetchall():
            if uid in waiting:
                continue
            model = ModelRef(model_id, version)
            payload = template_payload(
                uid, person.person_uid, model=model, blob=bytes(blob), quality=quality,
                source=source,
            )  # fmt: skip
            outbox.enqueue(
                connection, entity="face_template", entity_uid=uid, operation="upsert",
                payload=payload, made_at=str(made), quarantine_invalid=True,
            )  # fmt: skip
            templates += 1
    return len(people), templates


def _pulled_catches(connection: Any, outbox: Outbox) -> int:
    """Each catch of another boat this device pulled from this hub since its registration,
    with nothing of it queued (its review kept here is, by ``_kept``), as pulled: sent saying
    it was not recorded here (``sync.client.push``), so a hub that lost it makes it with no
    author, and one that holds it takes it as a review it already has (see the module)."""
    queued = 0
    for (uid,) in connection.execute(_PULLED_CATCHES).fetchall():
        held = held_observation(connection, str(uid))
        if held is None or catch_held_for(connection, str(uid)) is not None:
            continue  # another hub's catch (one left since) is none of this hub's
        # Dated when the version pulled was reviewed (or the fish caught): never later than
        # the hub's own stamps of it, so a hub that holds a later review keeps it.
        made = held.reviewed_at or held.observed_at
        outbox.enqueue(
            connection, entity="fish_observation", entity_uid=str(uid), operation="upsert",
            payload=observation_payload(held), made_at=format_timestamp(made),
            quarantine_invalid=True,
        )  # fmt: skip
        queued += 1
    return queued


# Pulled (not recorded here) since the registration, by the time this device wrote it
# (the registration's time is this device's clock too), with no entry waiting: one queued
# again by ``_kept`` (its review) goes as it is.
_PULLED_CATCHES = (
    "SELECT observation_uid FROM fish_observations WHERE recorded_here = 0"
    f" AND updated_at >= {_REGISTERED_AT} AND observation_uid NOT IN ({_WAITING}) ORDER BY id"
)


def _pulled_erasures(connection: Any, outbox: Outbox) -> int:
    """A tombstone of this device for each person a pulled erasure removed here since its
    registration (this device's own erasures have theirs; one carried over a restore of the
    store is named by the entry ``sync.store.erasures`` writes, whoever erased them first).
    One pulled before it the hub held before it knew this device, so before any backup a
    restore that knows the device comes from; and it may be another hub's (registered with
    another since), whose site of the same slug is another organisation's: the uid of a
    person this hub never had, and the reason that hub gave, would go to it."""
    rows = connection.execute(
        f"SELECT person_uid, min(at), reason FROM ({RECORDED_ERASURES})"
        f" WHERE at >= {_REGISTERED_AT} AND person_uid NOT IN (SELECT person_uid FROM people)"
        " AND person_uid NOT IN (SELECT entity_uid FROM outbox WHERE operation = 'tombstone')"
        " GROUP BY person_uid ORDER BY min(sequence)"
    ).fetchall()
    for uid, at, reason_given in rows:
        reason = str(reason_given or "erased on the hub")
        outbox.enqueue(
            connection, entity="person", entity_uid=uid, operation="tombstone",
            payload={"person_uid": uid, "erased_at": at, "reason": reason}, made_at=str(at),
        )  # fmt: skip
    return len(rows)


def _kept(connection: Any, clock: Clock, *, tombstones: bool) -> int:
    """The kept acknowledged tombstones (or the other kept entries) queued again,
    renumbered after those queued before, in their order."""
    which = "operation = 'tombstone'" if tombstones else "operation != 'tombstone'"
    rows = connection.execute(
        "SELECT sequence, idempotency_key, json_extract(payload, '$.reason') = ?, entity,"
        f" entity_uid, operation, payload, created_at FROM outbox WHERE {_KEPT} AND {which}"
        " ORDER BY sequence",
        (REASON_NOT_KEPT, ERASED_PAYLOAD),
    ).fetchall()
    now = format_timestamp(clock.now())
    for sequence, key, not_kept, *entry in rows:
        connection.execute("DELETE FROM outbox WHERE sequence = ?", (sequence,))
        # A tombstone's payload lost its reason once acknowledged (``Outbox.settle``): under
        # its first key, a hub that still holds the key would refuse it as other content.
        # Any other keeps its first key, a duplicate to a hub that holds it (see the module).
        fresh = str(uuid.uuid4()) if tombstones and not_kept else key
        connection.execute(
            "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload, state,"
            " created_at, state_changed_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
            (fresh, *entry, now),
        )
    # Their bytes go again once the hub acknowledges them again (``sync.client.uploads``).
    connection.execute(
        "DELETE FROM sync_uploads WHERE outcome = 'done' AND photo_uid IN"
        " (SELECT entity_uid FROM outbox WHERE entity = 'photo' AND state = 'queued')"
    )
    return len(rows)


def _note_access_events(connection: Any, clock: Clock, site: str) -> int:
    """Note this site's decisions to queue again, up to the newest; returns how many."""
    until, count = connection.execute(
        f"SELECT max(id), count(*) FROM access_events WHERE site = ? AND {_NOT_WAITING}",
        (site,),
    ).fetchone()
    if count:
        put_value(connection, decisions_name(site), f"0:{until}", clock.now())
    # The hub that held them is gone: retention (``held_since``) waits for the restored hub
    # to acknowledge each again, not deleting one noted here before it is even queued.
    connection.execute(
        "UPDATE access_events SET held_since = NULL WHERE site = ? AND for_hub IS NULL", (site,)
    )
    return int(count)
