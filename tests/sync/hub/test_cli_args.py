"""``jaga hub`` arguments checked when the command line is read, in one line each (argparse's
exit status 2), before a database starts."""

from __future__ import annotations

import argparse

import pytest

from sync.hub.cli import register


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jaga")
    register(parser.add_subparsers(), pack_refusal=lambda folder: None)
    return parser.parse_args(["hub", *argv])


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        _parse(*argv)
    assert exit_.value.code == 2
    said: str = capsys.readouterr().err
    assert "Traceback" not in said
    return said


@pytest.mark.parametrize("slug", ["Bad Site", "", "-x", "Upper", "good\n", "a" * 64])
def test_a_site_slug_devices_cannot_carry_is_refused(
    capsys: pytest.CaptureFixture[str], slug: str
) -> None:
    """Such a device could never register (the hub's answer names its site), and its first
    try spent its one-time code."""
    for command in ("create-device --name n", "export-corrections --out x"):
        said = _refused(capsys, *command.split(), f"--site={slug}")
        assert "not a site slug" in said and "lower-case letters" in said
