"""Is the hub's clock to be trusted with an erasure? The check ``jaga hub purge-expired``
makes before it erases or deletes anything (``sync.hub.retention.purge_all``), and a push
before it frees a badge whose holder is past retention (``sync.hub.apply.people``).

The purge erases everyone whose consent ran out and deletes the decisions older than the
window by the hub's clock alone: a clock a window ahead (a VM restored with a bad RTC, a
wrong NTP server, a typo) would erase people on every device of the site and delete a year
of decisions in one run, for good. So it first asks what the hub already records, each
evidence with what it can prove, in this order:

- PostgreSQL's clock (``clock_timestamp()``, read beside the hub's): another host's clock
  when the database is remote, the same clock when it runs here (or in a container here),
  so it can only refuse, never vouch: more than ``DATABASE_TOLERATED`` behind the hub's
  clock, and one of the two is wrong.
- The host's own elapsed time, which no clock setting moves: each run records the host's
  boot id (``/proc/sys/kernel/random/boot_id``) and boot time (``CLOCK_BOOTTIME``, which
  counts suspend). A run compares with this host's last run on this boot (the last by boot
  time, whatever the clocks said; never another hub host's on the same database, whose boot
  is not this one, nor a refusal, whose clock was not trusted): a clock that moved more than
  ``BOOT_TOLERATED`` further than the boot time since that run jumped ahead, or read behind
  at that run and was set right since (a host without a battery-backed clock whose timer
  fired at boot before NTP set it; the purge's unit waits for ``time-sync.target``). Nothing
  the hub records tells the two apart, so it refuses, naming both, whatever else says (a
  wrong NTP server the devices share, a device token dating its data by the hub's wrong
  time); one ``--trust-clock`` run on the right clock is the next run's reference, so such a
  correction costs one operator's run. A boot time that moved as far explains any gap (the
  hub's service or timer stopped, the host up): trusted. It catches a jump while the host
  stays up (the hub serving or not); it says nothing before this host's first run since a
  reboot (another boot id), on a boot time that went backwards (a VM snapshot restored), or
  without ``/proc`` (not Linux): then what follows decides.
- When the hub last ran a purge (``DecisionPurge.started_at`` of the last run not refused,
  on any host, the hub's clock then; without one, the devices' last syncs,
  ``Device.last_seen_at``): a daily timer, so a clock that reads more than
  ``QUIET_TOLERATED`` (four weeks) past it jumped ahead, or the hub was off (or its timer
  stopped) that long. Nothing a device sends moves it. Up to four weeks, a hub back from a
  holiday's shutdown purges at once; a jump of up to four weeks across a reboot is let
  through, which erases people at most that early and deletes decisions of a 365-day window
  at most that early.
- The devices' own clocks, asked only after such a gap, to tell the two apart: for each
  device the hub took access events or fish catches from in the day before "now" (the
  hub's clock), the least that its receipt (``received_at``, ``created_at``) lies past the
  event's own time (``occurred_at``, ``observed_at``). A hub whose clock jumped stamps its
  receipts ahead of the devices' times by the jump; a hub back after weeks off, its clock
  right, takes its devices' new data within minutes of their times. A device agrees when
  that lies within ``QUIET_TOLERATED`` either way (a clock weeks ahead of the hub's is no
  vouching either); the clock is trusted only when a strict majority of those devices
  agree, so one device token dating its data at the hub's time cannot outvote one honest
  device, and a refusal is the safe side (``--trust-clock``). A boat's catch taken days after
  it happened, a kiosk whose clock is hours off, does not come near four weeks.

What is not caught: a clock that jumped together with its devices' (a wrong NTP server for
the whole site) across a reboot of the hub's host, when the jump is under four weeks, or
when the devices' clocks moved with it; and after a four-week gap, devices that only pull
(a fish site's boats before the season's first catch) vouch for nothing, so the purge
waits for the first data pushed or for ``--trust-clock``.

With no gap and no disagreement, the purge runs as it always did: the usual case costs two
small queries and reading the boot id. A refusal erases and deletes nothing, is recorded
(``DecisionPurge.refused``, which ``/metrics`` shows as
``jaga_hub_purge_refused_clock_ahead_seconds``) and does not count as a run, so the next day's
run asks again; ``--trust-clock`` is the operator's word that the clock is right, and its run
is recorded like any (with ``JAGA_HUB_DECISION_KEEP_DAYS=0`` too, without a cutoff), so the
next day's run compares with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F, Max, Min, QuerySet
from django.utils import timezone

from sync.hub.models import AccessEvent, DecisionPurge, Device, FishObservation

QUIET_TOLERATED = timedelta(weeks=4)  # past the last run: a shutdown, or a clock ahead
DATABASE_TOLERATED = timedelta(days=1)  # PostgreSQL's clock behind the hub's
BOOT_TOLERATED = timedelta(days=1)  # the clock past the host's boot time since the last run
RECENT = timedelta(days=1)  # the devices' data asked about: what the hub took in this
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ClockEvidence:
    """What the hub records about its clock, as of ``now`` (the hub's time)."""

    now: datetime
    database_behind: timedelta  # the hub's clock minus PostgreSQL's, read together
    last_run: datetime | None  # the last purge not refused (or the devices' last sync)
    last_run_is_sync: bool = False  # ``last_run`` is the devices' last sync: no run recorded
    device_lags: tuple[timedelta, ...] = ()  # per device, receipt past its own time (least)
    # Since this host's last run on this boot (then ``last_run``): how much further the clock
    # moved than the host's boot time (None: no run on this boot, a boot time gone back, or
    # not known).
    boot_jump: timedelta | None = None


@dataclass(frozen=True)
class ClockVerdict:
    """``ahead_by`` None: the clock is trusted; otherwise how far ahead it looks. ``reason``
    says which evidence, in one line."""

    ahead_by: timedelta | None
    reason: str

    @property
    def trusted(self) -> bool:
        return self.ahead_by is None


@dataclass(frozen=True)
class HostBoot:
    """The host's boot id and its boot time (seconds since it booted, suspend included)."""

    boot_id: str
    seconds: float


def host_boot() -> HostBoot | None:
    """This host's boot, None where it cannot be read (no ``/proc``, not Linux)."""
    try:
        boot_id = BOOT_ID.read_text(encoding="ascii").strip()
        seconds = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError, ValueError):
        return None
    return HostBoot(boot_id, seconds) if boot_id else None


