"""``--threads`` of every command that runs models: checked when the command line is read,
0 the default (the cores shared among the models), as ``bench models`` says."""

from __future__ import annotations

import os

import pytest

import main
from inference.cli_numbers import MAX_THREADS_PER_CORE

COMMANDS = [
    ["bench", "models"],
    ["face", "verify", "a.jpg", "b.jpg"],
    ["eval", "pairs", "--pairs", "p.txt", "--images", "i", "--out", "r.json"],
    ["fish", "train", "--data", "d", "--out", "o"],
    ["fish", "bench", "--pack", "p", "--data", "d"],
    ["kiosk", "run", "camera:0"],
]
MOST = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("threads", ["-1", str(MOST + 1), "99999999999999999999", "two"])
def test_a_thread_count_out_of_range_is_a_usage_error(
    command: list[str], threads: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were taken as given, and refused, if at all, only once the command ran."""
    with pytest.raises(SystemExit) as usage:
        main.build_parser().parse_args([*command, "--threads", threads])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert f"--threads: expected 0 (all cores) or a whole number from 1 to {MOST}" in err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_zero_threads_is_the_default_and_a_count_is_kept(command: list[str]) -> None:
    parser = main.build_parser()
    assert parser.parse_args([*command, "--threads", "0"]).threads == 0
    assert parser.parse_args([*command, "--threads", str(MOST)]).threads == MOST
