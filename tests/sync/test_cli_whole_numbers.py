"""The sync package's bounded whole numbers, read through the real ``jaga`` parser: each
bound is taken and the number past it refused, in one line that names the range."""

from __future__ import annotations

import pytest

import main
from sync.cli_errors import MAX_COUNT
from sync.store.retention import MAX_KEEP_DAYS


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as usage:
        main.build_parser().parse_args(list(argv))
    assert usage.value.code == 2
    return capsys.readouterr().err


def test_retention_days_run_from_0_to_the_most_kept(capsys: pytest.CaptureFixture[str]) -> None:
    parser = main.build_parser()
    assert parser.parse_args(["store", "retention", "--days", "0"]).days == 0
    assert parser.parse_args(["store", "retention", "--days", str(MAX_KEEP_DAYS)]).days == (
        MAX_KEEP_DAYS
    )
    for days in ("-1", str(MAX_KEEP_DAYS + 1)):
        said = _refusal(capsys, "store", "retention", "--days", days)
        assert (
            f"--days: expected a whole number of days from 0 (for ever) to {MAX_KEEP_DAYS},"
            f" got '{days}'"
        ) in said


def test_audit_show_after_starts_at_0(capsys: pytest.CaptureFixture[str]) -> None:
    parser = main.build_parser()
    assert parser.parse_args(["audit", "show", "--after", "0"]).after == 0
    assert parser.parse_args(["audit", "show", "--after", str(MAX_COUNT)]).after == MAX_COUNT
    for after in ("-1", str(MAX_COUNT + 1), "five"):
        said = _refusal(capsys, "audit", "show", "--after", after)
        assert f"--after: expected an entry's sequence (a whole number from 0), got '{after}'" in (
            said
        )


def test_a_count_tells_the_floor_below_it_and_the_range_above(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main.build_parser().parse_args(["audit", "show", "--last", "1"]).last == 1
    below = _refusal(capsys, "audit", "show", "--last", "0")
    assert "--last: expected a whole number of at least 1, got '0'" in below
    above = _refusal(capsys, "audit", "show", "--last", str(MAX_COUNT + 1))
    assert f"--last: expected a whole number from 1 to {MAX_COUNT}, got '{MAX_COUNT + 1}'" in above


def test_a_port_past_either_end_names_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    for port in ("0", "65536"):
        said = _refusal(capsys, "hub", "run", "--port", port)
        assert f"--port: expected a port number (1 to 65535), got '{port}'" in said
