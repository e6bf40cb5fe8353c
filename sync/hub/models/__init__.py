"""The hub's models, one module per idea; imported here so Django finds them."""

from sync.hub.models.audit import (
    AnchoredAuditEntry,
    AnchoredCheckpoint,
    AuditBreak,
    AuditChainState,
)
from sync.hub.models.events import (
    AccessEvent,
    AppliedEntry,
    Change,
    DecisionPurge,
    ErasedChange,
)
from sync.hub.models.fish import (
    NEWEST_PACK_FIRST,
    FishObservation,
    FishReview,
    Photo,
    PhotoUpload,
    SpeciesPack,
    UploadChunk,
)
from sync.hub.models.forms import SpentForm
from sync.hub.models.identity import HubIdentity
from sync.hub.models.people import ErasureRewrite, FaceTemplate, Person, SitelessErasure
from sync.hub.models.sites import Device, LogEpochRenewal, Site, SiteMembership

__all__ = [
    "NEWEST_PACK_FIRST",
    "AccessEvent",
    "AnchoredAuditEntry",
    "AnchoredCheckpoint",
    "AppliedEntry",
    "AuditBreak",
    "AuditChainState",
    "Change",
    "DecisionPurge",
    "Device",
    "ErasedChange",
    "ErasureRewrite",
    "FaceTemplate",
    "FishObservation",
    "FishReview",
    "HubIdentity",
    "LogEpochRenewal",
    "Person",
    "Photo",
    "PhotoUpload",
    "Site",
    "SiteMembership",
    "SitelessErasure",
    "SpeciesPack",
    "SpentForm",
    "UploadChunk",
]
