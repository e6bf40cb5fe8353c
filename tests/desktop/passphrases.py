"""The app tests' store passphrase, in a module of its own.

The worker processes these tests start (``python -m tests.desktop.spool_worker`` and the
rest) need it; importing it from ``conftest`` cost each of them PySide6, pytest and the fake
hub on top of what it runs (about half a second of CPU on a loaded machine, each start).
"""

from __future__ import annotations

PASSPHRASE = "a passphrase for the app tests"
