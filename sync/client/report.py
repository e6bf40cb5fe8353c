"""What one sync did (``SyncReport``), and its one-line summary.

Apart from ``sync.client.client`` because it is a value the sync returns and others read:
``SyncService`` hands it to the app, ``jaga sync now`` prints its ``summary``, and an error a
proxy's body limit caused carries it (``ProxyBodyLimitError.report``). The helpers here
combine a sync's reports: the two pushes of a sync after a renewal of the hub's log, and
what a proxy's body limit held back in any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from sync import plural
from sync.client.audit import AnchorReport
from sync.client.errors import ProxyBodyLimitError
from sync.client.failed_uploads import failed_upload_words
from sync.client.pull import PullReport
from sync.client.push import PushReport
from sync.client.state import Unfinished
from sync.client.uploads import UploadReport


@dataclass(frozen=True)
class SyncReport:
    push: PushReport
    pull: PullReport
    uploads: UploadReport
    seconds: float
    # The directory of a species pack this round downloaded, verified and unpacked (None when
    # there was nothing new). The app, not sync, loads it: sync never imports the classifier.
    new_species_pack: Path | None = None
    # Why the announced pack is still not installed (the previous one stays in use).
    species_pack_error: str | None = None
    # A stop (the app closing) ended it before it finished; the rest waits for the next.
    stopped: bool = False
    # What it left when it reached its per-sync limits (None: it finished, or stopped).
    unfinished: Unfinished | None = None
    # What the hub anchored of the audit chain, and why not the rest.
    audit: AnchorReport = field(default_factory=AnchorReport)
    # The people it erased first because their consent's retention date had passed.
    expired: tuple[str, ...] = ()

    @property
    def progressed(self) -> bool:
        """Whether it moved anything: an entry settled, a change pulled, an upload ended,
        audit entries anchored."""
        push, pull, up = self.push, self.pull, self.uploads
        settled = (push.acknowledged, push.rejected, pull.applied, pull.skipped, pull.set_aside)
        return any(settled) or any((up.completed, up.skipped, up.failed, self.audit.stored))

    def summary(self) -> str:
        push, pull, up = self.push, self.pull, self.uploads
        text = (
            f"pushed {push.acknowledged} acknowledged, {push.rejected} quarantined"
            f" in {plural.counted(push.batches, 'batch', 'batches')};"
            f" pulled {plural.counted(pull.applied, 'change')}"
            f" ({plural.counted(pull.erased, 'erasure')}, {pull.skipped} skipped,"
            f" {pull.set_aside} set aside)"
            f" to cursor {pull.cursor};"
            f" uploaded {plural.counted(up.completed, 'photo')}"
            f" ({up.resumed} resumed, {up.failed} failed)"
            f" in {self.seconds:.2f} s"
        )
        if up.still_failed:
            text += f"; {failed_upload_words(up.still_failed)}"
        if pull.full_pull is not None:
            text += f"; pulled the site again from the start ({pull.full_pull.reason()})"
        if self.expired:
            text += f"; erased {plural.people(len(self.expired))} past their retention date"
        if self.audit.stored:
            text += f"; anchored {plural.audit_entries(self.audit.stored)}"
        if self.audit.problem is not None:
            text += f"; audit chain {self.audit.problem}"
        if self.new_species_pack is not None:
            text += f"; installed the species pack in {self.new_species_pack}"
        if self.species_pack_error is not None:
            text += f"; {self.species_pack_error}"  # it says when it is tried again
        if self.stopped:
            text += "; stopped before it finished: the rest waits for the next sync"
        if self.unfinished is not None:
            text += f"; reached this sync's limits: {self.unfinished.words()}"
        if first_held_back(push, up, self.audit) is not None:
            text += (
                "; records, photos or audit entries a proxy refuses for their size wait for "
                "the next sync"
            )
        return text


def first_held_back(
    push: PushReport, uploads: UploadReport, audit: AnchorReport
) -> ProxyBodyLimitError | None:
    """The first thing a proxy's body limit held back in this sync; None when nothing."""
    return push.held_back or uploads.held_back or audit.held_back


def held_back_words(push: PushReport, uploads: UploadReport, audit: AnchorReport) -> str | None:
    """What a proxy's body limit held back in this sync, and why; None when nothing."""
    reports = (("outbox entries", push), ("photos", uploads), ("audit entries", audit))
    what = [name for name, report in reports if report.held_back is not None]
    error = first_held_back(push, uploads, audit)
    if error is None:
        return None
    names = f"{', '.join(what[:-1])} and {what[-1]}" if len(what) > 1 else what[0]
    return f"{names} wait: {error}"


def both_pushes(first: PushReport, then: PushReport) -> PushReport:
    """Two pushes of one sync as one report (the second's completeness and hold-back)."""
    return replace(
        then,
        batches=first.batches + then.batches,
        acknowledged=first.acknowledged + then.acknowledged,
        rejected=first.rejected + then.rejected,
        requeued=first.requeued + then.requeued,
        recovered=first.recovered + then.recovered,
        held_back=then.held_back or first.held_back,
    )
