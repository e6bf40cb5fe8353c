"""The store's schema: the versioned forward migrations and the SQL of each version."""

from sync.store.schema.migrations import APPLICATION_ID, LATEST_VERSION, MIGRATIONS, Migration

__all__ = ["APPLICATION_ID", "LATEST_VERSION", "MIGRATIONS", "Migration"]
