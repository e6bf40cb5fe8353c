"""When the tables erased data stays in were last rewritten (``sync.hub.reclaim``)."""

# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0012_person_erase_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="ErasureRewrite",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
            ],
        ),
    ]
