"""The audit migrations after 0008 (0009: each device's entries counted; 0011: each new
code's record judged, whether the chain after it continues the old one; 0014: the bytes of
a UTC day kept per hour), 0018 (each species pack's schema, read from its manifest), 0029
and 0032 (indexes built outside a transaction, after a start killed midway), run as a hub
upgrading runs them: ``migrate`` over a database at an earlier state that holds
data.

The data is what the live hub stores for the same situation, on the session's database:
copied, through the models of the state at 0008, into a database of its own on the same
server (so the shared one is never migrated backwards), which is then migrated to the
newest state; the counts and judgements must be those the live hub keeps as it goes.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import psycopg
import pytest
from django.apps.registry import Apps
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from sync.hub import audit_limit
from sync.hub.audit_breaks import acknowledge
from sync.hub.auth import issue_code
from sync.hub.models import (
    AnchoredAuditEntry,
    AnchoredCheckpoint,
    AuditBreak,
    AuditChainState,
    Device,
    Photo,
    SpeciesPack,
)
from sync.hub.models.people import past_retention
from sync.species_packs import archive_pack
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.chainkit import checkpointed_chain
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import Api, run_migrate, start_migrate
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_audit_anchor import _registered_again, breaks, decide, links, send
from tests.sync.hub.test_pack_schema import pack_of_schema
from tests.sync.test_species_packs import make_pack
from tests.sync.test_store_audit import tamper

ALIAS = "before_audit_counts"
BEFORE = ("hub", "0008_audit_anchor")
AUDIT_MODELS: tuple[Any, ...] = (AnchoredAuditEntry, AuditBreak, AuditChainState)
ENTRY_FIELDS = ("segment", "sequence", "entry_hash", "prev_hash", "details")


@pytest.fixture
def upgraded(hub_database: str) -> Iterator[str]:
    """The alias of a new, empty database on the session's server, dropped afterwards (a
    connection left open to it fails the drop)."""
    name = f"jaga_migrations_{uuid.uuid4().hex[:12]}"
    SERVER.create_database(name)
    config = {**copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS]), "NAME": name}
    settings.DATABASES[ALIAS] = connections.settings[ALIAS] = config
    try:
        yield ALIAS
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        # The same dict in Django 5.2; both named should a version copy it.
        for databases in (settings.DATABASES, connections.settings):
            databases.pop(ALIAS, None)
        with psycopg.connect(SERVER.url(), autocommit=True) as server:
            server.execute(f'DROP DATABASE "{name}"')


def _device(api: Api) -> Device:
    device: Device = Device.objects.get(uid=api.device_id)
    return device


def _live_chains(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> list[Device]:
    """Three devices of ``api``'s site as the live hub leaves them: the first with a break
    acknowledged and then a new code its own store came back after (three segments); the
    second given a new code a new store came with; the third a code nothing came after."""
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200  # segment 0: 1..5
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=5)).status_code == 409  # unlinked at 5
    acknowledge(breaks(api)[0], "operator", "restored from a backup")
    assert send(api, links(store, after=4)).status_code == 200  # segment 1: 5 and 6
    again = _registered_again(api, issue_code(_device(api)).code)
    decide(store, clock, 1)
    assert send(again, links(store)).status_code == 200  # segment 2: a copy of 6, and 7
    replaced = Api.register_new(api.site, "kiosk-2")
    with Store.create(tmp_path / "old.db", passphrase, clock=clock, config=FAST) as old:
        decide(old, clock, 2)
        assert send(replaced, links(old)).status_code == 200
    renewed = _registered_again(replaced, issue_code(_device(replaced)).code)
    with Store.create(tmp_path / "new.db", passphrase, clock=clock, config=FAST) as new:
        assert send(renewed, links(new)).status_code == 200  # segment 1: a new chain
    waiting = Api.register_new(api.site, "kiosk-3")
    with Store.create(tmp_path / "waiting.db", passphrase, clock=clock, config=FAST) as own:
        assert send(waiting, links(own)).status_code == 200
    issue_code(_device(waiting))
    return [_device(each) for each in (api, replaced, waiting)]


def _fill(apps: Apps, alias: str, devices: list[Device]) -> None:
    """Copy the devices' audit rows into ``alias`` through the models of ``apps`` (the
    columns a hub at 0008 has), each device as a new one of a new site of the same slug."""
    slug = devices[0].site.slug
    site = apps.get_model("hub", "Site").objects.using(alias).create(slug=slug)
    historical = apps.get_model("hub", "Device").objects.using(alias)
    ids = {d.pk: historical.create(uid=d.uid, site=site, name=d.name).pk for d in devices}
    for live in AUDIT_MODELS:
        model = apps.get_model("hub", live.__name__)
        columns = [f.attname for f in model._meta.concrete_fields]
        columns = [c for c in columns if c not in {"id", "device_id"}]
        rows = live.objects.filter(device__in=devices).order_by("pk").values("device_id", *columns)
        model.objects.using(alias).bulk_create(
            model(**{**row, "device_id": ids[row["device_id"]]}) for row in rows
        )


def _judged(alias: str, site: str) -> list[tuple[str, int, str, bool | None]]:
    rows = AuditBreak.objects.using(alias).filter(device__site__slug=site)
    ordered = rows.order_by("device__name", "segment")
    return list(ordered.values_list("device__name", "segment", "kind", "continues_old_chain"))


def _counted(alias: str, site: str) -> dict[str, int]:
    rows = AuditChainState.objects.using(alias).filter(device__site__slug=site)
    return dict(rows.values_list("device__name", "entries"))


def _entries(alias: str, site: str) -> list[tuple[Any, ...]]:
    rows = AnchoredAuditEntry.objects.using(alias).filter(device__site__slug=site)
    ordered = rows.order_by("device__name", "segment", "sequence")
    return list(ordered.values_list("device__name", *ENTRY_FIELDS))


def test_a_hub_at_0008_holding_chains_migrates_to_the_live_hubs_counts_and_judgements(
    api: Api,
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    passphrase: Passphrase,
    *,
    upgraded: str,
) -> None:
    devices = _live_chains(api, store, clock, tmp_path, passphrase)
    live, site = DEFAULT_DB_ALIAS, api.site
    assert _judged(live, site) == [
        ("device", 0, "unlinked", None),
        ("device", 1, "reissued", True),
        ("kiosk-2", 0, "reissued", False),
        ("kiosk-3", 0, "reissued", None),
    ]
    assert _counted(live, site) == {"device": 9, "kiosk-2": 4, "kiosk-3": 1}

    migrated_to(upgraded, BEFORE)
    _fill(MigrationLoader(connections[upgraded]).project_state(BEFORE).apps, upgraded, devices)
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)

    assert _judged(upgraded, site) == _judged(live, site)
    assert _counted(upgraded, site) == _counted(live, site)
    assert _entries(upgraded, site) == _entries(live, site)  # copied whole, left untouched


def test_a_days_audit_bytes_migrate_to_the_newest_hour_they_can_be_from(
    api: Api, upgraded: str
) -> None:
    """Today's bytes count for a day from the upgrade (they may be that recent): the upgrade
    lets no device past its limit in 24 hours; an earlier day's count from its last hour."""
    before = ("hub", "0013_erasure_rewrite")
    migrated_to(upgraded, before)
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug=api.site)
    devices = apps.get_model("hub", "Device").objects.using(upgraded)
    states = apps.get_model("hub", "AuditChainState").objects.using(upgraded)
    now = timezone.now()
    days = {"today": now.date(), "days ago": now.date() - timedelta(days=3), "none": None}
    for name, day in days.items():
        device = devices.create(uid=uuid.uuid4(), site=site, name=name)
        states.create(device=device, day=day, day_bytes=5000 if day else 0)
    hour = math.floor(timezone.now().timestamp() / audit_limit.SLICE_S)
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    migrated = AuditChainState.objects.using(upgraded).filter(device__site__slug=api.site)
    kept = dict(migrated.values_list("device__name", "recent_bytes"))
    after = math.floor(timezone.now().timestamp() / audit_limit.SLICE_S)
    ran_in = [{str(each): 5000} for each in range(hour, after + 1)]  # the hour it ran in
    assert kept.pop("today") in ran_in
    old_end = datetime.combine(days["days ago"] + timedelta(days=1), time(), UTC)
    last_hour = math.floor(old_end.timestamp() / audit_limit.SLICE_S) - 1
    assert kept == {"days ago": {str(last_hour): 5000}, "none": {}}
    today = migrated.get(device__name="today")
    assert sum(audit_limit.recent_bytes(today, after).values()) == 5000  # still counted
    assert audit_limit.recent_bytes(migrated.get(device__name="days ago"), after) == {}


