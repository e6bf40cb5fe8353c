"""Letting a device search every site takes its own permission (``hub.grant_central_search``)."""

# ruff: noqa: RUF012

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0015_staff_site_membership"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="device",
            options={
                "ordering": ("site__slug", "name"),
                "permissions": (
                    (
                        "grant_central_search",
                        "Can let a device search every site (central look-ups)",
                    ),
                ),
            },
        ),
    ]
