"""``no_fish`` now also means the photo is like none of the pack's species (its familiarity
threshold), not only that it failed the quality gate: the admin's label says so.

Only the choices' label changes, which the database does not hold; reversible.
"""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hub", "0038_person_journaled_at")]

    operations = [
        migrations.AlterField(
            model_name="fishobservation",
            name="status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("identified", "identified"),
                    ("unknown", "unknown: below the pack's open-set threshold"),
                    (
                        "no_fish",
                        "no fish: failed the pack's quality gate, or like none of its species",
                    ),
                ],
                editable=False,
                max_length=16,
                null=True,
            ),
        ),
    ]