def test_the_staff_site_membership_migration_applies_and_reverses(upgraded: str) -> None:
    """0015 adds one table (no data to carry): a hub at 0014 gains it, and loses it again
    when migrated back."""
    before = ("hub", "0014_audit_limit_over_any_day")
    migrated_to(upgraded, before)
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    assert "hub_sitemembership" in connections[upgraded].introspection.table_names()
    call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    assert "hub_sitemembership" not in connections[upgraded].introspection.table_names()


def test_the_photo_withheld_migration_applies_and_reverses(upgraded: str) -> None:
    """0040 adds one column with a default: migrated back to 0039 a hub loses it, and
    gains it again. (Migrated up from nothing, all the other apps first: auth's permission
    names are only wide enough after its own later migrations.)"""
    before = ("hub", "0039_fish_status_familiarity")

    def columns() -> set[str]:
        with connections[upgraded].cursor() as cursor:
            described = connections[upgraded].introspection.get_table_description(
                cursor, "hub_photo"
            )
        return {column.name for column in described}

    migrated_to(upgraded)
    assert "withheld" in columns()
    call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    assert "withheld" not in columns()
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    assert "withheld" in columns()


def test_the_models_need_no_migration_the_hub_lacks() -> None:
    """``makemigrations --check`` exits 1 when a model changed without its migration."""
    call_command("makemigrations", "hub", "--check", "--dry-run", verbosity=0)


