"""The erasure journal's metrics (``sync.hub.erasure_journal``): its files, read at scrape
time, and the erasures the database holds that it is not known to hold."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sync.hub.erasure_journal import REPLAY_COUNTS, journal_path, journal_writable, last_replay
from sync.hub.models import Person


class JournalCollector(Collector):
    """Whether erasures can be appended to the erasure journal (``sync.hub.erasure_journal``)
    right now, and what its last replay (at ``jaga hub run``'s start, or by ``jaga hub
    renew-log-epoch``) could not apply: files, not the database, read at scrape time all the
    same."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        path = journal_path()
        family = GaugeMetricFamily(
            "jaga_hub_erasure_journal_writable",
            "1 when the erasure journal in the hub's data folder can be appended to; 0: new"
            " erasures stand but a restore of the database would undo them (alert on it)",
        )
        family.add_metric([], float(path is not None and journal_writable(path)))
        yield family
        if path is None:
            return
        replay = last_replay(path.parent)
        if replay is None:  # none recorded (its write failed: a full disk), or unreadable
            yield GaugeMetricFamily(
                "jaga_hub_erasure_journal_replay_read",
                "1 when the last replay of the erasure journal could read it; 0: none of its"
                " erasures were applied again, or no record of it could be read (alert on it)",
                value=0.0,
            )
            return
        if replay["read"]:  # unread, the lines skipped are unknown, not 0
            yield _skipped_lines(replay)
        yield GaugeMetricFamily(
            "jaga_hub_erasure_journal_reapplied",
            "Erasures the last replay of the erasure journal applied again (a restore undid them)",
            value=replay["applied"],
        )
        yield GaugeMetricFamily(
            "jaga_hub_erasure_journal_replay_read",
            "1 when the last replay of the erasure journal could read it; 0: none of its"
            " erasures were applied again, or no record of it could be read (alert on it)",
            value=replay["read"],
        )
        yield GaugeMetricFamily(
            "jaga_hub_erasure_journal_replay_timestamp_seconds",
            "When the erasure journal was last replayed (seconds since the epoch)",
            value=replay["at"],
        )


def _skipped_lines(replay: dict[str, float]) -> GaugeMetricFamily:
    """The counts of a replay that read the journal, by why each line was skipped."""
    skipped = GaugeMetricFamily(
        "jaga_hub_erasure_journal_skipped_lines",
        "Journaled erasures the last replay of the erasure journal did not apply: lines"
        " it could not read, lines naming another hub (or this one, its hub-id file"
        " lost), people of a site the database lacks (kept until it is made); alert on"
        " unreadable and other_hub above 0",
        labels=["why"],
    )
    for why in REPLAY_COUNTS[1:]:
        skipped.add_metric([why], replay[why])
    return skipped


def missing_erasures() -> GaugeMetricFamily:
    """Erased people not marked journaled (``sync.hub.erasure_catchup``), through the index
    of them alone: a catch-up that failed at a start is said on stderr only, which no one
    reads once the hub serves. The database's, so ``DatabaseCollector`` gives it, and none
    when the database does not answer."""
    return GaugeMetricFamily(
        "jaga_hub_erasure_journal_missing_erasures",
        "Erasures the database holds that the erasure journal is not known to hold: the next"
        " start, renew-log-epoch or purge-expired journals them; a restore of the database"
        " from a backup older than them would bring those people back (alert when above 0"
        " for longer than a catch-up takes)",
        value=Person.objects.filter(erased_at__isnull=False, journaled_at=None).count(),
    )
