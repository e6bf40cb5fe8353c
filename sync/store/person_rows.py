"""How a person is a row of the ``people`` table: its columns, written and read back.

Apart from ``sync.store.people`` because the row's shape is shared: ``People`` writes and
looks people up through it, and a site's people are read inside another's transaction
(``people_of_site``): the kiosk's gallery with their templates (``desktop.kiosk.gallery``),
a renewal of the hub's log to queue them again (``sync.store.resend``). The columns are
named once here, so each reader and the writer agree on their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.store.clock import format_timestamp, parse_timestamp
from sync.store.records import Consent, Person

PERSON_COLUMNS = (
    "person_uid, external_id, display_name, site, consent_text_version, consent_given_at,"
    " consent_operator, retain_until, created_at"
)


def insert_person(connection: Any, person: Person) -> int:
    """Write ``person``'s row; its local id."""
    consent = person.consent
    cursor = connection.execute(
        f"INSERT INTO people ({PERSON_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            person.person_uid,
            person.external_id,
            person.display_name,
            person.site,
            consent.text_version,
            format_timestamp(consent.given_at),
            consent.operator,
            format_timestamp(consent.retain_until),
            format_timestamp(person.created_at),
        ),
    )
    return int(cursor.lastrowid)


def people_of_site(connection: Any, site: str) -> list[tuple[int, Person]]:
    """The people of ``site`` this device holds, enrolled here or pulled, with their local
    ids, in the order it took them (``created_at``: when enrolled here, or first pulled)."""
    rows = connection.execute(
        f"SELECT id, {PERSON_COLUMNS} FROM people WHERE site = ? ORDER BY id", (site,)
    ).fetchall()
    return [(int(row[0]), person_from_row(row[1:])) for row in rows]


def person_from_row(row: Sequence[Any]) -> Person:
    return Person(
        person_uid=row[0],
        external_id=row[1],
        display_name=row[2],
        site=row[3],
        consent=Consent(
            text_version=row[4],
            given_at=parse_timestamp(row[5]),
            operator=row[6],
            retain_until=parse_timestamp(row[7]),
        ),
        created_at=parse_timestamp(row[8]),
    )
