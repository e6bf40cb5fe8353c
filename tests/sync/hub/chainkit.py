"""A device's anchored chain as retention leaves it, written straight into a database (the
migration and trigger tests, which work on databases of their own)."""

from __future__ import annotations

import uuid

from django.db import connections

from sync.hub.models import Device, Site


def checkpointed_chain(alias: str) -> Device:
    """A device whose entries 1-5 of segment 0 were held, 1-3 deleted by retention up to a
    checkpoint, in database ``alias``; the device."""
    site = Site.objects.using(alias).create(slug="checkpointed")
    device: Device = Device.objects.using(alias).create(uid=uuid.uuid4(), site=site, name="kiosk")
    with connections[alias].cursor() as cursor:
        for n in range(1, 6):
            cursor.execute(
                "INSERT INTO hub_anchoredauditentry (device_id, segment, sequence, at, actor,"
                " action, subject, details, prev_hash, entry_hash, received_at) VALUES"
                " (%s, 0, %s, '2020-01-01T00:00:00+00:00', 'a', 'x', 's', '{}', %s, %s, now())",
                [device.pk, n, f"h{n - 1}", f"h{n}"],
            )
        cursor.execute(
            "INSERT INTO hub_anchoredcheckpoint (device_id, segment, sequence, entry_hash,"
            " first_sequence, first_hash, moved_at) VALUES (%s, 0, 3, 'h3', 1, 'h1', now())",
            [device.pk],
        )
        cursor.execute("DELETE FROM hub_anchoredauditentry WHERE sequence <= 3")
    return device
