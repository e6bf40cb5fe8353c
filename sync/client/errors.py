"""Errors of the sync client, under ``sync.errors.SyncError``.

httpx's exceptions and the hub's ``ErrorBody`` answers are translated in one place
(``sync.client.transport``), so the CLI, the background service and the Qt app only ever see
this tree. What to do about each is part of its meaning::

    SyncError
    └── SyncClientError               the sync client could not finish
        ├── SyncConfigError           no hub URL, site, device id or token: register first
        ├── SyncBusyError             another sync of this store is running (its lock is held)
        │   └── RegisteredAgainError  the store was registered again since this client was
        │                             made: open a client on the new registration
        ├── ErasureRefusedError       the hub refused an erasure: the hub and the other
        │                             devices keep the person; the reason says who can act
        ├── HubUnavailableError       offline, timed out, cut off, 5xx, 429, or a 401 / 403
        │   │                         page that is not the hub's: retry with back-off
        │   └── ProxyBodyLimitError   a bare 413 from something in between: smaller bodies
        │                             may pass; nothing is quarantined for it
        └── HubRefusedError           a 4xx, with the hub's code and reason
            ├── HubAuthError          the hub's 401 / 403: the token is unknown or revoked, or
            │                         names another site: pause and tell the operator
            └── ProtocolMismatchError the hub speaks another protocol version: upgrade one
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.errors import SyncError


class SyncClientError(SyncError):
    """The sync client could not finish what it was asked to do."""


class SyncConfigError(SyncClientError):
    """The client is missing its hub URL, site, device id or token, or one is malformed."""


class ErasureRefusedError(SyncClientError):
    """A sync ran, and the hub refused erasures it pushed (quarantined): the erasure is this
    store's only, so the command fails, naming each person and the hub's reason (such as a
    person of another site, a moved device's, whom only the hub's admin may erase)."""

    def __init__(self, refused: Sequence[tuple[str, str]]) -> None:
        """``refused``: (person uid, the hub's reason) of each."""
        people = "; ".join(f"person {uid}: {reason}" for uid, reason in refused)
        super().__init__(
            f"the hub refused the erasure of {people}; until it is erased there, the hub and"
            " the other devices keep them (the erasure waits in quarantine: `jaga sync"
            " status`; `jaga sync requeue` sends it again once the hub can take it)"
        )
        self.refused = tuple(refused)


class SyncBusyError(SyncClientError):
    """Another process or thread is syncing this store; try again when it is done."""


class RegisteredAgainError(SyncBusyError):
    """``jaga sync register`` saved another registration after this client was made: its
    hub, device and token are not the store's any more, so it syncs nothing."""


class HubUnavailableError(SyncClientError):
    """The hub could not be reached or did not answer in full. Nothing is lost: retry later.

    ``retry_after_s`` is the hub's own hint (``Retry-After``), when it gave one.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DownloadCutError(HubUnavailableError):
    """The link failed part-way through a download, or something in between (a gateway, a
    captive portal) answered instead of the hub: what arrived so far is good to resume."""


class ProxyBodyLimitError(HubUnavailableError):
    """Something between the device and the hub (a proxy's body-size limit) refused a
    request body of ``byte_size`` bytes with a 413 that is not the hub's own.

    Not a verdict on the records: a smaller body may pass, and none is quarantined for it;
    what cannot pass waits, and ``jaga sync status`` says so, until that limit is raised.
    ``report``: the ``SyncReport`` of the sync it ended once the rest of that sync had run
    (what it pulled, the species pack it installed), for the app to act on; None otherwise.
    """

    report: object | None = None  # a SyncReport (sync.client.report imports this module)

    def __init__(self, byte_size: int | None, hub_limit: int) -> None:
        size = f"{byte_size} bytes" if byte_size is not None else "this size"
        super().__init__(
            f"something between this device and the hub refuses request bodies of {size} "
            f"(a 413 that is not the hub's: a proxy's body-size limit?); raise that limit above "
            f"the hub's own {hub_limit} bytes (nginx: client_max_body_size); nothing is "
            "quarantined for it: the records wait and are sent again"
        )
        self.byte_size = byte_size


class HubRefusedError(SyncClientError):
    """The hub refused a request with a 4xx; ``code`` is its stable machine code."""

    def __init__(
        self, status: int, code: str, reason: str, *, expected_offset: int | None = None
    ) -> None:
        super().__init__(f"hub refused ({status} {code}): {reason}")
        self.status = status
        self.code = code
        self.reason = reason
        self.expected_offset = expected_offset


class HubAuthError(HubRefusedError):
    """The hub does not accept this device's credentials (401) or its access (403).

    Only a 401/403 carrying the hub's own ``ErrorBody`` with one of
    ``sync.protocol.AUTH_ERROR_CODES``: the same status from a captive portal or firewall is
    ``HubUnavailableError``, or a kiosk on hotel Wi-Fi would stop syncing for good.

    Sync pauses until an operator registers the device again or fixes its site: retrying
    with the same token only fills the hub's logs.
    """


class ProtocolMismatchError(HubRefusedError):
    """The hub speaks another version of ``sync.protocol`` (``unsupported_protocol``).

    Sync pauses: the device's records stay queued, none is quarantined, until the older end
    is upgraded (a hub also serves devices one protocol older than its own, so a fleet
    upgrades its hub first).
    """

    def __str__(self) -> str:
        # The wire models load pydantic: not for `jaga sync`'s parser, which imports this
        from sync.protocol import PROTOCOL_VERSION

        return (
            f"the hub does not take this device's sync protocol {PROTOCOL_VERSION}"
            f" ({self.status} {self.code}: {self.reason}); upgrade whichever is older, the hub"
            " or this device: queued records wait, nothing is lost"
        )