def test_a_hub_upgrading_gains_the_central_search_permission_and_gives_it_to_nobody(
    upgraded: str,
) -> None:
    """Granting a device central search takes ``hub.grant_central_search`` (it was the add
    or change permission): an upgraded hub has it, and staff who could change devices do
    not get it with the upgrade (a superuser grants it)."""
    from django.contrib.auth.models import Permission, User

    migrated_to(upgraded, ("auth",), ("hub", "0015"))
    changer = User.objects.db_manager(upgraded).create_user("changer", is_staff=True)
    changer.user_permissions.set(
        Permission.objects.using(upgraded).filter(codename="change_device")
    )
    grant = Permission.objects.using(upgraded).filter(codename="grant_central_search")
    assert not grant.exists()
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)

    assert grant.get().content_type.model == "device"
    held = changer.user_permissions.using(upgraded).values_list("codename", flat=True)
    assert list(held) == ["change_device"]


def test_the_retention_date_of_people_already_held_is_read_into_its_column(
    api: Api, upgraded: str
) -> None:
    """0017 fills ``retain_until`` from each person's consent: a person already past it
    stays out of search and pulls after the upgrade, one within it stays in."""
    before = ("hub", "0016_device_grant_central_search")
    migrated_to(upgraded, ("auth",), before)  # auth's whole: permission names past 50 characters
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug=api.site)
    people = apps.get_model("hub", "Person").objects.using(upgraded)
    now = timezone.now()
    for name, until in (("past", now - timedelta(days=1)), ("within", now + timedelta(days=1))):
        consent = {"text_version": "v1", "retain_until": until.isoformat()}
        people.create(uid=uuid.uuid4(), site=site, display_name=name, consent=consent)
    people.create(uid=uuid.uuid4(), site=site, display_name="erased", consent={})
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    expired = past_retention(now).using(upgraded).filter(site__slug=api.site)
    assert list(expired.values_list("display_name", flat=True)) == ["past"]


