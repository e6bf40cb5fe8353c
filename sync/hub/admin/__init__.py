"""The operators' admin: devices, people (with erasure), the fish review queue, packs."""

from sync.hub.admin import devices, people, review  # noqa: F401  (registers the admins)
