"""Removing a person from the store: the one path every erasure takes.

Apart from ``sync.store.people`` because more than ``People.erase`` needs it: an erasure
pulled from the hub (``sync.client.apply_people``), one carried over a restore
(``sync.store.erasures``) and a site moved to another hub (``sync.client.moved_site``) each
remove a person through it, inside their own write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.store.outbox import Outbox
from sync.store.purge_mark import owe_purge
from sync.store.retention_kept import forget_kept


@dataclass(frozen=True)
class Removal:
    """What erasing one person deleted, for the audit entry (uids are counted, not named).
    ``held``: whether they were in ``people``; a person pulled but only set aside here (their
    badge held by someone else) had only ``set_aside`` changes, holding their name, badge and
    face vectors."""

    templates: int
    photos: int
    set_aside: int = 0
    held: bool = True

    def details(self, reason: str) -> dict[str, Any]:
        removed = {"templates_removed": self.templates, "photos_removed": self.photos}
        if self.set_aside:
            removed["set_aside_removed"] = self.set_aside
        return {**removed, "reason": reason}


def remove_person(connection: Any, outbox: Outbox, person_uid: str) -> Removal | None:
    """Delete a person, their templates and photos, and scrub the outbox of them.

    Runs inside the caller's write transaction; None if this store holds nothing of the
    person (their outbox entries are scrubbed all the same: unsent edits of them must not
    travel). Pulled changes about them set aside until they could apply here are deleted
    too; a person held only that way gives a ``Removal`` that is not ``held``, so that the
    erasure is recorded (audit entry, purge) as any other: a restore carries erasures by
    their audit entries (``sync.store.erasures``).
    Every erasure goes through here: a local one, one pulled from the hub, one carried over a
    restore.
    """
    forget_kept(connection, person_uid)
    set_aside = connection.execute(
        "DELETE FROM deferred_changes WHERE person_uid = ?", (person_uid,)
    ).rowcount
    if set_aside:
        owe_purge(connection)  # they held the name and the templates
    row = connection.execute("SELECT id FROM people WHERE person_uid = ?", (person_uid,)).fetchone()
    if row is None:
        outbox.scrub(connection, [person_uid])
        return Removal(0, 0, set_aside, held=False) if set_aside else None
    template_uids = _column(connection, "face_templates", "template_uid", row[0])
    photo_uids = _column(connection, "photos", "photo_uid", row[0])
    connection.execute("DELETE FROM people WHERE id = ?", (row[0],))  # cascades
    outbox.scrub(connection, [person_uid, *template_uids, *photo_uids])
    owe_purge(connection)  # their data stays in the file until a checkpoint folds this in
    return Removal(len(template_uids), len(photo_uids), set_aside)


def _column(connection: Any, table: str, column: str, person_id: int) -> list[str]:
    rows = connection.execute(
        f"SELECT {column} FROM {table} WHERE person_id = ?", (person_id,)
    ).fetchall()
    return [str(row[0]) for row in rows]