def test_the_cursors_erasures_deleted_before_are_named_without_a_fingerprint(
    api: Api, upgraded: str
) -> None:
    """0026 names each gap of a site's log (only an erasure leaves one) as an erased change
    with no fingerprint: a device's tip there stays no evidence of a rewind."""
    before = ("hub", "0025_site_log_epoch_restored_at")
    migrated_to(upgraded, ("auth",), before)
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    sites = apps.get_model("hub", "Site").objects.using(upgraded)
    site = sites.create(slug=api.site, last_cursor=5)
    sites.create(slug=f"{api.site}-quiet")
    for cursor in (1, 2, 4):
        apps.get_model("hub", "Change").objects.using(upgraded).create(
            site=site, cursor=cursor, entity="person", entity_uid=uuid.uuid4(),
            operation="upsert", payload={},
        )  # fmt: skip
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    from sync.hub.models import ErasedChange

    erased = ErasedChange.objects.using(upgraded).order_by("site_id", "cursor")
    assert list(erased.values_list("site__slug", "cursor", "fingerprint")) == [
        (api.site, 3, ""), (api.site, 5, ""),
    ]  # fmt: skip


def test_a_species_pack_published_before_gets_the_schema_its_manifest_gives(
    upgraded: str, tmp_path: Path
) -> None:
    """So that it is announced only to the devices that read it, as a new one is."""
    before = ("hub", "0017_person_retain_until")
    migrated_to(upgraded, ("auth",), before)  # auth's whole: permission names past 50 characters
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    packs = apps.get_model("hub", "SpeciesPack").objects.using(upgraded)
    archives = {
        "sized": pack_of_schema(tmp_path / "sized", 2),
        "combined": pack_of_schema(tmp_path / "combined", 3),
        "no schema": archive_pack(make_pack(tmp_path / "plain")),  # read as 1, as devices did
        "not an archive": b"pack bytes",
    }
    for version, data in archives.items():
        packs.create(version=version, sha256="0" * 64, byte_size=len(data), data=data)
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    migrated = SpeciesPack.objects.using(upgraded).values_list("version", "schema")
    assert dict(migrated) == {"sized": 2, "combined": 3, "no schema": 1, "not an archive": 1}


@pytest.mark.parametrize(
    ("before", "index"),
    [
        ("0027_spent_form_did", "applied_access_event_at"),
        ("0031_decision_purge_refused", "applied_entity_at"),
        ("0050_review_history_under_the_queue", "fish_photo"),
    ],
)
def test_a_start_killed_while_the_retention_index_waits_migrates_at_the_next(
    upgraded: str, before: str, index: str
) -> None:
    """The idempotency keys' indexes (0029, 0032), and the catches' by photo (0051), are
    built CONCURRENTLY, outside a transaction, and wait for every older snapshot (a pg_dump
    running). A start killed while one waits leaves an INVALID index and its migration
    unrecorded: the next start's ``migrate`` (each ``jaga hub run`` migrates; systemd
    restarts it on failure) drops that and builds it again."""
    migrated_to(upgraded, ("auth",), ("hub", before))
    name = connections[upgraded].settings_dict["NAME"]
    connections[upgraded].close()
    url = SERVER.url(name)
    building = (
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        f" AND query ILIKE 'CREATE INDEX CONCURRENTLY%%{index}%%'"
    )
    with psycopg.connect(url) as dump, psycopg.connect(url, autocommit=True) as watch:
        dump.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        dump.execute("SELECT count(*) FROM hub_appliedentry").fetchone()  # as pg_dump holds
        start = start_migrate(url)
        try:
            deadline = monotonic() + 120
            while not watch.execute(building, [name]).fetchall():
                assert start.poll() is None and monotonic() < deadline
                sleep(0.1)
        finally:
            start.kill()
            start.wait(timeout=30)
        # The killed start's server side, ended as the server does once it notices.
        for (pid,) in watch.execute(building, [name]).fetchall():
            watch.execute("SELECT pg_terminate_backend(%s, 30000)", [pid])
        dump.rollback()
        valid = watch.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [index]
        ).fetchall()
        assert valid == [(False,)]  # what a build killed midway leaves
    again = run_migrate(url)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(url, autocommit=True) as check:
        valid = check.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [index]
        ).fetchall()
    assert valid == [(True,)]


def test_the_checkpoint_migration_reverses_only_while_no_checkpoint_is_held(
    upgraded: str,
) -> None:
    """Migrating 0030 back would drop the checkpoints, the only record of the prefixes
    retention deleted (and of each segment's first entry, by which a store back after a new
    code is known): it is refused while any is held."""
    before = ("hub", "0029_decision_retention_index")
    migrated_to(upgraded)
    call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    checkpointed_chain(upgraded)
    with pytest.raises(IrreversibleError, match="1 anchored audit checkpoint"):
        call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    assert AnchoredCheckpoint.objects.using(upgraded).count() == 1


