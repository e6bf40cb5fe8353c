"""Access events: every kiosk decision, stored, audited and queued in one transaction.

A decision made while the kiosk's clock was judged wrong carries why (``clock_suspect``,
schema 19, protocol 7): in its row, its audit entry and its payload to the hub. One made with
the clock judged right carries no such field, so its entry and payload are as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.store.audit import AuditLog
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.outbox import Outbox
from sync.store.records import AccessEvent

COLUMNS = (
    "event_uid, occurred_at, site, device, decision, person_uid, similarity, liveness,"
    " clock_suspect"
)


class AccessLog:
    """The kiosk's decisions: attendance for export, an audit trail for disputes."""

    def __init__(self, database: Database, clock: Clock, audit: AuditLog, outbox: Outbox) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._outbox = outbox

    def record(self, event: AccessEvent) -> AccessEvent:
        with self._database.write() as connection:
            columns = dict(zip(COLUMNS.split(", "), access_row(event), strict=True))
            if event.clock_suspect is None:  # the row as before the flag (schema 19)
                del columns["clock_suspect"]
            columns["created_at"] = format_timestamp(self._clock.now())
            connection.execute(
                f"INSERT INTO access_events ({', '.join(columns)})"
                f" VALUES ({','.join('?' * len(columns))})",
                tuple(columns.values()),
            )
            payload = access_payload(event)
            self._audit.append(
                connection,
                actor=event.device,
                action="access.decision",
                subject=event.person_uid or "-",
                details=payload,
            )
            self._outbox.enqueue(
                connection,
                entity="access_event",
                entity_uid=event.event_uid,
                operation="upsert",
                payload=payload,
            )
        return event

    def between(self, since: str, until: str, limit: int = 10_000) -> list[AccessEvent]:
        """Events with ``since <= occurred_at < until`` (store timestamps), oldest first."""
        rows = self._database.query(
            f"SELECT {COLUMNS} FROM access_events WHERE occurred_at >= ? AND occurred_at < ?"
            " ORDER BY occurred_at LIMIT ?",
            (since, until, limit),
        )
        return [access_event(row) for row in rows]

    def recorded(self, event_uid: str) -> bool:
        """Whether the store holds this event (one a kiosk killed after its commit kept)."""
        query = "SELECT 1 FROM access_events WHERE event_uid = ?"
        return bool(self._database.query(query, (event_uid,)))

    def count(self) -> int:
        return int(self._database.query("SELECT count(*) FROM access_events")[0][0])


def access_payload(event: AccessEvent) -> dict[str, Any]:
    """The event as its audit entry and its outbox entry hold it (``AccessEventUpsert``);
    ``clock_suspect`` only when the clock was judged wrong (see the module)."""
    payload: dict[str, Any] = {
        "event_uid": event.event_uid,
        "occurred_at": format_timestamp(event.occurred_at),
        "site": event.site,
        "device": event.device,
        "decision": event.decision,
        "person_uid": event.person_uid,
        "similarity": event.similarity,
        "liveness": event.liveness,
    }
    if event.clock_suspect is not None:
        payload["clock_suspect"] = event.clock_suspect
    return payload


def access_row(event: AccessEvent) -> tuple[Any, ...]:
    """The event's values in ``COLUMNS`` order."""
    return (
        event.event_uid,
        format_timestamp(event.occurred_at),
        event.site,
        event.device,
        event.decision,
        event.person_uid,
        event.similarity,
        event.liveness,
        event.clock_suspect,
    )


def access_event(row: Sequence[Any]) -> AccessEvent:
    uid, occurred_at, site, device, decision, person_uid, similarity, liveness, suspect = row
    return AccessEvent(
        occurred_at=parse_timestamp(occurred_at),
        site=site,
        device=device,
        decision=decision,
        person_uid=person_uid,
        similarity=similarity,
        liveness=liveness,
        event_uid=uid,
        clock_suspect=suspect,
    )
