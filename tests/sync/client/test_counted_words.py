"""What a sync says of counts of one: "1 photo", "1 audit entry", never "1 photos"."""

from __future__ import annotations

from sync.client.audit import AnchorReport
from sync.client.full_pull import FullPull
from sync.client.pull import PullReport
from sync.client.push import PushReport
from sync.client.report import SyncReport
from sync.client.state import LastResult, Unfinished
from sync.client.status import AuditStatus
from sync.client.uploads import UploadReport

AT = "2026-03-01T08:00:00.000000Z"


def test_a_sync_that_moved_one_of_each_names_each_in_the_singular() -> None:
    report = SyncReport(
        PushReport(batches=1, acknowledged=1),
        PullReport(applied=1, erased=1, cursor=7),
        UploadReport(completed=1),
        0.25,
        audit=AnchorReport(stored=1),
    )

    text = report.summary()

    assert "in 1 batch; pulled 1 change (1 erasure," in text, text
    assert "uploaded 1 photo (" in text and "anchored 1 audit entry" in text, text
    assert "entries" not in text and "photos" not in text, text


def test_what_a_sync_left_names_one_entry_in_the_singular() -> None:
    assert Unfinished(1, False, 1, 1).words() == (
        "1 entry still queued, 1 photo still to upload, 1 audit entry still to anchor"
    )
    stopped = LastResult(AT, AT, None, stopped_queued=1).outcome()
    assert stopped == "stopped before it finished: 1 entry still queued"


def test_a_chain_of_one_entry_not_anchored_says_entry() -> None:
    assert "not anchored at the hub (1 entry)" in AuditStatus(entries=1).lines()[0]


def test_a_renewed_log_that_requeued_one_entry_says_entry() -> None:
    renewed = FullPull(until=3, began_at=AT, pulled_with="x", renewed=True, requeued=1)
    assert "this device queued again 1 entry it had sent or pulled" in renewed.reason()
