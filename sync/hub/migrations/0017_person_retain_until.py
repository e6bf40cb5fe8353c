"""A person's retention date as a column of its own, indexed over the live people: search
and every pull leave out those past it, and read it from an index instead of casting every
live person's consent."""

# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0016_device_grant_central_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="person",
            name="retain_until",
            field=models.DateTimeField(editable=False, null=True),
        ),
        # One statement for every person: the protocol checked each date at its push.
        migrations.RunSQL(
            "UPDATE hub_person SET retain_until = (consent ->> 'retain_until')::timestamptz"
            " WHERE consent ? 'retain_until'",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(
                condition=models.Q(erased_at=None),
                fields=["retain_until"],
                name="person_live_retain_until",
            ),
        ),
    ]
