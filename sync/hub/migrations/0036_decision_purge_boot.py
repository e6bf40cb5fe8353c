"""Each purge run records the host's boot id and boot time (``sync.hub.clock_check``: the
next run on the same boot tells a clock that jumped from time that passed), and a run of a
hub that keeps decisions for ever is recorded too, without a cutoff. Columns without a
default or with a constant one, and a NOT NULL dropped: no table rewrite, a live hub can run
it. Migrating back gives each run without a cutoff its start as one (it deleted nothing, so no
cutoff it could have had is truer), as the column then needs one."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def _cutoff_for_runs_without(apps: Any, schema_editor: Any) -> None:
    runs = apps.get_model("hub", "DecisionPurge").objects.using(schema_editor.connection.alias)
    runs.filter(cutoff__isnull=True).update(cutoff=models.F("started_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0035_audit_checkpoint_restore"),
    ]

    operations = [
        migrations.AddField(
            model_name="decisionpurge",
            name="boot_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="decisionpurge",
            name="boot_seconds",
            field=models.FloatField(null=True),
        ),
        migrations.AlterField(
            model_name="decisionpurge",
            name="cutoff",
            field=models.DateTimeField(null=True),
        ),
        # Backwards this runs first, before the column takes its NOT NULL back.
        migrations.RunPython(migrations.RunPython.noop, _cutoff_for_runs_without),
    ]
