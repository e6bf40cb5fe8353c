"""Exactly-once checks against the hub's own PostgreSQL (through its Django models).

What a device expects on the hub is read from its outbox: every upsert entry names a record
(entity, uid). The outbox forgets an acknowledged access decision, person or face template
(``sync.store.outbox``), so those are read from the device's own tables, and how many upserts
it sent of each from the keys the hub's ledger holds for it (a key applied twice still shows
as a change beyond them). ``lost`` counts expected records the hub does not have (or has with other
content); ``duplicated`` counts extra rows for one uid, records of the site the device never
made, and change-log entries beyond the number of upserts the device sent for a record (each
upsert applied once emits at most one change, so a double apply shows there).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sync.store import OutboxState, Store

_MODELS = {
    "fish_observation": "FishObservation",
    "access_event": "AccessEvent",
    "person": "Person",
    "face_template": "FaceTemplate",
    "photo": "Photo",
}


@dataclass(frozen=True)
class Tally:
    records: int
    lost: int
    duplicated: int
    detail: str = ""

    def __add__(self, other: Tally) -> Tally:
        detail = "; ".join(d for d in (self.detail, other.detail) if d)
        return Tally(
            self.records + other.records,
            self.lost + other.lost,
            self.duplicated + other.duplicated,
            detail,
        )


# The kinds the outbox forgets once acknowledged, and where a device holds their records.
_FORGOTTEN = {
    "access_event": "SELECT event_uid FROM access_events",
    "person": "SELECT person_uid FROM people",
    "face_template": "SELECT template_uid FROM face_templates",
}


def sent_upserts(stores: Iterable[Store]) -> Counter[tuple[str, str]]:
    """(entity, uid) -> how many upserts the devices sent of it (see the module)."""
    sent: Counter[tuple[str, str]] = Counter()
    for store in stores:
        for entry in store.outbox.entries(limit=1_000_000):
            if entry.operation == "upsert" and entry.entity not in _FORGOTTEN:
                sent[(entry.entity, entry.entity_uid)] += 1
        for entity, query in _FORGOTTEN.items():
            for (uid,) in store.database.query(query):
                sent[(entity, str(uid))] = _applied_upserts(entity, str(uid))
    return sent


def _applied_upserts(entity: str, uid: str) -> int:
    from sync.hub.models import AppliedEntry

    applied = AppliedEntry.objects.filter(entity=entity, entity_uid=uid, operation="upsert")
    return max(1, int(applied.count()))  # held here, so made here or pulled: the hub had it


def drained(store: Store) -> bool:
    """Every outbox entry acknowledged: nothing queued, in flight or quarantined."""
    counts = store.outbox.counts()
    return counts[OutboxState.ACKNOWLEDGED] == sum(counts.values())


def hub_tally(site: str, stores: Iterable[Store]) -> Tally:
    """Lost and duplicated records of ``site`` against what the devices sent."""
    stores = list(stores)
    sent = sent_upserts(stores)
    expected = set(sent)
    lost = duplicated = 0
    problems: list[str] = []
    for entity, model_name in _MODELS.items():
        uids = _hub_uids(model_name, site)
        mine = {uid for (kind, uid) in expected if kind == entity}
        missing = mine - set(uids)
        extra = [uid for uid in uids if uid not in mine]
        doubled = sum(n - 1 for n in uids.values() if n > 1)
        lost += len(missing)
        duplicated += len(extra) + doubled
        if missing or extra or doubled:
            problems.append(f"{entity}: {len(missing)} missing, {len(extra)} extra, {doubled} x2")
    changes = _change_counts(site)
    over = sum(max(0, n - sent[key]) for key, n in changes.items())
    duplicated += over
    if over:
        problems.append(f"{over} change-log entries beyond the upserts sent")
    mangled = _observation_mismatches(site, stores)
    lost += mangled
    if mangled:
        problems.append(f"{mangled} observations stored with other content")
    return Tally(len(expected), lost, duplicated, "; ".join(problems))


def _hub_uids(model_name: str, site: str) -> Counter[str]:
    from sync.hub import models

    model: Any = getattr(models, model_name)
    query = model.objects.filter(site__slug=site)
    if model_name == "Person":
        query = query.filter(erased_at__isnull=True)
    return Counter(str(uid) for uid in query.values_list("uid", flat=True))


def _change_counts(site: str) -> Counter[tuple[str, str]]:
    from sync.hub.models import Change

    rows = Change.objects.filter(site__slug=site, operation="upsert").values_list(
        "entity", "entity_uid"
    )
    return Counter((str(entity), str(uid)) for entity, uid in rows)


def _observation_mismatches(site: str, stores: list[Store]) -> int:
    """Observations whose notes (each run tags them) differ between device and hub."""
    from sync.hub.models import FishObservation

    hub = dict(FishObservation.objects.filter(site__slug=site).values_list("uid", "notes"))
    hub = {str(uid): notes for uid, notes in hub.items()}
    mismatches = 0
    for store in stores:
        rows = store.database.query("SELECT observation_uid, notes FROM fish_observations")
        mismatches += sum(1 for uid, notes in rows if uid in hub and hub[uid] != notes)
    return mismatches


def hub_photo_sha256(photo_uid: str) -> str | None:
    """The sha256 of the bytes the hub keeps for a photo (None: no bytes yet)."""
    from sync.hub.models import Photo

    photo = Photo.objects.filter(uid=photo_uid).first()
    if photo is None or photo.data is None:
        return None
    return hashlib.sha256(bytes(photo.data)).hexdigest()
