"""Indexes on the uids a catch and an access event name (``FishObservation.photo_uid``,
``AccessEvent.person_uid``): a photo or person pushed for the first time is refused when
another site's catch or event already names it, a look-up made at every such push."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0019_species_pack_publication_order"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="fishobservation",
            index=models.Index(fields=["photo_uid"], name="fish_photo_uid"),
        ),
        migrations.AddIndex(
            model_name="accessevent",
            index=models.Index(fields=["person_uid"], name="access_person_uid"),
        ),
    ]
