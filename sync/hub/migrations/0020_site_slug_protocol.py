"""A site's slug is checked against the protocol's pattern in every form (the admin's), so
no site is made that its devices cannot register with. No change to any table: sites
stored before keep their slug."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models

import sync.hub.models.sites


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0019_species_pack_publication_order"),
    ]

    operations = [
        migrations.AlterField(
            model_name="site",
            name="slug",
            field=models.SlugField(
                max_length=63, unique=True, validators=[sync.hub.models.sites.validate_site_slug]
            ),
        ),
    ]
