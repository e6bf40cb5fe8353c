"""Species packs are listed newest first by publication order (``NEWEST_PACK_FIRST``), not
by ``published_at``: the hub's clock may have run ahead when a pack was published. No
change to any table."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0018_species_pack_schema"),
    ]

    operations = [
        migrations.AlterModelOptions(name="speciespack", options={"ordering": ("-pk",)}),
    ]
