"""Where the CLI gets a store key: a key file, an environment variable, or a prompt.

Never a command-line argument: those show up in ``ps``, shell history and audit logs.

A passphrase given in the environment is taken out of it (``take_passphrases``: its copies
there overwritten, ``sync.store.env_secrets``) into one :class:`Passphrase` per variable,
which every reader of that variable in the process then gets: no process a command starts
inherits it, and the text is held in one buffer that can be overwritten, not in a ``str``.
``main`` takes all three before any command but the app runs (the app's settings take
them themselves), so one a command does not read (a key file was given) goes too.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

from sync.errors import KeySourceError, PromptInterrupted
from sync.store.env_secrets import take_secret
from sync.store.key_memory import zero
from sync.store.keys import KeyFile, KeySource, same_passphrase
from sync.store.passphrase import Passphrase

PASSPHRASE_ENV = "JAGA_STORE_PASSPHRASE"
NEW_PASSPHRASE_ENV = "JAGA_STORE_NEW_PASSPHRASE"
REPLACED_PASSPHRASE_ENV = "JAGA_REPLACED_STORE_PASSPHRASE"
PASSPHRASE_VARIABLES = (PASSPHRASE_ENV, NEW_PASSPHRASE_ENV, REPLACED_PASSPHRASE_ENV)

# The passphrases taken out of this process's environment, by variable: the one buffer each
# that every reader gets.
_taken: dict[str, Passphrase] = {}


def take_passphrases(environ: MutableMapping[str, str] = os.environ) -> None:
    """Take the store's passphrase variables out of ``environ`` into the process's
    :class:`Passphrase` for each. One set again since (a test's) replaces the one held."""
    _taken.update(passphrases_taken_from(environ))


def passphrases_taken_from(environ: MutableMapping[str, str]) -> dict[str, Passphrase]:
    """The store's passphrase variables taken out of ``environ`` (``os.environ``: its copies
    there overwritten), each in a :class:`Passphrase`, by variable; an empty one is dropped,
    as unset."""
    taken: dict[str, Passphrase] = {}
    for name in PASSPHRASE_VARIABLES:
        held = take_secret(environ, name)
        if held is None:
            continue
        try:
            if held:
                taken[name] = Passphrase(held)
        finally:
            zero(held)
    return taken


def forget_taken_passphrases() -> None:
    """Overwrite the passphrases taken from the environment, and hold none (a test's end)."""
    for passphrase in _taken.values():
        passphrase.forget()
    _taken.clear()


def forget_passphrase(source: KeySource) -> None:
    """Overwrite ``source`` if it is a passphrase, and every passphrase taken from the
    environment: for a command that has opened all it needs with it and runs on, unattended
    (``jaga kiosk run``). Nothing of the process can open a store with them after."""
    if isinstance(source, Passphrase):
        source.forget()
    forget_taken_passphrases()


def environment_passphrase(env: Mapping[str, str], env_name: str) -> Passphrase | None:
    """The passphrase in ``env_name``: from ``os.environ``, the process's one (taken out of
    it); from another mapping (a test's, the app's settings'), read and left there."""
    if env is os.environ:
        take_passphrases(os.environ)
        return _taken.get(env_name)
    return Passphrase(env[env_name]) if env.get(env_name) else None


def optional_key_source(
    key_file: Path | None, *, env: Mapping[str, str], env_name: str
) -> KeySource | None:
    """A second key, when one is given (a key file, or a passphrase in ``env_name``)."""
    if key_file is not None:
        return KeyFile(key_file)
    return environment_passphrase(env, env_name)


def resolve_key_source(
    key_file: Path | None,
    *,
    env: Mapping[str, str],
    env_name: str = PASSPHRASE_ENV,
    confirm: bool = False,
    what: str = "store passphrase",
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> KeySource:
    """The key file if given, else the passphrase from ``env_name``, else a prompt."""
    given = optional_key_source(key_file, env=env, env_name=env_name)
    if given is not None:
        return given
    ask = functools.partial(
        ask_secret,
        what=what,
        no_terminal=f"no key: give --key-file, set {env_name}, or run in a terminal to be asked",
        prompt=prompt,
        interactive=interactive,
    )
    secret = ask(f"{what.capitalize()}: ")
    if confirm and not same_passphrase(ask(f"Repeat the {what}: "), secret):
        raise KeySourceError(f"the two {what}s differ")
    return Passphrase(secret)


def ask_secret(
    label: str,
    *,
    what: str,
    no_terminal: str,
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> str:
    """What the operator types, unechoed, at ``label``: the one way every command asks for a
    secret (a passphrase, a registration code). Without a terminal, :class:`KeySourceError`
    with ``no_terminal`` (which says where else it can come from); Ctrl-D is
    :class:`KeySourceError` and Ctrl-C :class:`PromptInterrupted`, each "no ``what``
    given", never a traceback."""
    if not (sys.stdin.isatty() if interactive is None else interactive):
        raise KeySourceError(no_terminal)
    try:
        return prompt(label)
    except EOFError:
        print(file=sys.stderr)  # the message below, on a line of its own, not after the label
        raise KeySourceError(f"no {what} given") from None
    except KeyboardInterrupt:
        print(file=sys.stderr)
        raise PromptInterrupted(f"no {what} given") from None
