"""Limits that ``jaga store``'s help states and the store and the protocol enforce, and
those of the protocol that ``jaga sync``'s parser reads (through ``sync.client.config``).

A module that imports nothing, so that building the parser reads them without loading
SQLCipher (:mod:`sync.store.database`) or pydantic (:mod:`sync.protocol`): each number is
defined here once and imported by the module that enforces it.
"""

from __future__ import annotations

# The protocol's free text (a tombstone's erasure reason, a note): sync.protocol.types.Text
TEXT_MAX_LENGTH = 1000
# An erasure's reason travels in its tombstone (``PersonTombstone.reason``): the store
# refuses a longer one before it erases anything.
MAX_ERASURE_REASON_CHARS = TEXT_MAX_LENGTH
# How long an erasure waits for other connections' reads to end so that it can purge the
# erased data from the file (sync.store.database.StoreConfig.purge_wait_s).
PURGE_WAIT_S = 30.0
# How long the store keeps access events (sync.store.retention)
DEFAULT_KEEP_DAYS = 90  # a quarter: attendance exports and disputes of the recent past
MAX_KEEP_DAYS = 36_500

# The wire protocol's sizes that a sync client's settings are held to (sync.client.config
# .Tuning): sync.protocol.types
MAX_BATCH_ENTRIES = 500
MAX_PULL_LIMIT = 1000
MAX_CHUNK_BYTES = 1024 * 1024
# A site's slug, everywhere it is checked (sync.protocol.types.Slug)
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# The longest a consent may keep a person's templates: a century (past it, dates overflow,
# and no consent runs that long). sync.store.records; `jaga kiosk enrol --retain-days` too.
MAX_CONSENT_DAYS = 36_500
