"""The review queue's one-click answers were logged in the admin's history under the
concrete catch model (``FishObservation``, which no admin page shows) rather than under the
queue's (``FishReview``), so a catch's history page lacked them. The admin registers no page
for ``FishObservation``: every entry under it is such an answer, and is moved to the queue's
model. Back: the entries stay where they are (a history page that shows them does no harm)."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations


def _to_the_queue(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(alias)
    concrete = content_types.filter(app_label="hub", model="fishobservation").first()
    if concrete is None:  # a hub that never logged an answer
        return
    queue, _ = content_types.get_or_create(app_label="hub", model="fishreview")
    entries = apps.get_model("admin", "LogEntry").objects.using(alias)
    entries.filter(content_type=concrete).update(content_type=queue)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0049_photo_upload_per_device"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(_to_the_queue, migrations.RunPython.noop),
    ]
