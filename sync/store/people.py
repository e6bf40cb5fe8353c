"""Enrolment, lookup, erasure and consent retention of people.

Enrolment writes the person, their templates and photos, an audit entry and outbox entries in
one transaction, after checking the new templates against everyone enrolled with the same
model: a face that already matches someone is refused with ``DuplicateIdentityError`` unless
the operator accepts it. Before that, the new badge is checked (``sync.store.badges``): one
that is not printable text in one script, or has spaces around it, is refused
(``RecordInvalidError``), and so is one that reads as a badge already enrolled, in another
case or width too (``RecordConflictError``, naming its holder), accepted duplicates or not.
A badge is looked up (``by_external_id``) as stored, else by the same reading.

Erasure removes templates and photos (with ``secure_delete`` on, their pages are zeroed),
blanks their payloads in the outbox, queues a tombstone so the hub and the other devices
erase too, and leaves an audit entry that names only the person's uid.

The duplicate check is in ``sync.store.duplicate_faces``, the removal every erasure goes
through in ``sync.store.person_removal``, the payloads in ``sync.store.person_payloads``, and
the row a person is in ``sync.store.person_rows``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sync.errors import DuplicateIdentityError, RecordInvalidError, RecordNotFoundError
from sync.protocol import MAX_ERASURE_REASON_CHARS, RETENTION_REASON
from sync.store.audit import AuditLog, terminal_text
from sync.store.badges import BADGES, badge_problem, refuse_held_badge, same_badge
from sync.store.clock import Clock, format_timestamp, parse_timestamp, released_on
from sync.store.database import Database
from sync.store.duplicate_faces import find_duplicates
from sync.store.gallery import model_dim
from sync.store.outbox import Outbox
from sync.store.person_payloads import person_payload, template_payload
from sync.store.person_removal import Removal, remove_person
from sync.store.person_rows import PERSON_COLUMNS, insert_person, person_from_row
from sync.store.photos import insert_photo, photo_payload
from sync.store.records import Consent, Enrolment, Person, Photo, Template, new_uid
from sync.store.retention_kept import NOT_KEPT

# What other modules and the tests import from here: the people's own names, and those of the
# payloads (``sync.store.person_payloads``), the duplicate check (``sync.store.duplicate_faces``)
# and the removal (``sync.store.person_removal``) that lived here before they moved.
__all__ = [
    "People",
    "Removal",
    "find_duplicates",
    "person_payload",
    "remove_person",
    "template_payload",
]


class People:
    """The enrolled people of this device."""

    def __init__(self, database: Database, clock: Clock, audit: AuditLog, outbox: Outbox) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._outbox = outbox

    def enrol(
        self,
        *,
        external_id: str,
        display_name: str,
        site: str,
        consent: Consent,
        templates: Sequence[Template],
        operator: str,
        duplicate_threshold: float,
        accept_duplicates: bool = False,
        photos: Sequence[Photo] = (),
    ) -> Enrolment:
        """Add a person who has consented, with their templates (and enrolment photos).

        Whoever is past retention is erased first, as a sync's purge would (``purge_expired``:
        audited, tombstoned): on a device that has not synced since, their record would hold
        the badge, or match the face, of the very person who now consents again."""
        if not templates:
            raise ValueError("enrolment needs at least one template")
        if problem := badge_problem(external_id):
            raise RecordInvalidError(problem)
        self.purge_expired()
        person = Person(
            person_uid=new_uid(),
            external_id=external_id,
            display_name=display_name,
            site=site,
            consent=consent,
            created_at=self._clock.now(),
        )
        with self._database.write() as connection:
            refuse_held_badge(connection, external_id)
            duplicates = find_duplicates(connection, templates, duplicate_threshold)
            if duplicates and not accept_duplicates:
                names = ", ".join(
                    f"{terminal_text(m.display_name)} ({m.similarity:.2f})" for m in duplicates
                )
                raise DuplicateIdentityError(
                    f"this face already matches enrolled people: {names}", duplicates
                )
            person_id = self._insert_person(connection, person)
            for template in templates:
                self._insert_template(connection, person_id, person.person_uid, template)
            for photo in photos:
                insert_photo(connection, self._database.config, self._clock, photo, person_id)
                self._outbox.enqueue(
                    connection,
                    entity="photo",
                    entity_uid=photo.photo_uid,
                    operation="upsert",
                    payload=photo_payload(photo, person.person_uid),
                )
            self._audit.append(
                connection,
                actor=operator,
                action="person.enrolled",
                subject=person.person_uid,
                details={
                    "templates": len(templates),
                    "photos": len(photos),
                    "models": sorted({str(t.model) for t in templates}),
                    "consent_text_version": consent.text_version,
                    "accepted_duplicates": [
                        [m.person_uid, round(m.similarity, 4)] for m in duplicates
                    ],
                },
            )
        return Enrolment(
            person=person,
            template_uids=tuple(t.template_uid for t in templates),
            photo_uids=tuple(p.photo_uid for p in photos),
            accepted_duplicates=tuple(duplicates),
        )

    def get(self, person_uid: str) -> Person:
        rows = self._database.query(
            f"SELECT {PERSON_COLUMNS} FROM people WHERE person_uid = ?", (person_uid,)
        )
        if not rows:
            raise RecordNotFoundError(f"no person {person_uid}")
        return person_from_row(rows[0])

    def by_external_id(self, external_id: str) -> Person | None:
        """The person with this external id (a badge number), if one is enrolled: the one
        whose id is exactly this, else the one whose id reads as this (``badge_key``: another
        case or width, spaces around it, as a badge reader or an operator may give it).
        Several such and none exact (people enrolled before badges were checked, or pulled)
        is ``RecordNotFoundError`` naming them: which one is meant is the operator's call."""
        rows = self._database.query(
            f"SELECT {PERSON_COLUMNS} FROM people WHERE external_id = ?", (external_id,)
        )
        if rows:
            return person_from_row(rows[0])
        same = same_badge(self._database.query(BADGES), external_id)
        if len(same) > 1:
            names = ", ".join(f"{held!r} (person {uid})" for uid, held, _ in same)
            raise RecordNotFoundError(
                f"no id here is exactly {external_id!r}, and several read as it: {names};"
                " give the id exactly as `jaga store people` lists it, or the person's uid"
            )
        return self.get(same[0][0]) if same else None

    def by_local_ids(self, person_ids: Sequence[int]) -> dict[int, Person]:
        """People by the local ids a ``Gallery`` reports (for showing a 1:N match)."""
        found: dict[int, Person] = {}
        for start in range(0, len(person_ids), 500):
            chunk = [int(i) for i in person_ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self._database.query(
                f"SELECT id, {PERSON_COLUMNS} FROM people WHERE id IN ({marks})", chunk
            )
            found.update({int(row[0]): person_from_row(row[1:]) for row in rows})
        return found

    def count(self) -> int:
        return int(self._database.query("SELECT count(*) FROM people")[0][0])

    def listing(self) -> list[tuple[Person, int]]:
        """Everyone enrolled, by external id, with their number of templates."""
        columns = ", ".join(f"p.{c.strip()}" for c in PERSON_COLUMNS.split(","))
        rows = self._database.query(
            f"SELECT {columns}, (SELECT count(*) FROM face_templates t WHERE t.person_id = p.id)"
            " FROM people p ORDER BY p.external_id"
        )
        return [(person_from_row(row[:-1]), int(row[-1])) for row in rows]

    def erase(self, person_uid: str, *, operator: str, reason: str) -> bool:
        """Remove a person with their templates and photos; queue a tombstone; audit it.

        True once their data has left the store's files too. False when another connection's
        read held that back past ``StoreConfig.purge_wait_s``: the purge stays owed, recorded
        in the store, and the next open or write of it, by any process, runs it
        (``Database.purge``; ``Database.owed_purge_since`` tells). A person pulled but only
        set aside here (``Removal.held`` False) is erased, recorded and tombstoned the same
        way: their set-aside changes hold their name and face vectors. A ``reason`` longer than
        the tombstone carries (``MAX_ERASURE_REASON_CHARS``) is refused before anything is
        erased (``RecordInvalidError``), and so is the retention purge's own reason
        (``RETENTION_REASON``): the hub applies a tombstone giving it only once the person's
        retention has ended by its clock, so an erasure request worded so would not be.
        """
        if len(reason) > MAX_ERASURE_REASON_CHARS:
            raise RecordInvalidError(
                f"not erased: the reason has {len(reason)} characters; the erasure's "
                f"tombstone carries at most {MAX_ERASURE_REASON_CHARS}"
            )
        if reason.strip().casefold() == RETENTION_REASON.casefold():
            raise RecordInvalidError(
                f"not erased: {RETENTION_REASON!r} is the retention purge's own reason"
                " (`jaga store purge-expired`); give the erasure request's"
            )
        self._remove(person_uid, operator=operator, reason=reason)
        return self._database.purge(wait=True)

    def _remove(self, person_uid: str, *, operator: str, reason: str) -> None:
        with self._database.write() as connection:
            held_for = self._outbox.hub_holding(
                connection, person_uid
            )  # before the removal drops them
            removed = remove_person(connection, self._outbox, person_uid)
            if removed is None:  # rolled back: nothing is erased
                raise RecordNotFoundError(f"no person {person_uid}")
            now = format_timestamp(self._clock.now())
            self._outbox.enqueue(
                connection,
                entity="person",
                entity_uid=person_uid,
                operation="tombstone",
                payload={"person_uid": person_uid, "erased_at": now, "reason": reason},
                held_for=held_for,
            )
            self._audit.append(
                connection,
                actor=operator,
                action="person.erased",
                subject=person_uid,
                details=removed.details(reason),
            )

    def expired(self, now: datetime) -> list[str]:
        """Uids of people whose consent retention date has passed by ``now``
        (``retention_now``: the device's clock, or the release date when it reads earlier;
        not the hub time seen, which can be wrong too, and an erasure here is for good; a
        clock ahead erases early here only, as the hub erases on its own clock, and a clock
        behind, past the release date, keeps a person until the hub's purge reaches it as a
        tombstone).

        People pulled but only set aside here (``deferred_changes``: their badge is held by
        someone else) count too, by the retention date in their set-aside change: an
        offline kiosk gets no hub tombstone for them, and that change holds their name.

        A person the hub kept after this device erased them early, and sent again, waits
        for the time noted then (``sync.store.retention_kept``)."""
        rows = self._database.query(
            f"SELECT person_uid, retain_until FROM people WHERE retain_until <= ? AND {NOT_KEPT}",
            (format_timestamp(now), format_timestamp(now)),
        )
        ends = {str(uid): parse_timestamp(str(until)) for uid, until in rows}
        for uid, until in self._set_aside_retention():
            if until <= now:
                ends.setdefault(uid, until)
        return sorted(ends, key=lambda uid: (ends[uid], uid))

    def only_set_aside(self, person_uid: str) -> bool:
        """Whether this store holds ``person_uid`` only in pulled changes set aside (their
        badge held by someone else here), not in ``people``."""
        rows = self._database.query(
            "SELECT 1 FROM deferred_changes WHERE person_uid = ?"
            " AND NOT EXISTS (SELECT 1 FROM people WHERE person_uid = ?) LIMIT 1",
            (person_uid, person_uid),
        )
        return bool(rows)

    def _set_aside_retention(self) -> list[tuple[str, datetime]]:
        """(uid, retention date) of each person whose pulled change is set aside here."""
        rows = self._database.query(
            "SELECT person_uid, change FROM deferred_changes WHERE entity_uid = person_uid"
        )
        found = []
        for uid, text in rows:
            try:
                change = json.loads(text)
                if change["entity"] != "person" or change["operation"] != "upsert":
                    continue
                found.append(
                    (str(uid), parse_timestamp(change["payload"]["consent"]["retain_until"]))
                )
            except (ValueError, KeyError, TypeError):
                continue  # unreadable: the hub's tombstone or a re-registration removes it
        return found

    def retention_now(self) -> datetime:
        """The time retention goes by (``expired``): the clock, or the date of the jaga
        release it runs when it reads earlier (``clock.released_on``: a clock reset to 2000,
        on a kiosk no hub purge reaches). That date is certainly past; a hub time seen may
        not be, and an erasure is for good."""
        now, released = self._clock.now(), released_on(self._clock)
        return now if released is None else max(now, released)

    def purge_expired(self, *, operator: str = "retention") -> list[str]:
        """Erase everyone whose retention date has passed (``retention_now``); returns their
        uids. Their data is purged from the files as ``erase`` does, once for all of them."""
        expired = self.expired(self.retention_now())
        for person_uid in expired:
            self._remove(person_uid, operator=operator, reason=RETENTION_REASON)
        if expired:
            self._database.purge(wait=True)
        return expired

    def _insert_person(self, connection: Any, person: Person) -> int:
        person_id = insert_person(connection, person)
        self._outbox.enqueue(
            connection,
            entity="person",
            entity_uid=person.person_uid,
            operation="upsert",
            payload=person_payload(person),
        )
        return person_id

    def _insert_template(
        self, connection: Any, person_id: int, person_uid: str, template: Template
    ) -> None:
        existing_dim = model_dim(connection, template.model)
        if existing_dim is not None and existing_dim != template.vector.size:
            raise ValueError(
                f"{template.model} templates have {existing_dim} dimensions, "
                f"not {template.vector.size}"
            )
        blob = template.vector.astype("<f4").tobytes()
        connection.execute(
            "INSERT INTO face_templates (template_uid, person_id, model_id, model_version, dim,"
            " vector, quality, source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                template.template_uid,
                person_id,
                template.model.model_id,
                template.model.model_version,
                template.vector.size,
                blob,
                template.quality,
                template.source,
                format_timestamp(self._clock.now()),
            ),
        )
        self._outbox.enqueue(
            connection,
            entity="face_template",
            entity_uid=template.template_uid,
            operation="upsert",
            payload=template_payload(
                template.template_uid,
                person_uid,
                model=template.model,
                blob=blob,
                quality=template.quality,
                source=template.source,
            ),
        )
