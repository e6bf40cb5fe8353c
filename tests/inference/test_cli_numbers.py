"""Whole numbers of the inference package's commands and the desktop's that borrow its
reader, through the real ``jaga`` parser."""

from __future__ import annotations

import pytest

import main


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as usage:
        main.build_parser().parse_args(list(argv))
    assert usage.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("runs", ["0", "-3", "many", "9" * 5000])
def test_bench_runs_start_at_1(capsys: pytest.CaptureFixture[str], runs: str) -> None:
    said = _refusal(capsys, "bench", "models", "--runs", runs)
    assert f"--runs: expected a whole number of at least 1, got '{runs}'" in said


def test_one_bench_run_is_taken() -> None:
    assert main.build_parser().parse_args(["bench", "models", "--runs", "1"]).runs == 1


def test_a_catch_of_no_fish_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    said = _refusal(capsys, "catch", "p.jpg", "--officer", "Ana", "--count", "0")
    assert "--count: expected a whole number of at least 1, got '0'" in said
    args = main.build_parser().parse_args(["catch", "p.jpg", "--officer", "Ana", "--count", "1"])
    assert args.count == 1
