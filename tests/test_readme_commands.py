"""The ``jaga`` commands the READMEs show are commands ``jaga`` takes.

A user copies them: an option renamed or moved to another subcommand, left in a README,
fails only on their machine. So every option written after a ``jaga`` command (in a code
span or an indented example, ``kiosk enrol --site`` as much as ``jaga kiosk enrol --site``)
must be one of that very command's options, by its full name, and each complete example
line (no ``[OPTIONAL]`` or ``A|B`` placeholders) must pass ``jaga``'s own parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from main import build_parser

REPO = Path(__file__).resolve().parents[1]
READMES = (REPO / "README.md", REPO / "packaging" / "systemd" / "README.md")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# A whole example: optional VAR=value assignments, then the jaga executable.
EXAMPLE = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\S*/)?jaga\s+(.*)$")
PLACEHOLDERS = re.compile(r"[\[\]|…]|\.\.\.")

Commands = dict[tuple[str, ...], set[str]]


def commands() -> Commands:
    """Each command path (``("store", "init")``) and the option strings it takes."""
    found: Commands = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        found[path] = {option for action in parser._actions for option in action.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, subparser in action.choices.items():
                    walk(subparser, (*path, name))

    walk(build_parser(), ())
    return found


def code(readme: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each code span (which may be a fragment: ``kiosk enrol
    --site``) and each indented example line."""
    text = readme.read_text(encoding="utf-8")
    for span in re.finditer(r"`([^`\n]+(?:\n[^`\n]+)?)`", text):
        yield text.count("\n", 0, span.start()) + 1, span.group(1).replace("\n", " ")
    yield from indented(text)


def indented(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each indented example line, its backslash continuations
    joined and its ``#`` comment cut."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        if line.startswith("    "):
            while line.rstrip().endswith("\\") and index + 1 < len(lines):
                index += 1
                line = line.rstrip()[:-1] + " " + lines[index].strip()
            yield number, re.split(r"\s#\s", line)[0].strip()
        index += 1


def options_shown(text: str, known: Commands) -> Iterator[tuple[tuple[str, ...], str]]:
    """(command path, option) for each option written after a command in ``text``, up to
    the next command (``|``, ``;``, ``&&``, a bracket or a backquote ends one)."""
    for piece in re.split(r"\||;|&&|[()`]", text):
        words = [Path(word).name if word.endswith("/jaga") else word for word in piece.split()]
        starts = [i for i, word in enumerate(words) if (word,) in known]
        if not starts:
            continue
        path: tuple[str, ...] = ()
        for word in words[starts[0] :]:
            if (*path, word) not in known:
                break
            path = (*path, word)
        for option in OPTION.findall(" ".join(words[starts[0] + len(path) :])):
            yield path, option


def examples() -> Iterator[tuple[str, list[str]]]:
    for readme in READMES:
        for number, text in indented(readme.read_text(encoding="utf-8")):
            example = EXAMPLE.match(text)
            if example and not PLACEHOLDERS.search(example.group(1)):
                yield f"{readme.name}:{number}", shlex.split(example.group(1))


def test_each_option_shown_after_a_command_is_that_commands_own() -> None:
    known = commands()
    wrong = []
    for readme in READMES:
        for number, text in code(readme):
            for path, option in options_shown(text, known):
                if option not in known[path] | known[()]:
                    wrong.append(f"{readme.name}:{number}: jaga {' '.join(path)} has no {option}")
    assert not wrong, "\n".join(wrong)


def test_the_check_finds_an_option_of_another_command() -> None:
    known = commands()
    shown = set(options_shown("then `kiosk enrol --claim B-1` and `jaga sync now`", known))
    assert (("kiosk", "enrol"), "--claim") in shown
    assert "--claim" not in known[("kiosk", "enrol")]  # kiosk run's


def parse(arguments: list[str]) -> tuple[argparse.Namespace | None, str]:
    """``jaga``'s parser, full option names only, on ``arguments``: (namespace, "") or
    (None, its complaint)."""
    complaint = io.StringIO()
    parser = build_parser()
    parser.allow_abbrev = False
    try:
        with contextlib.redirect_stderr(complaint):
            return parser.parse_args(arguments), ""
    except SystemExit:
        return None, complaint.getvalue()


@pytest.mark.parametrize(("where", "arguments"), list(examples()))
def test_each_whole_example_passes_the_parser(
    where: str, arguments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an empty folder. The parser checks that a file given to read can be read (``hub
    restore FILE``), and the README's are not there: such a file is made empty and the
    example parsed again."""
    monkeypatch.chdir(tmp_path)
    args, complaint = parse(arguments)
    unreadable = re.search(r"cannot read (\S+): not a readable file", complaint)
    if args is None and unreadable and unreadable.group(1) in arguments:
        (tmp_path / unreadable.group(1)).touch()
        args, complaint = parse(arguments)
    assert args is not None, f"{where}: jaga {shlex.join(arguments)}: {complaint}"
    assert callable(args.handler)


def test_the_readmes_hold_examples() -> None:
    shown = {tuple(arguments[:2]) for _, arguments in examples()}
    assert {("store", "init"), ("sync", "register"), ("hub", "run")} <= shown


def named_commands(text: str) -> set[tuple[str, ...]]:
    """The commands ``text`` names as ``jaga A B``, alternatives written ``jaga A B|C``."""
    named: set[tuple[str, ...]] = set()
    for match in re.finditer(r"\bjaga ([a-z][a-z-]*)((?: [a-z][a-z-]*(?:\|[a-z][a-z-]*)*)?)", text):
        group, alternatives = match.group(1), match.group(2).split()
        named.add((group,))
        named.update((group, name) for name in (alternatives[0].split("|") if alternatives else []))
    return named


def test_the_readme_names_every_command() -> None:
    """A command the README never names is one users cannot find (``--help`` lists it only
    to someone who already looks under its group)."""
    paths = set(commands())
    groups = {path[:-1] for path in paths}
    leaves = {path for path in paths - groups if path}
    named = named_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert not leaves - named, f"not in the README: {sorted(leaves - named)}"
