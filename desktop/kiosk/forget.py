"""What ``jaga kiosk run`` forgets once its store is open: the secrets it was given.

The run lasts days, unattended, on a device someone could steal or dump. Nothing of it needs
the passphrase once the store is open: the kiosk's journal, opened when a decision first
waits for a busy store, and decision retention's own connection take the store's key
(``Store.key``), never the passphrase; a key change (``jaga store rekey``) needs the kiosk
stopped, so the run never opens the store again. Nor does it need the hub's token: the
kiosk never syncs, and reads the sync settings only as the session is made
(``kiosk_identity``). So both are overwritten then (``tests/desktop/kiosk/
test_kiosk_run_memory.py`` scans a running kiosk for them).

Kept: the store's raw key, in the ``Store`` (its journal may be opened at any frame), and
whatever SQLCipher keeps of it while the store is open. The window is not this: it opens
the store again after a full disk or another process kept it from opening
(``desktop.kiosk.runner``), and keeps the passphrase its settings hold until it quits
(``desktop.settings``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sync.client.config import forget_token
from sync.store.key_sources import forget_passphrase
from sync.store.keys import KeySource


def forget_secrets_once_open(key: KeySource, env: Mapping[str, str]) -> None:
    """Overwrite the passphrase the store was opened with (and every one taken from the
    environment), and the hub's token in ``env``: the store and the session are open."""
    forget_passphrase(key)
    forget_token(env)