def test_a_run_without_a_cutoff_does_not_stop_0036_migrating_back(upgraded: str) -> None:
    """Since 0036 a hub that keeps decisions for ever records its runs without a cutoff;
    migrating back (a release rolled back) gives each its start as the cutoff the older
    column requires, instead of failing on the NOT NULL."""
    migrated_to(upgraded)
    started = datetime.now(UTC)
    with connections[upgraded].cursor() as cursor:
        cursor.execute(
            "INSERT INTO hub_decisionpurge (started_at, finished_at, keep_days, cutoff,"
            " access_events, applied_entries, audit_entries, held_chains, complete, refused,"
            " boot_id) VALUES (%s, %s, 0, NULL, 0, 0, 0, 0, true, '', '')",
            [started, started],
        )
    call_command("migrate", "hub", "0035", database=upgraded, interactive=False, verbosity=0)
    with connections[upgraded].cursor() as cursor:
        cursor.execute("SELECT cutoff = started_at FROM hub_decisionpurge")
        assert cursor.fetchall() == [(True,)]
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)


def test_0038_marks_nobody_journaled_and_reverses(upgraded: str) -> None:
    """0038 adds ``Person.journaled_at`` and the index of the erased people not journaled:
    an erased person of a hub at 0037 is not marked (the first start's replay marks those
    its journal names, the catch-up journals the rest), and migrating back drops both."""
    before = ("hub", "0037_siteless_erasure")
    migrated_to(upgraded, ("auth",), before)  # auth's whole: permission names past 50 characters
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug="s")
    people = apps.get_model("hub", "Person").objects.using(upgraded)
    erased = people.create(uid=uuid.uuid4(), site=site, erased_at=timezone.now())
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    assert people.get(pk=erased.pk).erased_at is not None
    with connections[upgraded].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM hub_person WHERE journaled_at IS NOT NULL")
        assert cursor.fetchone() == (0,)
    introspection = connections[upgraded].introspection
    with connections[upgraded].cursor() as cursor:
        columns = [c.name for c in introspection.get_table_description(cursor, "hub_person")]
        assert "journaled_at" in columns
        assert "person_erased_unjournaled" in introspection.get_constraints(cursor, "hub_person")

    call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    with connections[upgraded].cursor() as cursor:
        columns = [c.name for c in introspection.get_table_description(cursor, "hub_person")]
        assert "journaled_at" not in columns
        kept = introspection.get_constraints(cursor, "hub_person")
        assert "person_erased_unjournaled" not in kept


def test_0039_relabels_no_fish_and_reverses(upgraded: str) -> None:
    """0039 only relabels ``no_fish`` (a photo like none of the pack's species is one too):
    nothing in the database changes, so a verdict stored before is kept both ways."""
    before = ("hub", "0038_person_journaled_at")
    migrated_to(upgraded, ("auth",), before)
    loader = MigrationLoader(connections[upgraded])
    apps = loader.project_state(before).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug="s")
    fish = apps.get_model("hub", "FishObservation").objects.using(upgraded)
    kept = fish.create(
        uid=uuid.uuid4(), site=site, observed_at=timezone.now(), officer="Siti",
        status="no_fish", status_reason="image is blank (one flat colour)",
    )  # fmt: skip
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    label = (
        loader.project_state(("hub", "0039_fish_status_familiarity"))
        .apps.get_model("hub", "FishObservation")
        ._meta.get_field("status")
        .choices
    )
    assert "like none of its species" in dict(label)["no_fish"]
    call_command("migrate", *before, database=upgraded, interactive=False, verbosity=0)
    assert fish.get(pk=kept.pk).status == "no_fish"
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)


