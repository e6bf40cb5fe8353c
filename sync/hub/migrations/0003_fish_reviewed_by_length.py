"""A device now sends who confirmed a species (protocol 2): the officer's name, up to the
wire's 200 characters, where the column held only a hub user name (150)."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hub", "0002_access_events_append_only")]

    operations = [
        migrations.AlterField(
            model_name="fishobservation",
            name="reviewed_by",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
    ]
