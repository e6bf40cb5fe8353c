"""The problem kept when the hub refuses a batch of the audit chain (``refusal_words``).

A gap the device can resume from (the hub holds less than noted, or an acknowledged break
wants the chain from the entry it names) is no problem: the device sends from there. A hub
that wants the chain from before this device's registration is not sent it, and the words
say why. A hub told the same place again that holds less than what retention deleted here
(a hub older than the checkpoint header answers ``audit_gap`` for ever) is told apart from a
chain that lacks the entry: the problem says that retention deleted those entries here. A
404 means a hub older than this device; a token refused at the audit endpoint alone, and
any other refusal, are named as the hub gave them.
"""

from __future__ import annotations

from sync.client.audit_state import Anchored
from sync.client.errors import HubAuthError, HubRefusedError
from sync.protocol import AUDIT_GAP


def _gap_words(wanted: int, anchored: Anchored, checkpoint: int, start: Anchored) -> str | None:
    """The problem with a hub that wants the chain from the entry after ``wanted``; None
    where the device sends from there."""
    if wanted < start.sequence:
        return _before_registration(wanted, start)
    # The hub holds less than noted, or (a segment an acknowledged break opened) wants the
    # chain from the entry the break names: send from there. Told the same place again,
    # this device's chain has no entry after it.
    if wanted != anchored.sequence:
        return None
    if anchored.sequence < checkpoint:  # retention deleted it, once a hub held it
        holds = f"up to entry {anchored.sequence}" if anchored.sequence else "none"
        return (
            f"the hub holds {holds} of this device's audit chain and does not take it "
            f"from entry {checkpoint + 1}: retention deleted entries "
            f"{anchored.sequence + 1} to {checkpoint} here once a hub held them (a hub "
            "older than this device does not take a chain that begins after deleted "
            "entries: update it; else the hub's admin says why)"
        )
    return (
        f"this device's audit chain has no entry {anchored.sequence + 1} "
        "(removed?): jaga audit verify"
    )


def _before_registration(wanted: int, start: Anchored) -> str:
    """Why a hub that wants the chain from before this device's registration is not sent it."""
    return (
        f"the hub wants this device's audit chain from entry {wanted + 1}, but this "
        f"device's anchoring begins at its registration, entry {start.sequence + 1}: what "
        "the store recorded before it is not sent (a hub older than this device does not "
        "take a chain that begins there: update it)"
    )


def refusal_words(
    error: HubRefusedError, anchored: Anchored, checkpoint: int, start: Anchored
) -> str | None:
    """The problem a refusal means for this device (``checkpoint``: the last entry retention
    deleted here; ``start``: the entry before its registration's); None for a gap it can
    resume from."""
    if error.code == AUDIT_GAP and error.expected_offset is not None:
        return _gap_words(error.expected_offset, anchored, checkpoint, start)
    if error.status == 404:
        return "the hub does not anchor audit chains (it is older than this device): not anchored"
    if isinstance(error, HubAuthError):  # the sync's own calls went through with the token
        return (
            f"the audit endpoint refused this device ({error.status} {error.code}: "
            f"{error.reason}): not anchored"
        )
    return f"the hub refused the audit chain: {error.reason}"