def boot_fields() -> dict[str, str | float | None]:
    """``DecisionPurge``'s ``boot_id`` and ``boot_seconds``, read now."""
    boot = host_boot()
    if boot is None:
        return {"boot_id": "", "boot_seconds": None}
    return {"boot_id": boot.boot_id, "boot_seconds": boot.seconds}


def check_clock(now: datetime) -> ClockVerdict:
    """The verdict on the hub's clock reading ``now`` (see the module)."""
    return judge(gather(now))


def gather(now: datetime) -> ClockEvidence:
    """The evidence, asking the devices' times only after a gap (the usual case is cheap)."""
    database_behind = _database_behind()
    boot = host_boot()
    own = None if boot is None else _last_run_on(boot)
    jump = None if boot is None or own is None else _boot_jump(now, own, boot)
    if own is not None and jump is not None:
        return ClockEvidence(now, database_behind, own[0], boot_jump=jump)
    run = _last_run()
    if run is None:
        newest = Device.objects.aggregate(newest=Max("last_seen_at"))["newest"]
        evidence = ClockEvidence(now, database_behind, newest, last_run_is_sync=True)
    else:
        evidence = ClockEvidence(now, database_behind, run)
    last = evidence.last_run
    if last is None or now - last <= QUIET_TOLERATED:
        return evidence
    return replace(evidence, device_lags=_device_lags(now))


def judge(evidence: ClockEvidence) -> ClockVerdict:
    """The verdict on the evidence (see the module), its reason in one line."""
    if evidence.database_behind > DATABASE_TOLERATED:
        return ClockVerdict(
            evidence.database_behind,
            f"PostgreSQL's clock reads {_span(evidence.database_behind)} behind the hub's",
        )
    last, now = evidence.last_run, evidence.now
    if last is None:
        return ClockVerdict(None, "the hub's clock agrees with its last run")
    what = "a device last synced" if evidence.last_run_is_sync else "the hub last ran a purge"
    if evidence.boot_jump is not None:
        what = "the hub last ran a purge on this host and boot"
    since = f"the hub's clock reads {now:%Y-%m-%d %H:%M} UTC, {_span(now - last)} after {what}"
    if evidence.boot_jump is not None:
        return _judge_boot(evidence.boot_jump, now - last, since)
    if now - last <= QUIET_TOLERATED:
        return ClockVerdict(None, "the hub's clock agrees with its last run")
    if not evidence.device_lags:
        return ClockVerdict(
            now - last, f"{since} and no device's data taken since vouches for the clock"
        )
    return _judge_devices(evidence.device_lags, now - last, since)


