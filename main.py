"""Jaga's entry point: no arguments starts the Qt app; a subcommand runs the CLI.

Each headless package contributes its own subcommands through a ``register(subparsers)``
function in its ``cli`` module, so this file stays a thin dispatcher and the CLI never
imports Qt. Qt is imported only when the app itself is started: ``jaga`` alone is
``jaga app``, which also takes the store's options (``--db``, ``--key-file``).
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeAlias, cast

import sync.hub.pack_loader
from sync.store.key_memory import wipe

# The variables that name a file or folder (read in sync.store.cli_common, inference.pack.installed,
# inference.fish.features, sync.client.packs, sync.hub.metrics_process,
# sync.hub.erasure_journal; named here so that every command does not import them): any
# bytes, as a path argument may hold.
PATH_VARIABLES = frozenset({"JAGA_STORE_PATH", "JAGA_MODELS_DIR", "JAGA_CACHE_DIR",
                            "JAGA_SPECIES_PACKS_DIR", "JAGA_HUB_METRICS_DIR",
                            "JAGA_HUB_DATA_DIR"})  # fmt: skip
# The variables of text jaga reads (desktop.app, desktop.metrics, sync.client.config and
# .cli, sync.store.key_sources, sync.hub.settings and the hub's modules; the hub's
# DATABASE_URL too): they must be UTF-8. No other is checked: the packaging scripts' paths
# (JAGA_SMOKE_PHOTO, JAGA_FROZEN_DIR), which the frozen jaga inherits, are not jaga's to judge.
TEXT_VARIABLES = frozenset({
    "JAGA_STORE_PASSPHRASE", "JAGA_STORE_NEW_PASSPHRASE", "JAGA_REPLACED_STORE_PASSPHRASE",
    "JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN",
    "JAGA_SYNC_FACE_IMAGES", "JAGA_SYNC_CODE", "JAGA_METRICS_PORT", "JAGA_APP_QUIT_AFTER_S",
    "JAGA_HUB_SECRET_KEY", "JAGA_HUB_ALLOWED_HOSTS", "JAGA_HUB_EF_SEARCH",
    "JAGA_HUB_MAX_CLOCK_SKEW_S", "JAGA_HUB_CODE_TTL_S", "JAGA_HUB_REGISTER_RATE",
    "JAGA_HUB_LOGIN_RATE", "JAGA_HUB_HTTPS", "JAGA_HUB_HSTS_SECONDS", "JAGA_HUB_TRUSTED_PROXIES",
    "JAGA_HUB_METRICS_TOKEN", "JAGA_HUB_AUDIT_DAILY_BYTES", "JAGA_HUB_LOG_LEVEL",
    "JAGA_HUB_DECISION_KEEP_DAYS", "JAGA_HUB_THROWAWAY_KEY", "DATABASE_URL",
})  # fmt: skip


# argparse's class is generic only to type checkers
Subparsers: TypeAlias = "argparse._SubParsersAction[Any]"
Register: TypeAlias = Callable[[Subparsers], None]


def _imported(target: str) -> Register:
    """The ``register`` function ``target`` ("module:function") names, imported when called."""
    module, _, name = target.partition(":")

    def register(subparsers: Subparsers) -> None:
        getattr(importlib.import_module(module), name)(subparsers)

    return register


def _register_store(subparsers: Subparsers) -> None:
    # `jaga store confirm` stores the species by the name the devices' pack gives it
    from desktop.catch_cli import pack_species_name
    from sync.store.cli import register_store

    register_store(subparsers, species_name=pack_species_name)


def _register_sync(subparsers: Subparsers) -> None:
    # `jaga sync status` says which species pack is in use
    from desktop.catch_cli import pack_in_use
    from sync.client.cli import register

    register(subparsers, pack_in_use=pack_in_use)


def _register_app(subparsers: Subparsers) -> None:
    from desktop.settings import add_app_options

    app = subparsers.add_parser("app", help="open the window (what `jaga` alone does)")
    add_app_options(app)
    app.set_defaults(handler=_start_app)


# Each command `jaga` takes, in the order `jaga --help` lists them, with the function that adds
# it to the parser (`face` adds `eval` too). A command's module is imported only when the parser
# needs it: `jaga store ...` (run by a Jetson's timers, and by the tests' processes) then loads
# neither ONNX Runtime nor OpenCV, which the full parser's modules import.
COMMANDS: tuple[tuple[tuple[str, ...], Register], ...] = (
    (("models",), _imported("inference.pack.cli:register")),
    (("bench",), _imported("inference.bench_cli:register")),
    (("fish",), _imported("inference.fish.cli:register")),
    (("face", "eval"), _imported("inference.face.cli:register")),
    (("store",), _register_store),
    (("audit",), _imported("sync.store.cli_audit:register_audit")),
    (("sync",), _register_sync),
    (("hub",), _imported("sync.hub.cli:register")),
    (("catch",), _imported("desktop.catch_cli:register")),
    (("kiosk",), _imported("desktop.kiosk.cli:register")),
    (("app",), _register_app),
)
# What may come before the command for `command_of` to read it: `-h`, an abbreviation or
# anything else is left to the full parser, which knows every command.
_OPTIONS_BEFORE_COMMAND = frozenset({"-v", "--verbose"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """``jaga``'s parser; given ``command``, only that command's (and those its module adds
    with it), which parses that command's arguments exactly as the full parser does."""
    parser = argparse.ArgumentParser(
        prog="jaga",
        description="Offline-first edge vision: face verification and fish species.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for names, register in COMMANDS:
        if command is None or command in names:
            register(subparsers)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, where nothing but ``--verbose`` comes before it; else None
    (the full parser is needed: for ``jaga --help``, a mistyped command, no command)."""
    known = {name for names, _ in COMMANDS for name in names}
    for token in argv:
        if token not in _OPTIONS_BEFORE_COMMAND:
            return token if token in known else None
    return None


def _pack_refusal(path: Path) -> str | None:
    from inference.fish.pack import pack_refusal  # the classifier, only when a hub asks

    return pack_refusal(path)


def _default_species() -> tuple[str, dict[str, str]]:
    from inference.fish.installed import default_species

    return default_species()


def main(argv: Sequence[str] | None = None) -> int:
    # The hub publishes only a pack the classifier of this release loads (sync and inference
    # may not import each other: this entry point joins them), whichever way it is published
    # (`jaga hub publish-pack`, the admin of the workers `jaga hub run` forks after this).
    sync.hub.pack_loader.install(_pack_refusal)
    # The first pack published replaces the default pack on every device: it is checked
    # against that pack's species as a later one is checked against the last published.
    # A reviewer on the hub confirms a species by the name the devices' pack gives it, by
    # the same list before any pack is published (sync.hub.species_names).
    sync.hub.pack_loader.install_default_species(_default_species)
    args_list = list(sys.argv[1:] if argv is None else argv) or ["app"]
    parser = build_parser(command_of(args_list))
    args = parser.parse_args(args_list)
    refuse_undecodable_text(parser, args, args_list)
    refuse_undecodable_environment(parser, os.environ)
    if args.command != "app":  # the app's settings take them (desktop.settings)
        take_secrets(args)
    write_file_names_as_they_are()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    quiet_http_logs(verbose=args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    return run_reporting_a_gone_reader(args.handler, args)


def take_secrets(args: argparse.Namespace) -> None:
    """Take the store's passphrases and the hub's token out of the environment before the
    command runs, whether it reads them or not: no process it starts inherits them, nor does
    ``/proc/PID/environ`` show them (``sync.store.env_secrets``). Each passphrase is then one
    buffer its readers share (``sync.store.key_sources``); the token is held in
    ``args.env`` alone, the mapping a command that reads it (``jaga sync``, ``jaga kiosk``)
    reads the sync settings from (``sync.client.config.take_token``)."""
    from sync.client.config import take_token
    from sync.store.key_sources import take_passphrases

    take_passphrases(os.environ)
    args.env = take_token(os.environ)


class ReaderGone(BaseException):
    """Standard output's reader went away (``jaga models list | head``). A BaseException,
    like KeyboardInterrupt, so that the handlers' ``except OSError`` (a full disk is one
    line, not a crash) do not report it as an error."""


# 128 + SIGPIPE: the status a shell shows for a tool the signal ended (`yes | head`). Python
# ignores SIGPIPE (restoring it would let a closed socket kill `jaga sync` and the hub), so
# the broken pipe is caught on standard output alone.
READER_GONE_STATUS = 141


class _GuardedStream:
    """Standard output (text, or its binary ``buffer``) whose write or flush to a reader
    that went away raises :class:`ReaderGone`; everything else is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        return int(self._guarded(self._stream.write, data))

    def writelines(self, lines: Any) -> None:
        self._guarded(self._stream.writelines, lines)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    @property
    def buffer(self) -> _GuardedStream:
        return _GuardedStream(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _guarded(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            _discard_standard_output()
            raise ReaderGone from None


def _discard_standard_output() -> None:
    """Send what is still buffered to /dev/null, so the flush at exit does not fail again
    (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):  # no standard output to replace: nothing will flush
        pass


def run_reporting_a_gone_reader(
    handler: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """``handler(args)``, ending quietly with ``READER_GONE_STATUS`` when standard output's
    reader went away before the output was all written (flushed here, not at exit)."""
    real = sys.stdout
    sys.stdout = cast(TextIO, _GuardedStream(real))
    try:
        status = int(handler(args))
        sys.stdout.flush()
    except ReaderGone:
        return READER_GONE_STATUS
    finally:
        sys.stdout = real
    return status


def refuse_undecodable_text(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> None:
    """Refuse, before any work, text given in bytes that are not UTF-8 (a Latin-1 terminal:
    Python hands them over as surrogates, which the store, the hub and JSON cannot write),
    in one line naming the argument (argparse's exit status 2).

    Only text: a file name (an argument typed as a path) may hold any bytes on Linux, and is
    used as it is (the audit trail writes such bytes as ``\\xNN``).
    """
    for value in _text_values(vars(args)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(value).decode("utf-8", "backslashreplace")
            parser.error(
                f"argument {_option_of(value, argv)}'{shown}' is not UTF-8 text: set the"
                " terminal to UTF-8 and type it again"
            )


def refuse_undecodable_environment(
    parser: argparse.ArgumentParser, environ: Mapping[str, str]
) -> None:
    """Refuse, before any work, a variable of text jaga reads (``TEXT_VARIABLES``: the
    ``JAGA_*`` ones and the hub's ``DATABASE_URL``) whose value is not UTF-8 (set from a
    Latin-1 terminal, or a unit file written in one: Python hands it over as surrogates,
    which a passphrase's key, the store, psycopg and JSON cannot take), as an argument is
    refused: one line, exit status 2. It names the variable, never its value: that may be a
    passphrase, a token or a database password. A variable naming a file or folder
    (``PATH_VARIABLES``) may hold any bytes and is used as it is; one jaga does not read is
    not looked at.

    Every command checks every one of them: one set wrong in the shell or the unit file is
    said at once, not when the command that reads it happens to run.
    """
    for name in sorted(environ):
        if name not in TEXT_VARIABLES:
            continue
        value = environ[name]  # os.environ's: a copy of its own, perhaps of a secret
        try:
            if not value.isascii():  # ASCII is UTF-8: no second copy made of it
                value.encode("utf-8")
        except UnicodeEncodeError:
            parser.error(f"${name} is not UTF-8 text: set it again in UTF-8")
        finally:
            wipe(value)  # not left in freed memory; a mapping's own str is left alone


def _text_values(values: dict[str, object]) -> list[str]:
    found: list[str] = []
    for value in values.values():
        items = value if isinstance(value, list | tuple) else [value]
        found += [item for item in items if isinstance(item, str)]
    return found


def _option_of(value: str, argv: Sequence[str]) -> str:
    """``--name: `` for the option ``value`` was given to, else nothing (a positional)."""
    for index, token in enumerate(argv):
        if value not in token:
            continue
        if token.startswith("--") and "=" in token:
            return token.partition("=")[0] + ": "
        if index > 0 and argv[index - 1].startswith("-"):
            return argv[index - 1] + ": "
        return ""
    return ""


def write_file_names_as_they_are() -> None:
    """Print a file name that is not UTF-8 (accepted above) with its own bytes, as Python does
    under the C locale, instead of failing with UnicodeEncodeError after the work it reports
    was done (``wrote NAME``) under a UTF-8 locale, where stdout is strict."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="surrogateescape")


def quiet_http_logs(*, verbose: bool) -> None:
    """Keep httpx's line per request (one a photo chunk: thousands for a sync's backlog, in
    the journal of every timer run) out of the log unless ``--verbose`` asks for it; its
    warnings and errors still show."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def _start_app(args: argparse.Namespace) -> int:
    from desktop.app import run_app  # Qt only when the window is wanted
    from desktop.settings import settings_from_args

    return run_app(settings_from_args(args, os.environ), sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main())
