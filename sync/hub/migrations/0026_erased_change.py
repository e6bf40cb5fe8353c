"""The fingerprints of the changes an erasure deletes (``ErasedChange``), so a device's tip
at such a cursor is still evidence (``sync.hub.log_epoch``). Every gap of a site's log now
was left by an erasure (cursors are handed out in order under the site's lock, and only an
erasure deletes a change): each is named, with no fingerprint (this release's erasures
keep one)."""
# ruff: noqa: RUF012

import django.db.models.deletion
from django.db import migrations, models

NAME_GAPS = """
INSERT INTO hub_erasedchange (site_id, cursor, fingerprint)
SELECT site.id, gap.cursor, '' FROM hub_site site
CROSS JOIN LATERAL generate_series(1, site.last_cursor) AS gap(cursor)
WHERE NOT EXISTS (
    SELECT 1 FROM hub_change change WHERE change.site_id = site.id AND change.cursor = gap.cursor
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0025_site_log_epoch_restored_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="ErasedChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("cursor", models.BigIntegerField()),
                ("fingerprint", models.CharField(blank=True, max_length=64)),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="hub.site",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("site", "cursor"), name="erased_change_cursor")
                ],
            },
        ),
        migrations.RunSQL(NAME_GAPS, migrations.RunSQL.noop),
    ]
