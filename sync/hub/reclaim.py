"""Rewrite the tables an erasure leaves the erased person's data in, so it leaves the files.

PostgreSQL never overwrites a row in place: the erasure's DELETE of the templates, photos and
change-log rows, and its UPDATE that blanks the person, leave the old rows in the table files
as dead tuples (the face vector, the HNSW index's normalized copy of it, the face photos, the
base64 template and the name in the change log's JSON). VACUUM, autovacuum included, only
marks their space free for later rows; it does not clear it. ``VACUUM FULL`` writes each
table (and its indexes and TOAST) into new files and deletes the old ones, which is what
takes the data out.

It holds each table locked while it copies it: pushes and pulls of every site wait, for a time
that grows with the tables (the photos above all). So an erasure does not run it; the daily
``jaga hub purge-expired`` (``jaga-hub-purge.timer``) runs it when it is due, after its own
erasures: when someone was erased since the last rewrite began (``rewrite_due``, read from
the hub's own clock, so a device's late tombstone with an old erasure time counts too).
``jaga hub manage rewrite_erased`` runs it at once.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from sync.hub.models import ErasureRewrite, Person

# Where an erased person's data sits: their row, their templates (and the HNSW index), their
# face photos (and the upload chunks they came in), the change log's payloads, and the
# admin's history, whose entries naming them the erasure renamed (``erase``).
ERASED_DATA_TABLES = (
    "hub_person",
    "hub_facetemplate",
    "hub_photo",
    "hub_photoupload",
    "hub_uploadchunk",
    "hub_change",
    "django_admin_log",
)


def rewrite_due() -> bool:
    """Whether someone was erased (on the hub's clock) since the last rewrite began, or
    had their erasure's reason forgotten (``sync.hub.retention``, which saves the row)."""
    last = ErasureRewrite.objects.order_by("-started_at").first()
    erased = Person.objects.exclude(erased_at=None)
    if last is not None:
        # An erasure committing while the rewrite ran waits for the table's lock, so it
        # is in the copy only if it began before; one saved after the start is due again.
        erased = erased.filter(updated_at__gte=last.started_at)
    return bool(erased.exists())


def rewrite_tables() -> None:
    """``VACUUM FULL`` the tables an erasure leaves dead rows in (outside any transaction),
    and record it."""
    started = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (FULL) {', '.join(ERASED_DATA_TABLES)}")
    ErasureRewrite.objects.create(started_at=started, finished_at=timezone.now())


def rewrite_if_due() -> bool:
    """Rewrite the tables if someone was erased since the last rewrite; whether it did."""
    if not rewrite_due():
        return False
    rewrite_tables()
    return True
