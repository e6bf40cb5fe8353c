"""The audit limit holds over any 24 hours (``sync.hub.audit_limit``), not per UTC day: each
device's bytes are kept per hour (``recent_bytes``) instead of for one day (``day``,
``day_bytes``).

The bytes a device added on its day are moved to the newest hour they can be from (the
hour the migration runs in for today, the last hour of an earlier day), so none counts for
less than a day: an upgrade never lets a device send more than the limit in 24 hours.
"""
# ruff: noqa: RUF012

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import migrations, models
from django.utils import timezone

SLICE_S = 3600  # sync.hub.audit_limit.SLICE_S when this was written


def _hours(apps: Any, schema_editor: Any) -> None:
    states = apps.get_model("hub", "AuditChainState").objects.using(schema_editor.connection.alias)
    now = timezone.now()
    for state in states.filter(day__isnull=False, day_bytes__gt=0):
        day_end = datetime.combine(state.day + timedelta(days=1), time(), UTC)
        newest = min(now, day_end - timedelta(seconds=1))
        hour = math.floor(newest.timestamp() / SLICE_S)
        state.recent_bytes = {str(hour): int(state.day_bytes)}
        state.save(update_fields=["recent_bytes"])


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0013_erasure_rewrite"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainstate",
            name="recent_bytes",
            field=models.JSONField(default=dict, verbose_name="bytes added in the last day"),
        ),
        migrations.RunPython(_hours, migrations.RunPython.noop),
        migrations.RemoveField(model_name="auditchainstate", name="day"),
        migrations.RemoveField(model_name="auditchainstate", name="day_bytes"),
    ]
