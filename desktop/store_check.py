"""The app's first look at its store: can it be opened, and is the device registered?

It runs on a worker thread (opening a store derives its key with scrypt, 128 MiB and a
noticeable fraction of a second) and opens and closes the store there, since a store
belongs to the thread that opened it. The answer is an immutable ``StoreCheck`` that the
window shows; only a registered store gets a sync service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source
from sync.client.config import SyncConfig, resolve_config
from sync.client.errors import SyncConfigError
from sync.client.packs import installed_species_packs, packs_dir_for, record_pack_in_use
from sync.client.state import read_values
from sync.client.status import SyncStatus, read_status
from sync.errors import KeySourceError, StoreNotFoundError, SyncError, WrongKeyError
from sync.store import Store


class CheckResult(StrEnum):
    LOCKED = "locked"  # no key, or a key that does not open the store
    UNAVAILABLE = "unavailable"  # no store there, or one that cannot be read
    NOT_REGISTERED = "not_registered"  # opened, but no hub registration to sync with
    REGISTERED = "registered"


@dataclass(frozen=True)
class StoreCheck:
    result: CheckResult
    message: str  # one line for the operator: what is wrong and what to run
    status: SyncStatus | None = None  # the local sync facts, when the store opened
    config: SyncConfig | None = None  # the registration, when there is one
    species_packs: tuple[Path, ...] = ()  # the packs a sync installed and keeps, newest first

    @property
    def registered(self) -> bool:
        return self.result is CheckResult.REGISTERED

    @property
    def opened(self) -> bool:
        """Whether the store was read: only then is ``species_packs`` what it holds."""
        return self.result in (CheckResult.NOT_REGISTERED, CheckResult.REGISTERED)


def check_store(settings: AppSettings) -> StoreCheck:
    source = key_source(settings)
    if source is None:
        return StoreCheck(CheckResult.LOCKED, LOCKED_MESSAGE)
    path = settings.store_path
    try:
        with Store.open(path, source, config=settings.store_config) as store:
            status = read_status(store, settings.env)
            values = read_values(store.database)
            packs = installed_species_packs(store, packs_dir_for(path, settings.env))
    except (WrongKeyError, KeySourceError) as error:
        return StoreCheck(CheckResult.LOCKED, f"store locked: {error}")
    except StoreNotFoundError:
        return StoreCheck(
            CheckResult.UNAVAILABLE,
            f"no store at {path}: create one with `jaga store init --db {path}`",
        )
    except SyncError as error:
        return StoreCheck(CheckResult.UNAVAILABLE, f"store unavailable: {error}")
    return replace(_registration(settings, status, values), species_packs=packs)


def note_pack_in_use(settings: AppSettings, root: Path) -> bool:
    """Note in the store that the pack a sync installed in ``root`` verified and is in use,
    so that sync keeps it while newer packs arrive (``record_pack_in_use``). False, noting
    nothing, for a pack outside the packs folder (the default pack) or a locked store."""
    source = key_source(settings)
    if source is None or root.parent != packs_dir_for(settings.store_path, settings.env):
        return False
    with Store.open(settings.store_path, source, config=settings.store_config) as store:
        record_pack_in_use(store, root)
    return True


def _registration(settings: AppSettings, status: SyncStatus, values: dict[str, str]) -> StoreCheck:
    try:
        config = resolve_config(settings.env, values)
    except SyncConfigError as error:
        if status.hub_url or status.device_id:  # something is set, but not all of it, or wrong
            message = f"registration unusable: {error}"
        else:
            hint = f"run `jaga sync register --hub URL --db {settings.store_path}`"
            message = f"not registered: {hint}"
        return StoreCheck(CheckResult.NOT_REGISTERED, message, status)
    return StoreCheck(CheckResult.REGISTERED, registration_text(config), status, config)


def registration_text(config: SyncConfig) -> str:
    """The panel's Hub line: which device of which site, synced with which hub."""
    return f"device {config.device_id} of site {config.site} at {config.hub_url}"
