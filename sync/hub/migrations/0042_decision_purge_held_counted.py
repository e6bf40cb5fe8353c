"""``DecisionPurge.held_chains`` None until the run counted the chains it held: ``/metrics``
gives the count of the last run that counted, though it stopped after (in its prune), not
the last complete run's. A run that did not complete may not have counted: its 0 becomes
None (the gauge then gives the last complete run's count, as before, until the next run);
a refusal is no run. A live hub can run it, and run it backwards (None is 0 again)."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def _uncounted(apps: Any, _schema_editor: Any) -> None:
    runs = apps.get_model("hub", "DecisionPurge").objects
    runs.filter(models.Q(complete=False) | ~models.Q(refused="")).update(held_chains=None)


def _zero(apps: Any, _schema_editor: Any) -> None:
    apps.get_model("hub", "DecisionPurge").objects.filter(held_chains=None).update(held_chains=0)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0041_log_epoch_renewal"),
    ]

    operations = [
        migrations.AlterField(
            model_name="decisionpurge",
            name="held_chains",
            field=models.IntegerField(null=True),
        ),
        migrations.RunPython(_uncounted, _zero),  # backwards: 0 again before NOT NULL
    ]
