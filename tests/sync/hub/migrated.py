"""A test's database at a migration state, copied from a template of that state instead of
migrated there from nothing in every test.

Migrating a hub's database from nothing runs some 60 migrations, each rendering the models'
state (seconds of CPU); the migration tests each start at some earlier state, several at the
newest. Each worker keeps a template database per state it reached (its own server, see
``hubfixtures``); ``CREATE DATABASE ... TEMPLATE`` copies one as files. A state not kept yet
is reached from the nearest kept one below it (its migrations a subset), by the same
``migrate`` calls the test asked for, and kept in turn. The migration under test is still
run by the test itself, from that state.

A copy holds what migrating from nothing leaves: the same tables, rows and recorded
migrations (checked). One difference, on purpose: a state reached through an earlier one has
the permissions Django's ``post_migrate`` added there, under the names the models had then
(it adds missing ones, it never renames); no test reads a permission's name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import psycopg
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from sync.hub.embedded import EmbeddedPostgres
from tests.sync.hub.hubfixtures import SERVER

Node = tuple[str, str]
Target = tuple[str, ...]
"""A ``migrate`` command's arguments: ``()`` the newest state, ``(app,)`` an app's newest,
``(app, name)`` an app up to that migration (a prefix of its name, as ``migrate`` takes)."""


@functools.cache
def _loader() -> MigrationLoader:
    """The migrations on disk (no database needed to read their graph)."""
    return MigrationLoader(None, ignore_no_migrations=True)


def state_of(targets: tuple[Target, ...]) -> frozenset[Node]:
    """The migrations applied once ``migrate`` ran to each target in turn from nothing."""
    loader = _loader()
    nodes: set[Node] = set()
    for target in targets or ((),):
        if len(target) == 2:
            named = loader.get_migration_by_prefix(*target)
            tips = [(named.app_label, named.name)]
        else:
            tips = [leaf for leaf in loader.graph.leaf_nodes() if target in ((), leaf[:1])]
        for tip in tips:
            nodes.update(loader.graph.forwards_plan(tip))
    return frozenset(nodes)


@dataclass
class Templates:
    """The template databases made on one server, by the state each holds."""

    server: EmbeddedPostgres
    kept: dict[frozenset[Node], str] = field(default_factory=dict)

    def copy_into(self, alias: str, *targets: Target) -> None:
        """Make ``alias``'s database (it must have nobody else connected) the state
        ``migrate`` to ``targets`` in turn leaves, as from nothing."""
        wanted = state_of(targets)
        self._forget_if_server_was_made_anew()
        kept = self.kept.get(wanted)
        if kept is not None:
            self._recreate(alias, template=kept)
            return
        below = [state for state in self.kept if state < wanted]
        nearest = max(below, key=len, default=None)
        self._recreate(alias, template=self.kept[nearest] if nearest else None)
        for target in targets or ((),):
            call_command("migrate", *target, database=alias, interactive=False, verbosity=0)
        applied = frozenset(MigrationRecorder(connections[alias]).applied_migrations())
        if applied != wanted:  # a target behind the nearest state would have migrated back
            raise AssertionError(f"{targets} from {nearest and len(nearest)} left {applied}")
        name = f"jaga_template_{len(self.kept)}"
        connections[alias].close()
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{_database(alias)}"')
        self.kept[wanted] = name

    def _recreate(self, alias: str, *, template: str | None) -> None:
        connections[alias].close()
        name = _database(alias)
        self._execute(f'DROP DATABASE IF EXISTS "{name}"')
        copied = f' TEMPLATE "{template}"' if template else ""
        self._execute(f'CREATE DATABASE "{name}"{copied}')

    def _forget_if_server_was_made_anew(self) -> None:
        """A package's fixture may stop and remove the server, and another start it anew."""
        if not self.kept:
            return
        some = next(iter(self.kept.values()))
        with psycopg.connect(self.server.url(), autocommit=True) as server:
            found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [some])
            if found.fetchone() is None:
                self.kept.clear()

    def _execute(self, statement: str) -> None:
        with psycopg.connect(self.server.url(), autocommit=True) as server:
            server.execute(statement)


def _database(alias: str) -> str:
    return str(connections[alias].settings_dict["NAME"])


_TEMPLATES = Templates(SERVER)


def migrated_to(alias: str, *targets: Target) -> None:
    """``alias``'s database as ``migrate`` to each of ``targets`` in turn leaves a new one
    (none: the newest state), copied from this worker's template of that state."""
    _TEMPLATES.copy_into(alias, *targets)
