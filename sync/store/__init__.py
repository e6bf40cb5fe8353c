"""The encrypted local store: one SQLCipher database per device.

It holds the gallery (people with consent, face templates tagged with their model), fish
observations with photos, access events, the hash-chained audit trail and the outbox. Open it
with a passphrase (scrypt) or a key file::

    from sync.store import Passphrase, Store

    with Store.open(path, Passphrase(secret)) as store:
        gallery = store.gallery(ModelRef("dlib-resnet", "1"))
"""

from sync.store.backups import backup, restore
from sync.store.clock import Clock, SystemClock, format_timestamp, parse_timestamp
from sync.store.database import StoreConfig
from sync.store.gallery import Gallery
from sync.store.keys import KeyFile, KeySource, Passphrase, create_key_file
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
