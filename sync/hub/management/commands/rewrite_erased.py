"""``jaga hub manage rewrite_erased``: take erased people's data out of the database files.

The daily ``jaga hub purge-expired`` does this when someone was erased since the last time
(``sync.hub.reclaim``); run it by hand for an erasure that must leave the files at once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sync.hub.reclaim import ERASED_DATA_TABLES, rewrite_tables


class Command(BaseCommand):
    help = "Rewrite (VACUUM FULL) the tables erased people's data stays in as dead rows."

    def handle(self, *args: Any, **options: Any) -> None:
        rewrite_tables()
        self.stdout.write(f"rewrote {', '.join(ERASED_DATA_TABLES)}")
