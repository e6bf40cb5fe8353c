"""Access events are append-only in the database itself: UPDATE raises."""
# ruff: noqa: RUF012

from django.db import migrations

FORBID_UPDATE = """
CREATE FUNCTION hub_access_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access events are append-only (event %)', OLD.uid;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_access_event_no_update BEFORE UPDATE ON hub_accessevent
    FOR EACH ROW EXECUTE FUNCTION hub_access_event_append_only();
"""

ALLOW_UPDATE = """
DROP TRIGGER hub_access_event_no_update ON hub_accessevent;
DROP FUNCTION hub_access_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]
    operations = [migrations.RunSQL(FORBID_UPDATE, ALLOW_UPDATE)]
