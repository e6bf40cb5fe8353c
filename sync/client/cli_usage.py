"""What ``jaga sync --help`` tells an operator beyond its options, and how it reads a hub's
URL on the command line.

The variables are listed in each command's help (its epilog): a device that syncs from a
timer is set up through its unit file's environment, and nowhere else says what it reads.
A ``--hub`` that is no ``http(s)://host[:port]`` (``localhost:8000``, a typo such as
``http//x``) is a usage error, exit status 2, before the store is opened or the one-time
code asked for: the code is a secret, typed for nothing.
"""

from __future__ import annotations

import argparse

from sync.client.config import (
    DEVICE_ID_ENV,
    FACE_IMAGES_ENV,
    HUB_URL_ENV,
    SITE_ENV,
    TOKEN_ENV,
    check_hub_url,
)
from sync.client.errors import SyncConfigError
from sync.store.cli import STORE_PATH_ENV
from sync.store.key_sources import PASSPHRASE_ENV

CODE_ENV = "JAGA_SYNC_CODE"
# sync.client.packs's PACKS_DIR_ENV, named here: that module loads httpx, which a command
# line is not read with (the tests check the two agree).
PACKS_DIR_ENV = "JAGA_SPECIES_PACKS_DIR"
ENVIRONMENT = f"""environment:
  {STORE_PATH_ENV:<23} the store file, where --db is not given
  {PASSPHRASE_ENV:<23} the store's passphrase, where --key-file is not given
  {HUB_URL_ENV:<23} the hub, http(s)://host:port
  {SITE_ENV:<23} the device's site slug
  {DEVICE_ID_ENV:<23} the device's uuid
  {TOKEN_ENV:<23} the device's token
  {FACE_IMAGES_ENV:<23} 1: enrolment photos travel too (else only embeddings)
  {CODE_ENV:<23} register: the one-time code (else asked in a terminal)
  {PACKS_DIR_ENV:<23} species packs' folder (default: beside the store)
Where set, the five from JAGA_HUB_URL replace what `register` kept in the store.
"""


def with_environment(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser``, its help ending with :data:`ENVIRONMENT` as it is laid out."""
    parser.epilog = ENVIRONMENT
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def hub_url(text: str) -> str:
    """An argparse ``type``: the hub's URL (``check_hub_url``), or a usage error."""
    try:
        return check_hub_url(text)
    except SyncConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
