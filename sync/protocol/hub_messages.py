"""Device registration, photo uploads, species packs, hub search and status.

Photos travel in resumable chunks: the device starts (or resumes) an upload with the photo's
size and sha256, then PUTs raw chunks at the offset the hub reports, each with its own
sha256 in the ``X-Chunk-SHA256`` header. A chunk at the wrong offset gets 409 with the
offset the hub has; a chunk whose checksum fails, or a finished photo whose checksum fails,
is refused and nothing of it is kept.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StrictBool, field_validator

from sync.protocol.entities import MAX_VECTOR_ELEMENT, MediaType
from sync.protocol.types import (
    MAX_PHOTO_BYTES,
    MAX_SEARCH_K,
    PROTOCOL_VERSION,
    Name,
    Sha256Hex,
    Similarity,
    Slug,
    Timestamp,
    Uid,
    WireModel,
)

CHUNK_SHA256_HEADER = "X-Chunk-SHA256"
BODY_SHA256_HEADER = "X-Body-SHA256"
"""The sha256 of a JSON body as its sender wrote it, both ways. On a request: a hub that
reads another answers 400 ``BODY_DAMAGED`` and takes nothing of the body: damage on the way
is no verdict on the records (a device's body is valid JSON when it leaves, yet once damaged
the hub refused it as ``invalid_body``, and a push refused so is split down to one entry and
quarantined). On the hub's JSON answers: a device that reads another takes nothing of the
answer (a page changed on the way, still valid JSON, would be applied as the hub's word).
Additive: an earlier hub or device neither sends nor checks it."""
BODY_DAMAGED = "body_damaged"
MAX_REGISTER_SITES = 64
HUB_ID_HEADER = "X-Jaga-Hub-Id"
"""An answer header of the status, register and pull answers: the hub's own id (a uuid).

A device tells hubs apart by it, whatever address it reaches them at (a hub that moved to
a new DNS name or port is the same hub: ``sync.store.hub_keys.same_hub``). Made once
per hub database and kept in it, so a hub restored from a backup keeps it
(``sync.hub.identity``). A header, which every earlier release ignores: a device that does
not read it, or a hub that does not send it, is told apart by address, as before.
Additive like ``PACK_SCHEMA_HEADER``: no protocol version."""
FACE_PHOTOS_RESTATED_HEADER = "X-Jaga-Face-Photos-Restated"
"""An answer header of the pull answers ("1"): this hub takes a stored face photo's sha256,
restated by its device without the photo's metadata, as the same photo
(``sync.hub.face_photos``). A hub before it refused that restatement for good
(``OLDER_HUB_RESTATE_REFUSAL``) and the device quarantined it; a device that reads the header
sends those entries again, once (``sync.client.restated_photos``). Additive: an earlier hub
does not send it, an earlier device ignores it."""
OLDER_HUB_RESTATE_REFUSAL = re.compile(r"photo [0-9a-f-]{36} is stored with a different sha256")
"""The whole reason a hub before ``FACE_PHOTOS_RESTATED_HEADER`` refused a stored photo's new
sha256 with. A hub since says more where it refuses one (other bytes than those it holds),
so such a refusal is never sent again by a device on its own."""
RegistrationCode = Annotated[str, Field(strict=True, pattern=r"^[0-9A-Za-z-]{8,40}$")]
RegisterSites = Annotated[tuple[Slug, ...], Field(min_length=1, max_length=MAX_REGISTER_SITES)]


class RegisterRequest(WireModel):
    """Exchanges the operator's one-time code for the device's token.

    ``sites``: the sites whose records the device has yet to push. When given, the hub
    registers the device only with a code of one of them, and otherwise answers 409
    ``site_mismatch`` naming the code's site, leaving the code usable: registered to another
    site, the device would see every one of those records refused as forbidden. A device with
    nothing to push leaves it out (a hub before this field refuses it as unknown).
    """

    code: RegistrationCode
    sites: RegisterSites | None = None


class RegisterResult(WireModel):
    """The token is shown once; the hub keeps only its hash."""

    device_id: Uid
    site: Slug
    token: str
    protocol_version: int = PROTOCOL_VERSION


class UploadStart(WireModel):
    """Starts an upload, or returns the unfinished one for this photo (resume)."""

    photo_uid: Uid
    sha256: Sha256Hex
    total_size: Annotated[int, Field(strict=True, ge=1, le=MAX_PHOTO_BYTES)]
    media_type: MediaType


class UploadStatus(WireModel):
    """Where an upload stands: send the next chunk at ``received``."""

    upload_id: Uid
    photo_uid: Uid
    total_size: int
    received: int
    complete: StrictBool


class SpeciesPackInfo(WireModel):
    version: Name
    sha256: Sha256Hex
    byte_size: int
    published_at: Timestamp


class SearchRequest(WireModel):
    """A 1:N probe; ``all_sites`` needs a device the operator allowed to search centrally."""

    model_id: Name
    model_version: Name
    # Elements bounded well inside float32 (pgvector stores float4); descriptors are ~unit.
    vector: Annotated[
        list[
            Annotated[
                float,
                Field(
                    strict=True, ge=-MAX_VECTOR_ELEMENT, le=MAX_VECTOR_ELEMENT, allow_inf_nan=False
                ),
            ]
        ],
        Field(min_length=128, max_length=128),
    ]
    k: Annotated[int, Field(strict=True, ge=1, le=MAX_SEARCH_K)] = 5
    all_sites: StrictBool = False

    @field_validator("vector")
    @classmethod
    def _not_zero(cls, vector: list[float]) -> list[float]:
        if sum(v * v for v in vector) < 1e-12:
            raise ValueError("a probe needs a direction: it must not be (nearly) all zero")
        return vector


class SearchMatch(WireModel):
    person_uid: Uid
    site: Slug
    template_uid: Uid
    similarity: Similarity


class SearchResult(WireModel):
    matches: list[SearchMatch]


class HubStatus(WireModel):
    status: str
    protocol_version: int = PROTOCOL_VERSION
