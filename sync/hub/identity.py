"""The hub's id: one uuid per hub database, which devices tell hubs apart by.

A device reaches its hub at an address, and a hub may move: a new DNS name, a TLS port.
By address alone the device takes the moved hub for another one, and holds its own records
for an address that no longer answers. So the hub names itself in its status, register and
pull answers (``HUB_ID_HEADER``), and the device keeps the id with its registration
(``sync.store.hub_keys.same_hub``).

The id lives in the hub's database (``HubIdentity``, one row, made by migration 0043), so
every worker behind a load balancer answers the same, and a hub restored from a backup keeps
it, an older backup too: it is the same hub, and its devices' records are its records. A
backup made before the row existed is given the same id again: the migration (and this
module, should the row be missing, as after a data-only restore of such a backup) derives
it from when the hub's database was made: the ``applied`` time of the hub app's first
migration in ``django_migrations``, an ordinary table that ``pg_dump`` and ``pg_restore``
carry as they are, that no later migration rewrites and no admin edits. (Not the oldest
site: an admin may delete it, and a backup made before then would derive another id than
the live hub did after.) A copy of a hub's database (a staging hub made from a production
dump) shares its id: ``jaga hub new-id`` gives the copy its own (``give_new_id``, an
update of the row: deleted, it would be derived the same). Every answer reads the row, so
a hub that serves names the new id from its next answer on, in every worker.

0043 holds its own copy of ``derived_id`` (a migration does what it did when written): this
one must keep deriving what that copy does, or a hub whose row is missing would be given
another id than its migration gave it (a test holds the two equal).

Not the erasure journal's ``hub-id`` file (``sync.hub.erasure_journal``): that lives in a
data folder, beside the journal it names, not in the database every worker shares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

_NAMESPACE = UUID("6f1d2c0e-4a53-4a8e-9b7e-2f0c6d9a1b34")  # this project's, for uuid5


def hub_id() -> UUID:
    """This hub's id, made (as the migration makes it) if its row is missing."""
    # Not at the top: importing this module (``derived_id``) needs no ready Django apps.
    from django.db import connections

    from sync.hub.models import HubIdentity

    row = HubIdentity.objects.first()
    if row is None:
        made = {"uid": derived_id(connections[HubIdentity.objects.db])}
        row, _ = HubIdentity.objects.get_or_create(one=True, defaults=made)
    return UUID(str(row.uid))


def give_new_id() -> tuple[UUID, UUID]:
    """Give this hub a new, random id; returns the old one and the new one. The row is
    locked meanwhile, so a ``hub_id`` of another worker reads the old id or the new."""
    from django.db import transaction

    from sync.hub.models import HubIdentity

    hub_id()  # the row, made if missing: its derived id is the old one
    with transaction.atomic():
        row = HubIdentity.objects.select_for_update().get()
        old = UUID(str(row.uid))
        row.uid = uuid4()
        row.save(update_fields=["uid"])
    return old, UUID(str(row.uid))


# When the hub's database was made: its first migration, recorded once, kept by a restore.
_FIRST_APPLIED = "SELECT applied FROM django_migrations WHERE app = 'hub' AND name = '0001_initial'"


def derived_id(connection: Any) -> UUID:
    """The id of the hub whose database ``connection`` (Django's) reaches, from when its
    first migration was applied; random when none was recorded (no hub has none)."""
    with connection.cursor() as cursor:
        cursor.execute(_FIRST_APPLIED)
        row = cursor.fetchone()
    if row is None:
        return uuid4()
    applied: datetime = row[0]
    return uuid5(_NAMESPACE, f"hub database made at {applied.astimezone(UTC).isoformat()}")