def test_a_run_that_did_not_count_held_chains_does_not_stop_0042_migrating_back(
    upgraded: str,
) -> None:
    """Since 0042 a run records no held count until it counted (None): migrating back gives
    it 0, which the older NOT NULL column requires, and 0041's renewal record goes."""
    migrated_to(upgraded)
    started = datetime.now(UTC)
    with connections[upgraded].cursor() as cursor:
        cursor.execute(
            "INSERT INTO hub_decisionpurge (started_at, finished_at, keep_days, cutoff,"
            " access_events, applied_entries, audit_entries, held_chains, complete, refused,"
            " boot_id) VALUES (%s, NULL, 365, %s, 0, 0, 0, NULL, false, '', '')",
            [started, started],
        )
    call_command("migrate", "hub", "0040", database=upgraded, interactive=False, verbosity=0)
    with connections[upgraded].cursor() as cursor:
        cursor.execute("SELECT held_chains FROM hub_decisionpurge WHERE started_at = %s", [started])
        assert cursor.fetchall() == [(0,)]
        cursor.execute("SELECT to_regclass('hub_logepochrenewal')")
        assert cursor.fetchall() == [(None,)]
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)


def test_photos_waiting_for_their_bytes_are_given_the_device_that_pushed_them(
    upgraded: str,
) -> None:
    """0045 keeps each photo's pushing device, the only one that may change its contents
    before they are stored. A photo already waiting is given the author of the catch that
    names it, else the device uploading it; one stored, or with neither, is given none."""
    before = ("hub", "0044_audit_restarted_kind")
    migrated_to(upgraded, ("auth",), before)  # auth's whole: permission names past 50 characters
    apps = MigrationLoader(connections[upgraded]).project_state(before).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug="boats")
    devices = apps.get_model("hub", "Device").objects.using(upgraded)
    boat, uploader = (devices.create(site=site, name=name) for name in ("boat", "uploader"))
    photos = apps.get_model("hub", "Photo").objects.using(upgraded)

    def photo(name: str, data: bytes | None = None) -> Any:
        meta = {"media_type": "image/jpeg", "sha256": name, "byte_size": 1}
        return photos.create(uid=uuid.uuid4(), site=site, data=data, **meta)

    caught, uploading, _ = (photo(name) for name in ("caught", "uploading", "unknown"))
    stored = photo("stored", b"x")
    for named in (caught, stored):
        apps.get_model("hub", "FishObservation").objects.using(upgraded).create(
            uid=uuid.uuid4(), site=site, device=boat, observed_at=timezone.now(),
            officer="officer-7", photo_uid=named.uid,
        )  # fmt: skip
    apps.get_model("hub", "PhotoUpload").objects.using(upgraded).create(
        photo=uploading, device=uploader, total_size=1, sha256="uploading"
    )
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    pushers = dict(Photo.objects.using(upgraded).values_list("sha256", "device__name"))
    assert pushers == {"caught": "boat", "uploading": "uploader", "stored": None, "unknown": None}


def test_0050_files_the_queues_earlier_answers_under_the_queue(upgraded: str) -> None:
    """Before 0050 a one-click answer was logged under the concrete catch model, which no
    admin page shows: the catch's history page lacked it. 0050 moves those entries (and
    only those: another model's stay) to the queue's model, whose history page lists them."""
    before = ("hub", "0049_photo_upload_per_device")
    migrated_to(upgraded, ("auth",), ("admin",), before)
    at = [before, ("admin", "0003_logentry_add_action_flag_choices")]
    at.append(("contenttypes", "0002_remove_content_type_name"))
    apps = MigrationLoader(connections[upgraded]).project_state(at).apps
    types = apps.get_model("contenttypes", "ContentType").objects.using(upgraded)
    concrete, _ = types.get_or_create(app_label="hub", model="fishobservation")
    site_type, _ = types.get_or_create(app_label="hub", model="site")
    user = apps.get_model("auth", "User").objects.using(upgraded).create(username="reviewer")
    entries = apps.get_model("admin", "LogEntry").objects.using(upgraded)
    for content_type, message in ((concrete, "Confirmed as Lutjanus synagris."), (site_type, "")):
        entries.create(
            user=user, content_type=content_type, object_id="7", object_repr="catch",
            action_flag=2, change_message=message, action_time=timezone.now(),
        )  # fmt: skip
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    with connections[upgraded].cursor() as cursor:
        cursor.execute(
            "SELECT ct.model FROM django_admin_log log"
            " JOIN django_content_type ct ON ct.id = log.content_type_id ORDER BY ct.model"
        )
        assert [model for (model,) in cursor.fetchall()] == ["fishreview", "site"]
