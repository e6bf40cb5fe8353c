"""The hub tests' fixtures live in ``hubfixtures`` (and the erasure journal's in
``journalkit``) so other test packages can import them."""

from tests.sync.hub.hubfixtures import (
    api,
    device_pack_loader,
    hub_database,
    live_hub,
    operator,
    other_api,
    renewals_forgotten,
    site_slug,
    species_packs_removed,
)
from tests.sync.hub.journalkit import journal

__all__ = [
    "api",
    "device_pack_loader",
    "hub_database",
    "journal",
    "live_hub",
    "operator",
    "other_api",
    "renewals_forgotten",
    "site_slug",
    "species_packs_removed",
]
