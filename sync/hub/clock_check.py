"""Is the hub's clock to be trusted with an erasure? The check ``jaga hub purge-expired``
makes before it erases or deletes anything (``sync.hub.retention.purge_all``).

The purge erases everyone whose consent ran out and deletes the decisions older than the
window by the hub's clock alone: a clock a window ahead (a VM restored with a bad RTC, a
wrong NTP server, a typo) would erase people on every device of the site and delete a year
of decisions in one run, for good. So it first asks what the hub already records, each
evidence with what it can prove:

- PostgreSQL's clock (``clock_timestamp()``, read beside the hub's): another host's clock
  when the database is remote, the same clock when it runs here (or in a container here),
  so it can only refuse, never vouch: more than ``DATABASE_TOLERATED`` behind the hub's
  clock, and one of the two is wrong.
- When the hub last ran a purge (``DecisionPurge.started_at`` of the last run not refused,
  the hub's clock then; without one, the devices' last syncs, ``Device.last_seen_at``): a
  daily timer, so a clock that reads more than ``QUIET_TOLERATED`` (four weeks) past it
  jumped ahead, or the hub was off (or its timer stopped) that long. Nothing a device sends
  moves it. Up to four weeks, a hub back from a holiday's shutdown purges at once; a jump
  of up to four weeks is let through, which erases people at most that early and deletes
  decisions of a 365-day window at most that early.
- The devices' own clocks, asked only after such a gap, to tell the two apart: for each
  device the hub took access events or fish catches from in the day before "now" (the
  hub's clock), the least that its receipt (``received_at``, ``created_at``) lies past the
  event's own time (``occurred_at``, ``observed_at``). A hub whose clock jumped stamps its
  receipts ahead of the devices' times by the jump; a hub back after weeks off, its clock
  right, takes its devices' new data within minutes of their times. The lower median of the
  devices decides: more than ``QUIET_TOLERATED`` and the clock is ahead; otherwise the
  devices vouch for it. A boat's catch taken days after it happened, a kiosk whose clock is
  hours off, does not come near four weeks. One device token alone cannot stop retention
  while another device with a sound clock synced that day (a device dating its data in the
  past moves only its own figure, and the lower median takes the other's), and never stops it
  while the hub runs its timer daily; as the only device to sync after a four-week gap it can
  hold the purge back until an operator passes ``--trust-clock`` or another device syncs.

With no gap and no disagreement, the purge runs as it always did: the usual case costs two
small queries. A refusal erases and deletes nothing, is recorded (``DecisionPurge.refused``,
which ``/metrics`` shows as ``jaga_hub_purge_refused_clock_ahead_seconds``) and does not count
as a run, so the next day's run asks again; ``--trust-clock`` is the operator's word that the
clock is right. A hub that keeps decisions for ever (``JAGA_HUB_DECISION_KEEP_DAYS=0``)
records no runs and goes by its devices' last syncs, which a clock that jumped while the hub
served has already stamped ahead: there only PostgreSQL's clock and a jump across a shutdown
are caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F, Max, Min, QuerySet
from django.utils import timezone

from sync.hub.models import AccessEvent, DecisionPurge, Device, FishObservation

QUIET_TOLERATED = timedelta(weeks=4)  # past the last run: a shutdown, or a clock ahead
DATABASE_TOLERATED = timedelta(days=1)  # PostgreSQL's clock behind the hub's
RECENT = timedelta(days=1)  # the devices' data asked about: what the hub took in this


@dataclass(frozen=True)
class ClockEvidence:
    """What the hub records about its clock, as of ``now`` (the hub's time)."""

    now: datetime
    database_behind: timedelta  # the hub's clock minus PostgreSQL's, read together
    last_run: datetime | None  # the last purge not refused (or the devices' last sync)
    last_run_is_sync: bool = False  # ``last_run`` is the devices' last sync: no run recorded
    device_lags: tuple[timedelta, ...] = ()  # per device, receipt past its own time (least)


@dataclass(frozen=True)
class ClockVerdict:
    """``ahead_by`` None: the clock is trusted; otherwise how far ahead it looks. ``reason``
    says which evidence, in one line."""

    ahead_by: timedelta | None
    reason: str

    @property
    def trusted(self) -> bool:
        return self.ahead_by is None


def check_clock(now: datetime) -> ClockVerdict:
    """The verdict on the hub's clock reading ``now`` (see the module)."""
    return judge(gather(now))


def gather(now: datetime) -> ClockEvidence:
    """The evidence, asking the devices' times only after a gap (the usual case is cheap)."""
    database_behind = _database_behind()
    last_run = _last_run()
    is_sync = last_run is None
    if last_run is None:
        last_run = Device.objects.aggregate(newest=Max("last_seen_at"))["newest"]
    evidence = ClockEvidence(now, database_behind, last_run, is_sync)
    if last_run is None or now - last_run <= QUIET_TOLERATED:
        return evidence
    return ClockEvidence(now, database_behind, last_run, is_sync, _device_lags(now))


def judge(evidence: ClockEvidence) -> ClockVerdict:
    """The verdict on the evidence (see the module), its reason in one line."""
    if evidence.database_behind > DATABASE_TOLERATED:
        return ClockVerdict(
            evidence.database_behind,
            f"PostgreSQL's clock reads {_span(evidence.database_behind)} behind the hub's",
        )
    last, now = evidence.last_run, evidence.now
    if last is None or now - last <= QUIET_TOLERATED:
        return ClockVerdict(None, "the hub's clock agrees with its last run")
    what = "a device last synced" if evidence.last_run_is_sync else "the hub last ran a purge"
    since = f"the hub's clock reads {now:%Y-%m-%d %H:%M} UTC, {_span(now - last)} after {what}"
    if not evidence.device_lags:
        return ClockVerdict(
            now - last, f"{since} and no device's data taken since vouches for the clock"
        )
    lags = sorted(evidence.device_lags)
    lag = lags[(len(lags) - 1) // 2]  # the lower median: one device cannot hold the purge
    if lag > QUIET_TOLERATED:
        return ClockVerdict(
            lag,
            f"{since}, and what it took in the last day is dated {_span(lag)} before it by"
            f" the devices' clocks (median of {len(lags)} device{'s' * (len(lags) > 1)})",
        )
    return ClockVerdict(None, f"{since}; the clocks of {len(lags)} device(s) agree with it")


def record_refusal(verdict: ClockVerdict, keep_days: int, cutoff: datetime | None) -> None:
    """A purge that refused to run for the clock: recorded for ``/metrics``, not a run (the
    next run compares its clock with the last run that went ahead)."""
    started = timezone.now()
    DecisionPurge.objects.create(
        started_at=started, finished_at=started, keep_days=keep_days, cutoff=cutoff or started,
        access_events=0, applied_entries=0, audit_entries=0, complete=False,
        refused=verdict.reason, clock_ahead=verdict.ahead_by,
    )  # fmt: skip


def _database_behind() -> timedelta:
    before = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (database_now,) = cursor.fetchone()
    after = timezone.now()
    return before + (after - before) / 2 - database_now  # type: ignore[no-any-return]


def _last_run() -> datetime | None:
    runs = DecisionPurge.objects.filter(refused="")
    newest: datetime | None = runs.aggregate(newest=Max("started_at"))["newest"]
    return newest


def _device_lags(now: datetime) -> tuple[timedelta, ...]:
    """Per device that sent dated data the hub took in the ``RECENT`` before ``now``, the
    least its receipt lies past the data's own time."""
    least: dict[int, timedelta] = {}
    sources = (
        (AccessEvent.objects.all(), "received_at", "occurred_at"),
        (FishObservation.objects.all(), "created_at", "observed_at"),
    )
    for rows, received, dated in sources:
        for device_id, lag in _lags(rows, received, dated, now):
            least[device_id] = min(lag, least.get(device_id, lag))
    return tuple(least.values())


def _lags(
    rows: QuerySet[AccessEvent] | QuerySet[FishObservation],
    received: str,
    dated: str,
    now: datetime,
) -> list[tuple[int, timedelta]]:
    lag = ExpressionWrapper(F(received) - F(dated), output_field=DurationField())
    recent = rows.filter(
        device__isnull=False, **{f"{received}__gt": now - RECENT, f"{received}__lte": now}
    )
    grouped = recent.values("device_id").annotate(lag=Min(lag)).order_by()
    return [(row["device_id"], row["lag"]) for row in grouped]


def _span(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:.0f} days" if days >= 2 else f"{span / timedelta(hours=1):.0f} hours"
