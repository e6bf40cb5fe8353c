"""The encrypted local store: one SQLCipher database per device.

It holds the gallery (people with consent, face templates tagged with their model), fish
observations with photos, access events, the hash-chained audit trail and the outbox. Open it
with a passphrase (scrypt) or a key file::

    from sync.store import Passphrase, Store

    with Store.open(path, Passphrase(secret)) as store:
        gallery = store.gallery(ModelRef("dlib-resnet", "1"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.store.backups import backup, restore
    from sync.store.clock import Clock, SystemClock, format_timestamp, parse_timestamp
    from sync.store.database import StoreConfig
    from sync.store.gallery import Gallery
    from sync.store.keys import KeyFile, KeySource, create_key_file
    from sync.store.passphrase import Passphrase
    from sync.store.records import (
        AccessEvent,
        AuditEntry,
        AuditReport,
        Consent,
        Crop,
        DuplicateMatch,
        Enrolment,
        FishObservation,
        ModelRef,
        OutboxEntry,
        OutboxState,
        Person,
        Photo,
        Position,
        PredictionStatus,
        SpeciesScore,
        Template,
    )
    from sync.store.store import IntegrityReport, Store
    from sync.store.verdict import Quarantined, Verdict

# Where each name lives, imported on first use (PEP 562): `jaga store --help` and any module
# that needs one light part of the store (`sync.store.retention`) do not load SQLCipher,
# numpy and the wire models, which a submodule's import of this package did.
_HOMES = {
    "AccessEvent": "sync.store.records",
    "AuditEntry": "sync.store.records",
    "AuditReport": "sync.store.records",
    "Clock": "sync.store.clock",
    "Consent": "sync.store.records",
    "Crop": "sync.store.records",
    "DuplicateMatch": "sync.store.records",
    "Enrolment": "sync.store.records",
    "FishObservation": "sync.store.records",
    "Gallery": "sync.store.gallery",
    "IntegrityReport": "sync.store.store",
    "KeyFile": "sync.store.keys",
    "KeySource": "sync.store.keys",
    "ModelRef": "sync.store.records",
    "OutboxEntry": "sync.store.records",
    "OutboxState": "sync.store.records",
    "Passphrase": "sync.store.passphrase",
    "Person": "sync.store.records",
    "Photo": "sync.store.records",
    "Position": "sync.store.records",
    "PredictionStatus": "sync.store.records",
    "Quarantined": "sync.store.verdict",
    "SpeciesScore": "sync.store.records",
    "Store": "sync.store.store",
    "StoreConfig": "sync.store.database",
    "SystemClock": "sync.store.clock",
    "Template": "sync.store.records",
    "Verdict": "sync.store.verdict",
    "backup": "sync.store.backups",
    "create_key_file": "sync.store.keys",
    "format_timestamp": "sync.store.clock",
    "parse_timestamp": "sync.store.clock",
    "restore": "sync.store.backups",
}

__all__ = [
    "AccessEvent",
    "AuditEntry",
    "AuditReport",
    "Clock",
    "Consent",
    "Crop",
    "DuplicateMatch",
    "Enrolment",
    "FishObservation",
    "Gallery",
    "IntegrityReport",
    "KeyFile",
    "KeySource",
    "ModelRef",
    "OutboxEntry",
    "OutboxState",
    "Passphrase",
    "Person",
    "Photo",
    "Position",
    "PredictionStatus",
    "Quarantined",
    "SpeciesScore",
    "Store",
    "StoreConfig",
    "SystemClock",
    "Template",
    "Verdict",
    "backup",
    "create_key_file",
    "format_timestamp",
    "parse_timestamp",
    "restore",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # looked up once
    return value
