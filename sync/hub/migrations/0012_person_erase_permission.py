"""Erasing a person from the admin takes its own permission (``hub.erase_person``)."""

# ruff: noqa: RUF012

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0011_audit_reissued_chain"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="person",
            options={
                "ordering": ("site__slug", "display_name"),
                "permissions": (("erase_person", "Can erase a person everywhere"),),
                "verbose_name_plural": "people",
            },
        ),
    ]
