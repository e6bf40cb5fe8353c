"""Where the CLI gets a store key: a key file, an environment variable, or a prompt.

Never a command-line argument: those show up in ``ps``, shell history and audit logs.
"""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from sync.errors import KeySourceError, PromptInterrupted
from sync.store.keys import KeyFile, KeySource, same_passphrase
from sync.store.passphrase import Passphrase

PASSPHRASE_ENV = "JAGA_STORE_PASSPHRASE"
NEW_PASSPHRASE_ENV = "JAGA_STORE_NEW_PASSPHRASE"
REPLACED_PASSPHRASE_ENV = "JAGA_REPLACED_STORE_PASSPHRASE"


def optional_key_source(
    key_file: Path | None, *, env: Mapping[str, str], env_name: str
) -> KeySource | None:
    """A second key, when one is given (a key file, or a passphrase in ``env_name``)."""
    if key_file is not None:
        return KeyFile(key_file)
    return Passphrase(env[env_name]) if env.get(env_name) else None


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
