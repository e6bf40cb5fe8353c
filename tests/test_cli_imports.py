"""A ``jaga`` command imports what that command needs, not every command's libraries.

A Jetson runs ``jaga store ...`` from timers, and about thirty test files start ``jaga``
processes: a parser that imported ONNX Runtime, OpenCV, numpy, pydantic and SQLCipher to
print ``jaga store --help`` cost each of them about a second of CPU. Each check runs in a
fresh interpreter (this one has imported everything already) and lists what got imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

import main

# Libraries no command's parser has a use for (its handler may): model runtimes, image and array
# libraries, the hub's and the window's frameworks, the wire models and the database driver.
HEAVY = ("onnxruntime", "cv2", "numpy", "torch", "timm", "django", "PySide6", "pydantic",
         "sqlcipher3")  # fmt: skip


def _heavy_imported_by(argv: list[str]) -> list[str]:
    code = (
        "import contextlib, io, json, sys\n"
        "import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main.main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return list(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [["store", "--help"], ["store", "info", "--help"], ["-v", "store", "verify", "--help"]],
)
def test_a_store_command_imports_no_heavy_library(argv: list[str]) -> None:
    heavy = _heavy_imported_by(argv)
    assert not heavy, f"jaga {' '.join(argv)} imported {heavy}"


# One help of each command and of one of its subcommands: the timers run `jaga sync now`,
# `jaga hub purge-expired` and the like, whose parsers need none of what their handlers load.
HELPS = [
    ["models", "--help"],
    ["models", "install", "--help"],
    ["bench", "--help"],
    ["bench", "models", "--help"],
    ["fish", "--help"],
    ["fish", "eval", "--help"],
    ["face", "--help"],
    ["face", "verify", "--help"],
    ["eval", "--help"],
    ["eval", "liveness", "--help"],
    ["audit", "--help"],
    ["audit", "show", "--help"],
    ["sync", "--help"],
    ["sync", "now", "--help"],
    ["sync", "register", "--help"],
    ["hub", "--help"],
    ["hub", "create-device", "--help"],
    ["catch", "--help"],
    ["kiosk", "--help"],
    ["kiosk", "enrol", "--help"],
    ["kiosk", "run", "--help"],
    ["app", "--help"],
]


def test_every_command_has_a_help_checked_here() -> None:
    checked = {argv[0] for argv in HELPS} | {"store"}
    assert checked == {name for names, _ in main.COMMANDS for name in names}


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_a_commands_help_imports_no_heavy_library(argv: list[str]) -> None:
    heavy = _heavy_imported_by(argv)
    assert not heavy, f"jaga {' '.join(argv)} imported {heavy}"


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def test_each_command_parser_alone_is_the_full_parsers() -> None:
    """The parser built for one command holds that command (and what its module adds with
    it) exactly as the full parser does: same options, same help."""
    full = _choices(main.build_parser())
    assert list(full) == [name for names, _ in main.COMMANDS for name in names]
    for name, parser in full.items():
        alone = _choices(main.build_parser(name))
        assert name in alone
        assert set(alone) <= set(full)
        assert alone[name].format_help() == parser.format_help(), name


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["store", "info"], "store"),
        (["-v", "store", "info"], "store"),
        (["--verbose", "kiosk", "run"], "kiosk"),
        (["-h", "store"], None),  # the top-level help lists every command
        (["--verb", "store"], None),  # an abbreviation: left to the full parser
        (["stor", "info"], None),  # not a command: the full parser names the choices
        ([], None),
    ],
)
def test_the_command_is_read_only_where_nothing_else_can_come_first(
    argv: list[str], command: str | None
) -> None:
    assert main.command_of(argv) == command
