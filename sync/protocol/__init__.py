"""The wire protocol between devices and the hub: versioned pydantic schemas, one module.

Client and hub import the same classes, so a change here changes both ends at once;
``PROTOCOL_VERSION`` names the incompatible revisions, and a hub also serves the older ones
in ``ACCEPTED_PROTOCOL_VERSIONS`` (pulled payloads pass through ``payload_for_protocol``).
Every schema forbids unknown fields and bounds every size, and every error answer is an
``ErrorBody`` with a reason.

Endpoints (all JSON unless said; ``Authorization: Bearer <token>`` except where noted)::

    GET  /api/v1/status                                    HubStatus (no token)
         (answer header X-Jaga-Hub-Id, here, to a register and to a pull: the hub's id)
    POST /api/v1/devices/register                          RegisterRequest -> RegisterResult
    POST /api/v1/sites/{site}/push                         PushBatch -> PushResult
    GET  /api/v1/sites/{site}/changes?cursor=&limit=&protocol_version=  PullRequest -> PullResult
         (header X-Jaga-Pack-Schema: the newest species pack schema the device reads;
          header X-Jaga-Log-Epoch: the site's log epoch it last saw, answered log_epoch;
          header X-Jaga-Log-Tip: the fingerprint of the change at its cursor;
          header X-Jaga-Log-Seal: the hub's seal of that tip, as an answer gave it;
          answer header X-Jaga-Log-Seal: the seal of the answer's last change)
    POST /api/v1/sites/{site}/uploads                      UploadStart -> UploadStatus
    GET  /api/v1/sites/{site}/uploads/{upload_id}          UploadStatus
    PUT  /api/v1/sites/{site}/uploads/{upload_id}?offset=  raw bytes -> UploadStatus
    POST /api/v1/sites/{site}/search                       SearchRequest -> SearchResult
    POST /api/v1/sites/{site}/audit                        AuditBatch -> AuditReceipt
         (header X-Jaga-Audit-Checkpoint: where the device's kept chain begins, if it pruned)
    GET  /api/v1/species-packs/latest                      SpeciesPackInfo
    GET  /api/v1/species-packs/{version}/file              the pack's bytes
"""

from sync.protocol.audit_messages import (
    AUDIT_CHAIN_BREAK,
    AUDIT_CHECKPOINT_HEADER,
    AUDIT_GAP,
    AUDIT_PRUNED_OPEN,
    AUDIT_QUOTA,
    AUDIT_STALE,
    MAX_AUDIT_BATCH_ENTRIES,
    MAX_AUDIT_BODY_BYTES,
    REGISTERED_ACTION,
    AuditBatch,
    AuditCheckpoint,
    AuditLink,
    AuditReceipt,
    registered_device,
)
from sync.protocol.entities import (
    ADDED_FIELDS,
    MAX_ERASURE_REASON_CHARS,
    PAYLOADS,
    RETENTION_REASON,
    UID_FIELDS,
    AccessEventUpsert,
    ConsentPayload,
    FaceTemplateUpsert,
    FishObservationUpsert,
    PayloadError,
    PersonTombstone,
    PersonUpsert,
    PhotoUpsert,
    SpeciesPackPublished,
    parse_payload,
    payload_for_protocol,
    summarize,
)
from sync.protocol.hub_messages import (
    BODY_DAMAGED,
    BODY_SHA256_HEADER,
    CHUNK_SHA256_HEADER,
    FACE_PHOTOS_RESTATED_HEADER,
    HUB_ID_HEADER,
    OLDER_HUB_RESTATE_REFUSAL,
    HubStatus,
    RegisterRequest,
    RegisterResult,
    SearchMatch,
    SearchRequest,
    SearchResult,
    SpeciesPackInfo,
    UploadStart,
    UploadStatus,
)
from sync.protocol.sync_messages import (
    KEY_REUSED_REASON,
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    NO_LOG_EPOCH,
    PACK_SCHEMA_HEADER,
    Change,
    OutboxEntry,
    PullRequest,
    PullResult,
    PushBatch,
    PushResult,
    Rejection,
    change_fingerprint,
)
from sync.protocol.types import (
    ACCEPTED_PROTOCOL_VERSIONS,
    AUTH_ERROR_CODES,
    MAX_BATCH_ENTRIES,
    MAX_CHUNK_BYTES,
    MAX_JSON_BODY_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_PHOTO_BYTES,
    MAX_PULL_LIMIT,
    MAX_PUSH_BODY_BYTES,
    NAME_MAX_LENGTH,
    PROTOCOL_VERSION,
    TOO_LARGE_CODES,
    ErrorBody,
    WireModel,
    format_timestamp,
)

__all__ = [
    "ACCEPTED_PROTOCOL_VERSIONS",
    "ADDED_FIELDS",
    "AUDIT_CHAIN_BREAK",
    "AUDIT_CHECKPOINT_HEADER",
    "AUDIT_GAP",
    "AUDIT_PRUNED_OPEN",
    "AUDIT_QUOTA",
    "AUDIT_STALE",
    "AUTH_ERROR_CODES",
    "BODY_DAMAGED",
    "BODY_SHA256_HEADER",
    "CHUNK_SHA256_HEADER",
    "FACE_PHOTOS_RESTATED_HEADER",
    "HUB_ID_HEADER",
    "KEY_REUSED_REASON",
    "LOG_EPOCH_HEADER",
    "LOG_SEAL_HEADER",
    "LOG_TIP_HEADER",
    "MAX_AUDIT_BATCH_ENTRIES",
    "MAX_AUDIT_BODY_BYTES",
    "MAX_BATCH_ENTRIES",
    "MAX_CHUNK_BYTES",
    "MAX_ERASURE_REASON_CHARS",
    "MAX_JSON_BODY_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_PHOTO_BYTES",
    "MAX_PULL_LIMIT",
    "MAX_PUSH_BODY_BYTES",
    "NAME_MAX_LENGTH",
    "NO_LOG_EPOCH",
    "OLDER_HUB_RESTATE_REFUSAL",
    "PACK_SCHEMA_HEADER",
    "PAYLOADS",
    "PROTOCOL_VERSION",
    "REGISTERED_ACTION",
    "RETENTION_REASON",
    "TOO_LARGE_CODES",
    "UID_FIELDS",
    "AccessEventUpsert",
    "AuditBatch",
    "AuditCheckpoint",
    "AuditLink",
    "AuditReceipt",
    "Change",
    "ConsentPayload",
    "ErrorBody",
    "FaceTemplateUpsert",
    "FishObservationUpsert",
    "HubStatus",
    "OutboxEntry",
    "PayloadError",
    "PersonTombstone",
    "PersonUpsert",
    "PhotoUpsert",
    "PullRequest",
    "PullResult",
    "PushBatch",
    "PushResult",
    "RegisterRequest",
    "RegisterResult",
    "Rejection",
    "SearchMatch",
    "SearchRequest",
    "SearchResult",
    "SpeciesPackInfo",
    "SpeciesPackPublished",
    "UploadStart",
    "UploadStatus",
    "WireModel",
    "change_fingerprint",
    "format_timestamp",
    "parse_payload",
    "payload_for_protocol",
    "registered_device",
    "summarize",
]
