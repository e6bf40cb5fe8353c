"""An erasure on the hub reaches PostgreSQL's files, not only its query results.

PostgreSQL never overwrites a row in place: a deleted or updated row stays in the table's
file as a dead tuple, and VACUUM only marks its space free for later rows. These tests read
the relation files themselves (after a CHECKPOINT) for the erased person's face vector and
name. An erasure does not rewrite the tables itself (that locks them for every site): the
daily purge does, when someone was erased since the last rewrite.
"""

from __future__ import annotations

import base64
import io
import struct

import numpy as np
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection

from sync.hub.models import Person
from sync.hub.reclaim import ERASED_DATA_TABLES, rewrite_due, rewrite_if_due, rewrite_tables
from tests.sync.hub import entries as e
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import Api

NAME = "Dora Deadtuple"
VECTOR = [((i * 37) % 101) / 101.0 + 0.001 * i for i in range(128)]
RAW = struct.pack("<128f", *VECTOR)
# The HNSW index (cosine) keeps each vector normalized as pgvector does it (the float32
# values over their norm in double precision): look for a few of its floats.
_FLOATS = np.array(VECTOR, dtype=np.float32).astype(np.float64)
NORMALIZED = (_FLOATS / np.sqrt(np.sum(_FLOATS**2))).astype("<f4").tobytes()[8:40]
BASE64 = base64.b64encode(RAW)[:40]
RELATIONS = ("hub_person", "hub_facetemplate", "face_template_hnsw_cosine", "hub_change")


def _relation_bytes(relation: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("SELECT pg_relation_filepath(%s)", [relation])
        base = SERVER.data_dir / cursor.fetchone()[0]
    parts = [base, *sorted(base.parent.glob(base.name + ".[0-9]*"))]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def _traces() -> dict[str, list[str]]:
    """Which relation files hold which trace of the person."""
    found: dict[str, list[str]] = {}
    for relation in RELATIONS:
        data = _relation_bytes(relation)
        marks = {"vector": RAW, "normalized vector": NORMALIZED, "base64": BASE64,
                 "name": NAME.encode()}  # fmt: skip
        found[relation] = [what for what, mark in marks.items() if mark in data]
    return found


def _neighbour(api: Api, badge: str, seed: float) -> None:
    """Another person of the site, so the tables are not left empty (VACUUM would truncate
    an empty table's file, which hides what happens to a dead row among live ones)."""
    person = e.person(api.site, name=f"Neighbour {badge}", badge=badge)
    vector = [seed + 0.01 * i for i in range(128)]
    api.push(
        e.entry("person", "upsert", person),
        e.entry("face_template", "upsert", e.template(person["person_uid"], vector)),
    )


def test_an_erased_persons_vector_and_name_leave_the_database_files(api: Api) -> None:
    _neighbour(api, "B-BEFORE", 0.2)
    person = e.person(api.site, name=NAME, badge="B-DORA")
    uid = person["person_uid"]
    api.push(
        e.entry("person", "upsert", person),
        e.entry("face_template", "upsert", e.template(uid, VECTOR)),
    )
    before = _traces()
    assert "name" in before["hub_person"] and "vector" in before["hub_facetemplate"]
    assert "normalized vector" in before["face_template_hnsw_cosine"]
    assert {"base64", "name"} <= set(before["hub_change"])  # the checks can see them
    _neighbour(api, "B-AFTER", 0.6)

    rewrite_tables()  # a rewrite after T0, the time the tombstone below says it was erased
    assert not rewrite_due()
    api.push(e.entry("person", "tombstone", e.tombstone(uid), when=e.at(1)))

    assert Person.objects.get(uid=uid).erased
    assert rewrite_due() and "vector" in _traces()["hub_facetemplate"]  # dead, not gone
    assert rewrite_if_due()
    assert _traces() == {relation: [] for relation in RELATIONS}
    assert not rewrite_due() and not rewrite_if_due()
    pulled = api.pull_all()  # a device pulling from the start gets the tombstone, no data
    about = [c for c in pulled if uid in (c["entity_uid"], c["payload"].get("person_uid"))]
    assert [(c["entity"], c["operation"]) for c in about] == [("person", "tombstone")]
    assert NAME not in str(pulled)


def test_the_rewrite_can_be_run_by_hand(api: Api) -> None:
    """What an operator runs for an erasure that must leave the files before the daily purge."""
    person = e.person(api.site, name=NAME, badge="B-HAND")
    api.push(e.entry("person", "upsert", person))
    with connection.cursor() as cursor:  # an erasure whose rewrite never ran
        cursor.execute(
            "UPDATE hub_person SET display_name = '', erased_at = now() WHERE uid = %s",
            [person["person_uid"]],
        )
    assert "name" in _traces()["hub_person"]
    out = io.StringIO()
    call_command("rewrite_erased", stdout=out)
    assert out.getvalue().strip() == f"rewrote {', '.join(ERASED_DATA_TABLES)}"
    assert _traces()["hub_person"] == []


def test_the_rewrite_takes_the_name_out_of_the_admin_history_file(api: Api) -> None:
    """The erasure renames the admin's history entries that named the person (an UPDATE):
    the old versions of those rows, with the name, stay in the table's file until the
    rewrite."""
    person = e.person(api.site, name=NAME, badge="B-LOG")
    api.push(e.entry("person", "upsert", person))
    stored = Person.objects.get(uid=person["person_uid"])
    user, _ = User.objects.get_or_create(username="history-writer")
    kinds = ContentType.objects.get_for_model(Person)
    LogEntry.objects.create(user=user, content_type=kinds, object_id=str(stored.pk),
                            object_repr=str(stored), action_flag=CHANGE)  # fmt: skip
    for _ in range(3):  # rows of others, so the table's file is not left empty
        LogEntry.objects.create(user=user, action_flag=CHANGE, object_repr="another")
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"]), when=e.at(1)))
    assert not LogEntry.objects.filter(object_repr__contains=NAME).exists()
    assert NAME.encode() in _relation_bytes("django_admin_log")  # a dead row version
    assert rewrite_if_due()
    assert NAME.encode() not in _relation_bytes("django_admin_log")
