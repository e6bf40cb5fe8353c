"""The admin's one-shot forms spend their token in a table (a unique key), not the session:
two POSTs at once both read the session before either saved it."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0021_site_log_epoch"),
    ]

    operations = [
        migrations.CreateModel(
            name="SpentForm",
            fields=[
                (
                    "token_hash",
                    models.CharField(max_length=64, primary_key=True, serialize=False),
                ),
                ("spent_at", models.DateTimeField(auto_now_add=True, db_index=True)),
            ],
        ),
    ]