def _judge_boot(jump: timedelta, gap: timedelta, since: str) -> ClockVerdict:
    if jump > BOOT_TOLERATED:
        up = gap - jump
        return ClockVerdict(
            jump,
            f"{since}, but the host has been up only {_span(up)} since (its boot time): the"
            f" clock jumped ahead since, or it read {_span(jump)} behind then and was set right"
            " since (a purge at boot before NTP set the clock)",
        )
    if gap <= QUIET_TOLERATED:
        return ClockVerdict(None, "the hub's clock agrees with its last run")
    return ClockVerdict(None, f"{since}; the host's boot time passed as much")


def _judge_devices(lags: tuple[timedelta, ...], gap: timedelta, since: str) -> ClockVerdict:
    """Trusted only when a strict majority of the devices agree (see the module)."""
    agree = sum(1 for lag in lags if -QUIET_TOLERATED <= lag <= QUIET_TOLERATED)
    devices = f"{len(lags)} device{'s' * (len(lags) != 1)}"
    if 2 * agree > len(lags):
        return ClockVerdict(None, f"{since}; the clocks of {agree} of the {devices} agree")
    median = sorted(lags)[len(lags) // 2]  # the upper median: a refusal is the safe side
    dated = (
        f"their median dates it {_span(median)} before"
        if median > timedelta(0)
        else "their clocks read ahead of it"
    )
    return ClockVerdict(
        median if median > QUIET_TOLERATED else gap,
        f"{since}, and the clocks of only {agree} of the {devices} whose data it took in the"
        f" last day agree with it ({dated})",
    )


def record_refusal(verdict: ClockVerdict, keep_days: int, cutoff: datetime | None) -> None:
    """A purge that refused to run for the clock: recorded for ``/metrics``, not a run (the
    next run compares its clock with the last run that went ahead)."""
    started = timezone.now()
    DecisionPurge.objects.create(
        started_at=started, finished_at=started, keep_days=keep_days, cutoff=cutoff,
        access_events=0, applied_entries=0, audit_entries=0, complete=False,
        refused=verdict.reason, clock_ahead=verdict.ahead_by, **boot_fields(),
    )  # fmt: skip


def _database_behind() -> timedelta:
    before = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (database_now,) = cursor.fetchone()
    after = timezone.now()
    return before + (after - before) / 2 - database_now  # type: ignore[no-any-return]


def _last_run() -> datetime | None:
    """When the last run not refused started, on any host (by its clock then)."""
    started: datetime | None = (
        DecisionPurge.objects.filter(refused="")
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return started


def _last_run_on(boot: HostBoot) -> tuple[datetime, float] | None:
    """This host's last run not refused on this boot, the last by its boot time (which no
    clock setting moves): when it started, at which boot time. Another hub host's runs on
    the same database are not compared with (their boot times are not this host's); nor are
    refusals: a refusal recorded on a clock that jumped would vouch for it the next day."""
    runs = DecisionPurge.objects.filter(
        refused="", boot_id=boot.boot_id, boot_seconds__isnull=False
    )
    newest: tuple[datetime, float] | None = (
        runs.order_by("-boot_seconds").values_list("started_at", "boot_seconds").first()
    )
    return newest


def _boot_jump(now: datetime, run: tuple[datetime, float], boot: HostBoot) -> timedelta | None:
    """How much further the clock moved than the host's boot time since ``run`` (when it
    started, at which boot time) on this boot; None: the boot time went back."""
    started, boot_seconds = run
    if boot.seconds < boot_seconds:
        return None  # the boot time went back: a VM snapshot restored
    return (now - started) - timedelta(seconds=boot.seconds - boot_seconds)


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
