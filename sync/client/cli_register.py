"""``jaga sync register``: exchange a one-time code for this device's token.

The code is read from ``$JAGA_SYNC_CODE`` or a prompt (in a terminal only), never from the
command line, its groups apart with dashes or spaces. The sync lock is waited for, the hub
is told apart from the one registered before by the id it names itself by, and records still
to push for another site or hub are refused, or left unsent with ``--strand-records``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sync.cli_errors import reporting
from sync.client import cli_usage
from sync.client.cli_store import open_store, operator_name
from sync.client.cli_usage import CODE_ENV, with_environment

if TYPE_CHECKING:
    from sync.store import Store


def add_register_command(
    commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser
) -> None:
    """Add ``register`` to ``jaga sync``; ``common``: the store's options."""
    enrol = with_environment(
        commands.add_parser(
            "register",
            parents=[common],
            help=f"exchange a one-time code (${CODE_ENV} or a prompt) for this device's token",
        )
    )
    enrol.add_argument(
        "--hub", type=cli_usage.hub_url, required=True, help="the hub's URL, http(s)://host:port"
    )
    enrol.add_argument(
        "--face-images",
        action="store_true",
        help="let enrolment photos travel (site policy; by default only embeddings do)",
    )
    enrol.add_argument(
        "--strand-records",
        action="store_true",
        help="register even with a code of another site than records still to push"
        " (they stay unsent: the hub refuses another site's records)",
    )
    enrol.set_defaults(handler=reporting(_register))


def _register(args: argparse.Namespace) -> int:
    from sync.client.config import Registration
    from sync.client.hub_identity import probe_hub_id
    from sync.client.moved_site import register_moving
    from sync.client.register_answer import HubLeft, answered_hub
    from sync.client.site_records import (
        held_for_old_hub_words,
        hub_left,
        left_unsent,
        not_sent_words,
        noted_by_site,
        queue_noted_decisions,
        refuse_another_hub,
        register_for_records,
        unsent_by_site,
        unsent_for_the_hub,
    )
    from sync.client.state import ensure_schema
    from sync.client.transport import hub_http_client

    hub_url: str = args.hub  # checked as it was read (cli_usage.hub_url)
    code = registration_code(os.environ.get(CODE_ENV) or _ask_code())
    # The sync lock, waited for: a sync made with the registration replaced here must not
    # go on with it (sync.client.lock).
    with open_store(args) as store, _sync_lock(store), hub_http_client() as http:
        ensure_schema(store.database)
        # Which hub it is, by the id it names itself by (sync.client.hub_identity): the same
        # hub at a new address is no other hub. Unauthenticated, the status page only lets
        # another hub be refused before the code is spent: the register answer decides.
        probed = probe_hub_id(http, hub_url)
        # Decided before anything changes: the notes of decisions to send again are the
        # registered hub's, queued for it only, and never counted against another hub's code.
        old_hub = hub_left(store.database, hub_url, probed)
        not_sent = [] if old_hub is None else noted_by_site(store.database)
        queue_noted_decisions(store, hub_url, probed)
        # The outbox's entries are that hub's too: never pushed to another (sync.store.outbox_hub).
        held = [] if old_hub is None else unsent_for_the_hub(store.database)
        if not args.strand_records:
            refuse_another_hub(held, str(old_hub), hub_url)
        unsent = (
            [] if args.strand_records else unsent_by_site(store.database, noted=old_hub is None)
        )
        registered = register_for_records(http, hub_url, code, unsent)
        left = answered_hub(
            store,
            HubLeft(hub_url, old_hub, held, not_sent),
            probed,
            registered,
            strand=args.strand_records,
            http=http,
        )
        result, hub_id = registered.result, registered.hub_id
        known = None if hub_id is None else UUID(hub_id)
        registration = Registration(hub_url, result.site, result.device_id, result.token, known)
        moved = register_moving(
            store,
            registration,
            store.clock.now(),
            send_face_images=args.face_images,
            operator=operator_name(),
        )
        stranded = left_unsent(store.database, result.site)
    print(f"registered device {result.device_id} of site {result.site} with {hub_url}")
    if moved is not None:
        print(moved.words())
    if left.not_sent:
        print(not_sent_words(left.not_sent, str(left.old_hub), hub_url))
    if left.held:
        print(held_for_old_hub_words(left.held, str(left.old_hub), hub_url))
    if stranded:
        print(
            f"left unsent: records of site {', '.join(records.words() for records in stranded)}"
            f" (--strand-records): they stay in this store; the hub refuses them from a"
            f" device of site {result.site}"
        )
    return 0


def _sync_lock(store: Store) -> contextlib.AbstractContextManager[None]:
    """The store's sync lock, waiting for a sync that holds it, with a line saying so."""
    from sync.client.lock import sync_lock_waiting

    def say() -> None:
        print(f"waiting for the sync of {store.path} under way to finish", flush=True)

    return sync_lock_waiting(store.path, say)


def _ask_code() -> str:
    from sync.store.key_sources import ask_secret

    return ask_secret(
        "One-time registration code: ",
        what="registration code",
        no_terminal=f"no registration code: set {CODE_ENV}, or run in a terminal to be asked",
    )


def registration_code(typed: str) -> str:
    """The code as the hub takes it (the protocol's ``RegistrationCode``). An operator types
    what is read out to them: the groups may be apart with spaces instead of dashes, in any
    case (the hub ignores the dashes and the case). Anything else is one line saying what a
    code looks like, without repeating it (it is a secret until used)."""
    from pydantic import TypeAdapter, ValidationError

    from sync.client.errors import SyncConfigError
    from sync.protocol.hub_messages import RegistrationCode

    try:
        return TypeAdapter(RegistrationCode).validate_python("-".join(typed.split()))
    except ValidationError:
        raise SyncConfigError(
            "that is not a registration code: a code looks like 7K3QX-M2RDW-9TBHF (three"
            " groups of five letters and digits), as `jaga hub create-device` or the hub's"
            " admin showed it"
        ) from None
